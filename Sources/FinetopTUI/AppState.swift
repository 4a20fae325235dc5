import FinetopCore
import FinetopDiagnosis

/// A key the user pressed, already decoded by the backend.
public enum Key: Sendable, Equatable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, backspace, tab
    /// A control key, by its letter (`.ctrl("l")` is Ctrl-L).
    case ctrl(Character)
}

/// Everything that can happen to the dashboard. The loop turns terminal input, file changes,
/// the clock and signals into these; `reduce` is the only place they change the state.
public enum Event: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    /// A new snapshot of the run; `lastWrite` is when its file last changed (unix seconds).
    case runUpdated(Run, lastWrite: Double?)
    case tick(now: Double)
    case quit
    /// The loop merged `change` into control.json; `file` is what is on disk now (with the other
    /// dashboards' flags, and a higher revision than asked if one of them wrote meanwhile).
    case controlWritten(ControlFile, ControlChange)
    /// `change` could not be written; the reason says why (disk full, read-only, a link in the way).
    case controlFailed(String, ControlChange)
    /// control.json changed on disk (another dashboard wrote it) or was re-read; nil when it is gone.
    case controlRead(ControlFile?)
    /// control.json changed on disk but cannot be read (malformed, not a regular file).
    case controlUnreadable(String)
    /// Whether processes other than the job's leader still run in its process group after the
    /// leader ended (the loop checks; the reducer decides what to send them).
    case jobGroupChanged(alive: Bool)
    /// Ctrl-C (SIGINT): interrupts a job started by `finetop run`, otherwise quits.
    case interrupt
    /// Another signal that asks us to stop (SIGTERM, SIGHUP): quit, restoring the terminal.
    case signal(Int32)
    /// The run could not be read (shown in the status line; the loop keeps watching).
    case readFailed(String)
    /// The job the dashboard started changed state (it ended).
    case jobChanged(JobState)
    /// The tail of the run's output.log, read by the loop for the output overlay.
    case outputRead([String])
    /// Whether the run can be steered changed (a job started writing events.jsonl); nil: it can.
    case readOnlyChanged(String?)
}

/// Work the reducer asks the loop to do; the reducer itself never touches files.
public enum Effect: Sendable, Equatable {
    /// Merge this change into control.json (under the lock, with a fresh revision).
    case writeControl(ControlChange)
    case quit
    /// SIGINT to the job's process group (what Ctrl-C does to a job run in a shell).
    case interruptJob
    /// Read the tail of output.log and send it back as `.outputRead`.
    case readOutput
    /// Forget what the terminal shows and draw everything again (Ctrl-L).
    case repaint
    /// The next step after SIGINT for a job that does not end: its whole process group.
    case signalJobGroup(JobSignal)
}

/// A signal sent to the job's process group: SIGINT when `signal` is nil.
public struct SentSignal: Sendable, Equatable {
    public var signal: JobSignal?
    public var at: Double
}

/// The signals the dashboard escalates to when a job does not end after SIGINT.
public enum JobSignal: Sendable, Equatable {
    case terminate
    case kill

    public var name: String {
        switch self {
        case .terminate: return "SIGTERM"
        case .kill: return "SIGKILL"
        }
    }
}

/// The process state of a job the dashboard started itself.
public enum JobState: Sendable, Equatable {
    case running
    case exited(Int32)
    case signalled(Int32)
}

/// A job the dashboard started (`finetop run`, the demo's trainer), shown in the header.
public struct JobView: Sendable, Equatable {
    public var pid: Int32
    public var state: JobState
    /// `finetop run`: Ctrl-C goes to the job and the dashboard stays; the demo: Ctrl-C quits.
    public var ctrlCInterruptsJob: Bool
    /// When the user confirmed a stop; if the job is still running `stopGrace` seconds later, it
    /// gets SIGINT.
    public var stopAskedAt: Double?
    /// Whether SIGINT has been sent already.
    public var interrupted = false
    public static let stopGrace = 10.0
    /// The last signal sent to the job's process group and when: SIGINT (nil) is followed by
    /// SIGTERM after `termDelay` seconds, SIGTERM by SIGKILL after `killDelay`, while anything of
    /// the job still runs.
    public var lastSignal: SentSignal?
    /// Processes of the job's group still run although its leader ended (children left behind).
    public var groupAlive = false
    public static let termDelay = 10.0
    public static let killDelay = 5.0

    public init(pid: Int32, state: JobState = .running, ctrlCInterruptsJob: Bool) {
        self.pid = pid
        self.state = state
        self.ctrlCInterruptsJob = ctrlCInterruptsJob
    }

    public var isRunning: Bool {
        switch state {
        case .running: return true
        case .exited, .signalled: return false
        }
    }
}

/// What the user asked for so far, as sent to the job in control.json.
public struct ControlState: Sendable, Equatable {
    /// The revision last written (or found on disk at start).
    public var revision = 0
    /// Every trainable flag the user set, by layer name: the desired state, not deltas.
    public var desired: [String: Bool] = [:]
    /// The revision in which each layer's flag was last set; pending until an ack reaches it.
    public var changedAt: [String: Int] = [:]
    public var stop = false
    public var stopAt: Int?
    /// The run the stop is addressed to.
    public var stopRunID: String?
    /// Toggles that could not be written, by layer: the flag the user wanted and why it failed.
    /// Cleared when a later write of that layer succeeds.
    public var failed: [String: FailedToggle] = [:]

    public init() {}

    /// Picks up a control.json found on disk, so a toggle made before a restart is never lost.
    public init(existing file: ControlFile?) {
        guard let file else { return }
        revision = file.revision
        desired = file.trainable
        for name in file.trainable.keys { changedAt[name] = file.revision }
        stop = file.stop
        stopAt = file.stop ? file.revision : nil
        stopRunID = file.stopRunID
    }

    public var file: ControlFile { ControlFile(revision: revision, trainable: desired, stop: stop, stopRunID: stopRunID) }

    /// Follows what is on disk (another dashboard's write, or the truth after a failed one):
    /// a flag whose value changes counts as set at the file's revision. Returns the layers whose
    /// flag changed.
    @discardableResult
    mutating func adopt(_ file: ControlFile?) -> [String] {
        let f = file ?? ControlFile(revision: revision)
        var changed: [String] = []
        for (name, flag) in f.trainable where desired[name] != flag || changedAt[name] == nil {
            changedAt[name] = f.revision
            if desired[name] != flag { changed.append(name) }
        }
        for name in desired.keys where f.trainable[name] == nil {
            changedAt[name] = nil
            changed.append(name)
        }
        desired = f.trainable
        if f.stop != stop || (f.stop && stopAt == nil) { stopAt = f.stop ? f.revision : nil }
        stop = f.stop
        stopRunID = f.stopRunID
        revision = max(revision, f.revision)
        return changed.sorted()
    }
}

/// A toggle the dashboard could not write to control.json.
public struct FailedToggle: Sendable, Equatable {
    public var want: Bool
    public var reason: String
}

/// A question waiting for y/n.
public enum Confirm: Sendable, Equatable {
    case stopJob
}

/// A one-line note in the key bar until the next key.
public struct StatusMessage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case info, warning, error }
    public var text: String
    public var kind: Kind
    /// The clock when it first showed; it clears itself `lifetime` seconds later.
    public var shownAt: Double?
    public static let lifetime = 10.0
    public init(_ text: String, _ kind: Kind = .info) {
        self.text = text
        self.kind = kind
    }
}

/// How the dashboard was started: the environment, passed in so colors and glyphs are testable.
public struct DashboardOptions: Sendable, Equatable {
    public var color: Bool
    /// Draw plain ASCII (the locale is not UTF-8).
    public var ascii: Bool
    public init(color: Bool = true, ascii: Bool = false) {
        self.color = color
        self.ascii = ascii
    }

    /// Colors unless `--no-color` or NO_COLOR (any non-empty value); ASCII unless the locale says UTF-8.
    public static func detect(environment env: [String: String], noColorFlag: Bool) -> DashboardOptions {
        let noColor = noColorFlag || !(env["NO_COLOR"] ?? "").isEmpty
        let locale = env["LC_ALL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? env["LC_CTYPE"].flatMap { $0.isEmpty ? nil : $0 } ?? env["LANG"] ?? ""
        let l = locale.lowercased()
        let utf8 = l.contains("utf-8") || l.contains("utf8")
        return DashboardOptions(color: !noColor, ascii: !utf8)
    }
}

/// Everything the screen shows, as plain values. `render` reads it; `reduce` makes the next one.
public struct AppState: Sendable {
    public var run: Run {
        didSet {
            lastAckedRevision = Self.highestAck(run)
            if LayerWidths.key(run) != layerWidths.key { layerWidths = LayerWidths(run) }
        }
    }
    public var report: DiagnosisReport
    /// A name the caller chose; when nil the header shows the run's id, else the path's last part.
    public var runName: String?
    /// Where the run was read from, for the header when the run has no id.
    public var pathName: String
    /// nil when control.json can be written; otherwise why not (shown when the user toggles).
    public var readOnlyReason: String?
    public var options: DashboardOptions
    public var width: Int
    public var height: Int
    public var now: Double
    public var lastWrite: Double?
    /// The run changed after the dashboard opened (a read-only log still being written).
    public var logGrew = false

    public var cursor = 0
    public var scroll = 0
    public var searchQuery = ""
    public var searching = false
    public var metricIndex = 0
    public var logScale = false
    public var showHelp = false
    /// The first help row shown when the help is taller than the screen (`HelpOverlay.scroll`).
    public var helpScroll = 0
    /// The output.log overlay (`o`) and the lines last read for it.
    public var showOutput = false
    public var outputLines: [String] = []
    /// The job this dashboard started; nil when it only watches (`finetop watch`).
    public var job: JobView?
    /// One line telling where to go next (the demo: how to watch a real job); in the header
    /// when it fits, else in the help.
    public var hint: String?
    public var confirm: Confirm?
    public var message: StatusMessage?
    public var control: ControlState
    /// The learning rate, plan and value being typed (Tuning.swift).
    public var tuning: TuningState
    public var shouldQuit = false
    /// The signal that made us quit, if one did (the caller exits with 128 + it).
    public var quitSignal: Int32?
    /// Acks already reported in the message line.
    var acksSeen: Int
    /// Downsampled per-batch columns, reused between frames (a cache, not state the reducer reads).
    public let chartCache = ChartCache()
    /// Blocks of the layer table shown folded into one row, by block name (`z`, `Z`).
    public var folded: Set<String> = []
    /// The layer table ordered by latest update ratio instead of model order (`O`).
    public var sortByRatio = false
    /// The layer table's rows with folds and order applied, reused between frames.
    public let rowsCache = LayerRowsCache()

    public init(run: Run, runName: String?, pathName: String = "run", readOnlyReason: String?, control: ControlFile?,
                options: DashboardOptions = DashboardOptions(), width: Int = 80, height: Int = 24,
                now: Double = 0, lastWrite: Double? = nil) {
        self.run = run
        self.report = Diagnoser.diagnose(run)
        self.runName = runName
        self.pathName = pathName
        self.readOnlyReason = readOnlyReason
        self.options = options
        self.width = width
        self.height = height
        self.now = now
        self.lastWrite = lastWrite
        self.control = ControlState(existing: control)
        self.tuning = TuningState(existing: control)
        self.acksSeen = run.acks.count
        self.lastAckedRevision = Self.highestAck(run)
        self.layerWidths = LayerWidths(run)
    }

    /// The widest layer name and class, measured once per model line (not per frame: a model
    /// may have 100,000 layers); the layer pane grows to them on a wide screen.
    public private(set) var layerWidths: LayerWidths

    static func highestAck(_ run: Run) -> Int { run.acks.map(\.revision).max() ?? -1 }

    public var layers: [Layer] { run.model?.layers ?? [] }

    /// The header's name: the caller's, else the run id (it may arrive after start), else the path.
    public var title: String {
        if let runName { return runName }
        if let id = run.info?.runID, !id.isEmpty { return id }
        return pathName
    }

    /// Each layer's flag in the job's latest model line (nil before the first one): what
    /// control.json's entries converge on once the job has answered them.
    public var modelFlags: [String: Bool]? {
        run.model.map { Dictionary($0.layers.map { ($0.name, $0.trainable) }, uniquingKeysWith: { first, _ in first }) }
    }

    /// The highest control revision the job has answered (applied or rejected); follows `run`, so
    /// per-layer checks do not rescan the acks.
    public private(set) var lastAckedRevision: Int

    /// The flag the user asked for and the job has not confirmed yet; nil when nothing is pending.
    public func pendingFlag(_ layer: Layer) -> Bool? {
        guard let want = control.desired[layer.name], let at = control.changedAt[layer.name],
              at > lastAckedRevision, want != layer.trainable else { return nil }
        return want
    }

    /// The flag to show: the pending one if any, else what the job reported.
    public func shownFlag(_ layer: Layer) -> Bool { pendingFlag(layer) ?? layer.trainable }

    /// A toggle of this layer that could not be written and is not in effect anyway.
    public func failedToggle(_ layer: Layer) -> FailedToggle? {
        guard let f = control.failed[layer.name], f.want != layer.trainable, pendingFlag(layer) == nil else { return nil }
        return f
    }

    /// The job has ended (an `end` line, or the process the dashboard started is gone): changes
    /// written now wait in control.json for the next job started in this directory.
    public var jobHasEnded: Bool {
        if run.end != nil { return true }
        if let job, !job.isRunning { return true }
        return false
    }

    public var pendingCount: Int { layers.reduce(0) { $0 + (pendingFlag($1) == nil ? 0 : 1) } }

    public var stopPending: Bool {
        guard control.stop, let at = control.stopAt else { return false }
        return at > lastAckedRevision && run.end == nil
    }

    /// Metric names to cycle through with `m` (loss first).
    public var metrics: [String] {
        let names = run.metricNames
        if names.isEmpty { return run.batches.count > 0 ? ["loss"] : ["loss"] }
        return names
    }

    public var metric: String {
        let m = metrics
        return m[((metricIndex % m.count) + m.count) % m.count]
    }

    /// Trainable params once every pending flag is applied, by the one rule in Core
    /// (`LayerTable.trainableAfter`).
    public var trainableAfterPending: Int {
        guard let model = run.model else { return 0 }
        var flags: [String: Bool] = [:]
        for layer in model.layers { if let want = pendingFlag(layer) { flags[layer.name] = want } }
        return model.trainableAfter(flags)
    }

    /// Whether new data arrived recently; nil for imported logs (no live job).
    public var liveness: Liveness {
        if let end = run.end { return .finished(end.reason) }
        // A log is live while it grows (a Lightning metrics.csv being written); a finished one is a log.
        if readOnlyReason != nil && job == nil && !logGrew { return .log }
        if let job, !job.isRunning { return .ended }
        guard let t = lastWrite else { return .live }
        let idle = now - t
        return idle > 60 ? .stale(seconds: idle) : .live
    }

    /// Epoch index for `epoch k/N`: the epoch running now (1-based) or the last one completed.
    public var epochCounter: (current: Int, total: Int?) {
        let done = (run.epochs.last?.epoch).map { $0 + 1 } ?? 0
        var current = done
        if let b = run.batches.epochs.last, Int(b) + 1 > done, run.end == nil { current = Int(b) + 1 }
        return (current, run.info?.hparams.epochs)
    }
}

/// The widest name (with its indent) and class of a model's layers.
public struct LayerWidths: Sendable, Equatable {
    public var name = 0
    public var className = 0
    var key = Key()

    struct Key: Sendable, Equatable {
        var revision = -1
        var count = 0
        var first = "", last = ""
    }

    static func key(_ run: Run) -> Key {
        guard let m = run.model else { return Key() }
        return Key(revision: m.revision, count: m.layers.count, first: m.layers.first?.name ?? "", last: m.layers.last?.name ?? "")
    }

    init(name: Int = 0, className: Int = 0) {
        self.name = name
        self.className = className
    }

    init(_ run: Run) {
        key = Self.key(run)
        for l in run.model?.layers ?? [] {
            name = max(name, l.depth * 2 + TextWidth.of(LayerTableView.shownName(l)))
            className = max(className, TextWidth.of(l.className))
        }
    }
}

/// The header's view of whether the job is still writing.
public enum Liveness: Sendable, Equatable {
    case live
    case finished(String)
    case stale(seconds: Double)
    case log
    /// The job's process is gone without writing an `end` line (a crash, a kill).
    case ended
}
