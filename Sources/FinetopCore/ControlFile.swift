#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The dashboard's desired state for the job, `control.json` in the run directory.
/// A whole-file replace, never deltas: applying it twice is harmless. Several dashboards may steer
/// one run: each sends only its own change (`ControlChange`) and `update` merges it into the file
/// under a lock, so no dashboard's toggle replaces another's.
public struct ControlFile: Sendable, Equatable {
    public static let version = 1
    /// The largest revision either side accepts: 2^53 − 1, the largest integer a JSON reader
    /// that parses numbers as doubles (Python's float, JavaScript) still holds exactly.
    public static let maxRevision = 9_007_199_254_740_991

    public var revision: Int
    /// Only the layers the user changed, by name.
    public var trainable: [String: Bool]
    public var stop: Bool
    /// The run a stop is meant for (the `run_id` of the job's run line); a helper whose run has
    /// another id ignores the stop, so a stop never outlives the job it was sent to.
    public var stopRunID: String?
    /// The whole optimizer's learning rate (every param group); nil leaves the job's own.
    public var learningRate: Double?
    /// The rate of the layers this revision newly unfreezes, as a factor of the head's rate (their
    /// own param group in PyTorch/Hugging Face; a Keras job rejects a factor ≠ 1). Any positive
    /// finite number is accepted, as the protocol says; a factor above 1 (unfrozen layers faster
    /// than the head) is unusual but not invalid, so the dashboard, not the file, warns about it.
    public var unfreezeLRFactor: Double?
    /// A plan the job carries out on its own (gradual unfreezing).
    public var plan: ControlPlan?
    /// Apply this revision's trainable change at the next batch boundary instead of the epoch's
    /// end, where the framework can (Keras ends the epoch early). Says something about this
    /// revision only: every write sets it anew.
    public var applyNow: Bool

    public init(revision: Int = 0, trainable: [String: Bool] = [:], stop: Bool = false, stopRunID: String? = nil,
                learningRate: Double? = nil, unfreezeLRFactor: Double? = nil, plan: ControlPlan? = nil,
                applyNow: Bool = false) {
        self.revision = revision
        self.trainable = trainable
        self.stop = stop
        self.stopRunID = stopRunID
        self.learningRate = learningRate
        self.unfreezeLRFactor = unfreezeLRFactor
        self.plan = plan
        self.applyNow = applyNow
    }

    /// A learning rate or factor a job can use: finite and above 0.
    public static func isPositiveRate(_ d: Double) -> Bool { d > 0 && d.isFinite }

    public static func path(in directory: String) -> String { directory + "/" + RunFiles.control }
    /// The lock every writer of control.json holds for its read-modify-write; never written to.
    public static func lockPath(in directory: String) -> String { directory + "/" + RunFiles.controlLock }

    /// The JSON text, keys in a stable order so two equal states write equal bytes.
    public var json: String {
        let t = trainable.keys.sorted().map { JSONText.string($0) + ": " + (trainable[$0] == true ? "true" : "false") }
        var text = "{\"version\": \(Self.version), \"revision\": \(revision), \"trainable\": {"
            + t.joined(separator: ", ") + "}, \"stop\": \(stop)"
        if let id = stopRunID { text += ", \"stop_run_id\": " + JSONText.string(id) }
        // The wave-2 fields come last and only when set, so older files keep their exact bytes.
        if let rate = learningRate { text += ", \"learning_rate\": " + JSONText.number(rate) }
        if let factor = unfreezeLRFactor { text += ", \"unfreeze_lr_factor\": " + JSONText.number(factor) }
        if let plan { text += ", \"plan\": " + plan.json }
        if applyNow { text += ", \"apply_now\": true" }
        return text + "}\n"
    }

    /// What is wrong with the wave-2 fields, or nil.
    var settingsProblem: String? {
        if let rate = learningRate, !Self.isPositiveRate(rate) { return "\"learning_rate\" must be a positive number" }
        if let factor = unfreezeLRFactor, !Self.isPositiveRate(factor) {
            return "\"unfreeze_lr_factor\" must be a positive number"
        }
        return plan?.problem
    }

    /// Writes atomically (unpredictable temporary file, fsync, rename) so the job never reads half a file.
    /// Only for a file nobody else writes; dashboards use `update`.
    public func write(to directory: String) throws(ReadError) {
        guard (0...Self.maxRevision).contains(revision) else {
            throw ReadError(path: Self.path(in: directory), problem: "revision \(revision) is outside 0…\(Self.maxRevision)")
        }
        if let problem = settingsProblem { throw ReadError(path: Self.path(in: directory), problem: problem) }
        try FileSystem.writeAtomically(Array(json.utf8), to: Self.path(in: directory))
    }

    /// Reads and validates the control file of a run directory; nil when there is none yet.
    /// Never follows a link and never blocks: a FIFO, device, directory or link there is an error.
    public static func read(from directory: String) throws(ReadError) -> ControlFile? {
        let path = Self.path(in: directory)
        guard let bytes = try FileSystem.readRegularFile(path, limit: 16 << 20) else { return nil }
        return try parse(bytes, path: path)
    }

    public static func parse(_ bytes: [UInt8], path: String = RunFiles.control) throws(ReadError) -> ControlFile {
        let result = bytes.withUnsafeBufferPointer { JSONParser.parse($0) }
        let value: JSONValue
        switch result {
        case .success(let v): value = v
        case .failure(let e): throw ReadError(path: path, problem: "is not valid JSON (\(e))")
        }
        guard case .object = value else { throw ReadError(path: path, problem: "must be a JSON object") }
        guard let version = value["version"]?.int else { throw ReadError(path: path, problem: "has no whole \"version\"") }
        guard version == Self.version else {
            throw ReadError(path: path, problem: "has version \(version); this finetop understands version \(Self.version)")
        }
        guard let revision = value["revision"]?.int, (0...Self.maxRevision).contains(revision) else {
            throw ReadError(path: path, problem: "has no whole \"revision\" in 0…\(Self.maxRevision) (2^53 − 1)")
        }
        var trainable: [String: Bool] = [:]
        if let t = value["trainable"], t != .null {
            guard let pairs = t.objectPairs else { throw ReadError(path: path, problem: "\"trainable\" must be an object") }
            for (name, flag) in pairs {
                guard let b = flag.bool else {
                    throw ReadError(path: path, problem: "\"trainable\".\(name) must be true or false")
                }
                trainable[name] = b
            }
        }
        var stop = false
        if let s = value["stop"], s != .null {
            guard let b = s.bool else { throw ReadError(path: path, problem: "\"stop\" must be true or false") }
            stop = b
        }
        var stopRunID: String?
        if let s = value["stop_run_id"], s != .null {
            guard let id = s.string else { throw ReadError(path: path, problem: "\"stop_run_id\" must be a string") }
            stopRunID = id
        }
        var control = ControlFile(revision: revision, trainable: trainable, stop: stop, stopRunID: stopRunID)
        for (key, slot) in [("learning_rate", \ControlFile.learningRate), ("unfreeze_lr_factor", \.unfreezeLRFactor)] {
            guard let v = value[key], v != .null else { continue }
            guard let d = v.double, isPositiveRate(d) else {
                throw ReadError(path: path, problem: "\"\(key)\" must be a positive number")
            }
            control[keyPath: slot] = d
        }
        if let p = value["plan"], p != .null { control.plan = try ControlPlan.parse(p, path: path) }
        if let a = value["apply_now"], a != .null {
            guard let b = a.bool else { throw ReadError(path: path, problem: "\"apply_now\" must be true or false") }
            control.applyNow = b
        }
        return control
    }

    /// Merges one dashboard's change into the run's control.json: under an exclusive lock on
    /// `control.json.lock`, reads the file, sets the changed flags (keeping every other flag, also
    /// those another dashboard wrote), takes a revision above both the file's and
    /// `change.atLeast - 1`, and replaces the file atomically. Returns what was written.
    /// A control.json that cannot be read (malformed, a FIFO, a link) is replaced, never followed.
    public static func update(in directory: String, _ change: ControlChange,
                              lockTimeout: Double = 5) throws(ReadError) -> ControlFile {
        let lock = try FileSystem.ExclusiveLock(path: lockPath(in: directory), timeout: lockTimeout)
        defer { lock.release() }
        var current: ControlFile?
        var unreadableRevision = -1
        do {
            current = try read(from: directory)
        } catch {
            // A malformed file may still carry the revision a job has seen (and rejected): stay above it.
            if let bytes = try? FileSystem.readRegularFile(path(in: directory), limit: 16 << 20),
               let value = try? JSONParser.parse(String(decoding: bytes, as: UTF8.self)),
               let r = value["revision"]?.int, (0...maxRevision).contains(r) {
                unreadableRevision = r
            }
        }
        // An unreadable file's flags are unknown here: start from what this dashboard last saw, so
        // replacing a broken file loses no toggle it knew of.
        var next = current ?? ControlFile(trainable: change.known)
        for (name, flag) in change.trainable { next.trainable[name] = flag }
        if let actual = change.actual, let current { converge(&next, on: actual, current: current, change: change) }
        if let rate = change.learningRate { next.learningRate = rate }
        if let factor = change.unfreezeLRFactor { next.unfreezeLRFactor = factor }
        if let plan = change.plan { next.plan = plan }
        next.applyNow = change.applyNow
        if let problem = next.settingsProblem { throw ReadError(path: path(in: directory), problem: problem) }
        if let stop = change.stop {
            next.stop = stop
            next.stopRunID = stop ? change.stopRunID : nil
        }
        let base = max(current?.revision ?? 0, unreadableRevision, change.atLeast - 1)
        guard base < maxRevision else {
            throw ReadError(path: path(in: directory),
                            problem: "revision \(base) is the last one the protocol allows (2^53 − 1); move control.json away to start again at 0")
        }
        next.revision = base + 1
        try FileSystem.writeAtomically(Array(next.json.utf8), to: path(in: directory))
        return next
    }
}

extension ControlFile {
    /// The desired state follows what the job really has: an entry for a name the job's model no
    /// longer has (another model restarted in this directory) is dropped, and once the job has
    /// answered every revision in the file, an entry it applied otherwise (a plan step unfroze the
    /// layer, the revision was rejected) takes the model line's flag. Otherwise a stale entry would
    /// undo a later change, or get every later revision rejected. Entries this write sets are kept.
    static func converge(_ next: inout ControlFile, on actual: [String: Bool], current: ControlFile, change: ControlChange) {
        let settled = current.revision <= change.acknowledged
        for name in Array(next.trainable.keys) where change.trainable[name] == nil {
            guard let flag = actual[name] else {
                next.trainable[name] = nil
                continue
            }
            if settled && next.trainable[name] != flag { next.trainable[name] = flag }
        }
    }
}

/// What one dashboard asks to change in control.json: only the flags the user touched, so merging
/// it into the file keeps everyone else's.
public struct ControlChange: Sendable, Equatable {
    public var trainable: [String: Bool]
    /// nil leaves the stop as it is; false clears a stop (after its job ended).
    public var stop: Bool?
    /// The job the stop is for (its run line's `run_id`), when known.
    public var stopRunID: String?
    /// The lowest revision this write may take (above what this dashboard last wrote and the job acknowledged).
    public var atLeast: Int
    /// The flags this dashboard knows control.json holds: the base when the file on disk cannot be
    /// read (malformed, a FIFO, a link) and is replaced.
    public var known: [String: Bool]
    /// nil leaves the file's learning rate; `.some(nil)` removes it, `.some(r)` sets it.
    public var learningRate: Double??
    /// nil leaves the file's factor; `.some(nil)` removes it, `.some(f)` sets it.
    public var unfreezeLRFactor: Double??
    /// nil leaves the file's plan; `.some(nil)` removes it; a plan with `cancel` stops it.
    public var plan: ControlPlan??
    /// This revision asks for its trainable change at the next batch boundary (`apply_now`);
    /// not carried over from the file, so only the write that asks for it has it.
    public var applyNow: Bool
    /// The flags of the job's latest model line, by row name (nil: no model line yet), and the
    /// highest revision the job has answered: the file's other entries converge on them.
    public var actual: [String: Bool]?
    public var acknowledged: Int

    public init(trainable: [String: Bool] = [:], stop: Bool? = nil, stopRunID: String? = nil, atLeast: Int = 1,
                known: [String: Bool] = [:],
                learningRate: Double?? = nil, unfreezeLRFactor: Double?? = nil, plan: ControlPlan?? = nil,
                applyNow: Bool = false, actual: [String: Bool]? = nil, acknowledged: Int = -1) {
        self.actual = actual
        self.acknowledged = acknowledged
        self.trainable = trainable
        self.stop = stop
        self.stopRunID = stopRunID
        self.atLeast = atLeast
        self.known = known
        self.learningRate = learningRate
        self.unfreezeLRFactor = unfreezeLRFactor
        self.plan = plan
        self.applyNow = applyNow
    }
}
