import FinetopCore

/// Reads `control.json` at the training side's safe points, the way the Python helpers do:
/// each new revision is handed over once, stale revisions (≤ the last one seen) are ignored
/// silently, and a malformed file is reported once until its content changes.
struct ControlFollower {
    /// What a look at the control file found.
    enum Reading: Equatable {
        case nothingNew
        /// The file exists but is not a valid control file; `revision` is its own when it has one, else -1.
        case malformed(revision: Int, message: String)
        case newRevision(ControlFile)
    }

    let directory: String
    private(set) var lastRevision: Int?
    private var lastBytes: [UInt8]?
    private var lastProblem: String?

    init(directory: String) { self.directory = directory }

    mutating func read() -> Reading {
        let path = ControlFile.path(in: directory)
        let bytes: [UInt8]
        do {
            // Regular files only, never through a link, never blocking on a FIFO.
            guard let b = try FileSystem.readRegularFile(path, limit: 16 << 20) else { return .nothingNew }
            bytes = b
        } catch {
            return reportUnreadableOnce(error.description)
        }
        if bytes == lastBytes { return .nothingNew }
        lastBytes = bytes
        let control: ControlFile
        do {
            control = try ControlFile.parse(bytes, path: path)
        } catch {
            lastProblem = nil
            return .malformed(revision: Self.revisionHint(bytes), message: error.description)
        }
        lastProblem = nil
        if let last = lastRevision, control.revision <= last { return .nothingNew }
        lastRevision = control.revision
        return .newRevision(control)
    }

    /// An unreadable file is reported when the problem first shows, not at every safe point.
    private mutating func reportUnreadableOnce(_ problem: String) -> Reading {
        guard problem != lastProblem else { return .nothingNew }
        lastProblem = problem
        lastBytes = nil
        return .malformed(revision: -1, message: problem)
    }

    /// The revision a malformed file claims, so the dashboard can match the rejection to its write.
    static func revisionHint(_ bytes: [UInt8]) -> Int {
        guard let value = try? JSONParser.parse(String(decoding: bytes, as: UTF8.self)) else { return -1 }
        return value["revision"]?.int ?? -1
    }
}
