/// The dashboard's desired state for the job, `control.json` in the run directory.
/// A whole-file replace, never deltas: applying it twice is harmless.
public struct ControlFile: Sendable, Equatable {
    public static let version = 1

    public var revision: Int
    /// Only the layers the user changed, by name.
    public var trainable: [String: Bool]
    public var stop: Bool

    public init(revision: Int = 0, trainable: [String: Bool] = [:], stop: Bool = false) {
        self.revision = revision
        self.trainable = trainable
        self.stop = stop
    }

    public static func path(in directory: String) -> String { directory + "/" + RunFiles.control }

    /// The JSON text, keys in a stable order so two equal states write equal bytes.
    public var json: String {
        let t = trainable.keys.sorted().map { JSONText.string($0) + ": " + (trainable[$0] == true ? "true" : "false") }
        return "{\"version\": \(Self.version), \"revision\": \(revision), \"trainable\": {"
            + t.joined(separator: ", ") + "}, \"stop\": \(stop)}\n"
    }

    /// Writes atomically (temporary file, fsync, rename) so the job never reads half a file.
    public func write(to directory: String) throws(ReadError) {
        try FileSystem.writeAtomically(Array(json.utf8), to: Self.path(in: directory))
    }

    /// Reads and validates the control file of a run directory; nil when there is none yet.
    public static func read(from directory: String) throws(ReadError) -> ControlFile? {
        let path = Self.path(in: directory)
        guard FileSystem.exists(path) else { return nil }
        let bytes = try FileSystem.readFile(path, limit: 16 << 20)
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
        guard let revision = value["revision"]?.int, revision >= 0 else {
            throw ReadError(path: path, problem: "has no whole, non-negative \"revision\"")
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
        return ControlFile(revision: revision, trainable: trainable, stop: stop)
    }
}
