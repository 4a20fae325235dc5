#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds out what a path holds and reads it into a `Run`.
public enum RunLoader {
    /// What a path resolved to: the file to read and its format.
    public struct Resolved: Sendable, Equatable {
        public var file: String
        public var format: LogFormat
        /// The run directory that control.json belongs in, when the format accepts control.
        public var runDirectory: String?
    }

    static let expected = "expected a finetop run directory (events.jsonl), a Keras CSVLogger CSV, a Keras History JSON, a Hugging Face trainer_state.json, a Lightning metrics.csv or a TensorBoard logdir"

    /// Reads everything there is at `path` now.
    public static func load(path: String) throws(ReadError) -> Run {
        let source = try RunSource(path: path)
        try source.poll()
        return source.run
    }

    /// Detects the format from the content (file names only break ties inside a directory).
    public static func resolve(path: String) throws(ReadError) -> Resolved {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            return try resolveDirectory(path)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ReadError(path: path, problem: "is not a regular file; " + expected) }
        let format = try detect(file: path)
        if format == .tensorBoard { return Resolved(file: path, format: format, runDirectory: nil) }
        let dir = parentDirectory(of: path)
        return Resolved(file: path, format: format, runDirectory: format == .eventsFile ? dir : nil)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    private static func resolveDirectory(_ dir: String) throws(ReadError) -> Resolved {
        let trimmed = dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        let events = trimmed + "/" + RunFiles.events
        if FileSystem.exists(events) {
            return Resolved(file: events, format: .runDirectory, runDirectory: trimmed)
        }
        if TensorBoardLogdir.holdsEventFiles(trimmed) {
            return Resolved(file: trimmed, format: .tensorBoard, runDirectory: nil)
        }
        // Other tools' layouts: lightning_logs/version_N/metrics.csv, output/checkpoint-N/trainer_state.json,
        // logs/fit/<time>/train/events.out.tfevents.* (the newest run's logdir).
        var candidates: [(path: String, rank: Int, mtime: Int)] = []
        collect(trimmed, depth: 0, into: &candidates)
        let best = candidates.sorted { ($0.rank, -$0.mtime, $0.path) < ($1.rank, -$1.mtime, $1.path) }
        for c in best {
            if c.rank == 5 {
                var logdir = parentDirectory(of: c.path)
                if logdir.hasSuffix("/train") || logdir.hasSuffix("/validation") { logdir = parentDirectory(of: logdir) }
                return Resolved(file: logdir, format: .tensorBoard, runDirectory: nil)
            }
            if let format = try? detect(file: c.path) {
                return Resolved(file: c.path, format: format, runDirectory: nil)
            }
        }
        throw ReadError(path: dir, problem: "holds nothing finetop can read; " + expected)
    }

    private static func collect(_ dir: String, depth: Int, into out: inout [(path: String, rank: Int, mtime: Int)]) {
        guard depth <= 3, let d = opendir(dir) else { return }
        defer { closedir(d) }
        var subdirs: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            let full = dir + "/" + name
            var st = stat()
            guard stat(full, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                subdirs.append(full)
                continue
            }
            let rank: Int
            switch name {
            case RunFiles.events: rank = 0
            case "trainer_state.json": rank = 1
            case "metrics.csv": rank = 2
            default:
                if TensorBoardLogdir.isEventFileName(name) { rank = 5; break }
                if name.hasSuffix(".csv") || name.hasSuffix(".log") { rank = 3 } else if name.hasSuffix(".json") { rank = 4 } else { continue }
            }
            out.append((full, rank, Int(st.st_mtim.tv_sec)))
        }
        for s in subdirs.sorted().prefix(200) { collect(s, depth: depth + 1, into: &out) }
    }

    /// Looks at the first bytes of a file to tell its format.
    static func detect(file path: String) throws(ReadError) -> LogFormat {
        let head = try readHead(path, count: 64 << 10)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if head.isEmpty {   // an empty file is a run that has not started
            return TensorBoardLogdir.isEventFileName(name) ? .tensorBoard : .eventsFile
        }
        // TFRecord framing: the first 8 bytes (a length) are followed by their masked CRC32C.
        if head.withUnsafeBytes({ TFRecordFraming.headerLength($0, at: 0) != nil })
            || (TensorBoardLogdir.isEventFileName(name) && head.count < TFRecordFraming.headerBytes) {
            return .tensorBoard
        }
        var start = 0
        if head.count >= 3, head[0] == 0xEF, head[1] == 0xBB, head[2] == 0xBF { start = 3 }
        let body = head[start...]
        if looksBinary(body) {
            throw ReadError(path: path, problem: "is a binary file; " + expected)
        }
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            return .eventsFile
        }
        if first == UInt8(ascii: "{") {
            let firstLine = body.prefix { $0 != 0x0A }
            let parsed = Array(firstLine).withUnsafeBufferPointer { JSONParser.parse($0) }
            if case .success(let v) = parsed, v["type"]?.string != nil { return .eventsFile }
            if case .success(let v) = parsed, v["log_history"] != nil { return .huggingFaceTrainerState }
            // A pretty-printed JSON document: look for its telling keys.
            let text = String(decoding: body, as: UTF8.self)
            if text.contains("\"log_history\"") { return .huggingFaceTrainerState }
            if text.contains("\"type\"") && !text.contains("\"history\"") && path.hasSuffix(".jsonl") { return .eventsFile }
            return .kerasHistory
        }
        let firstLine = String(decoding: body.prefix { $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
        let header = CSVTable.records(firstLine).first?.map { $0.trimmingSpaces() } ?? []
        if header.contains("epoch") && header.count >= 2 {
            // Keras's CSVLogger writes one row per epoch and never a "step" column; Lightning always adds
            // "step", and "_step"/"_epoch" suffixes when a value is logged both ways.
            let lightningLike = header.contains("step") || header.contains { $0.hasSuffix("_step") || $0.hasSuffix("_epoch") }
            return lightningLike ? .lightningCSV : .kerasCSV
        }
        throw ReadError(path: path, problem: "is not a format finetop reads; " + expected)
    }

    /// NUL bytes or mostly invalid UTF-8 in the first kilobytes: not a log.
    static func looksBinary(_ bytes: ArraySlice<UInt8>) -> Bool {
        let sample = bytes.prefix(4096)
        if sample.contains(0) { return true }
        let decoded = String(decoding: sample, as: UTF8.self)
        let replacements = decoded.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
        let controls = sample.filter { $0 < 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }.count
        return replacements > 8 || controls > sample.count / 20 + 2
    }

    static func readHead(_ path: String, count: Int) throws(ReadError) -> ArraySlice<UInt8> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: count)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        if n < 0 { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        return buf[0..<n]
    }

    /// Imports a whole non-streaming log.
    static func importFile(_ path: String, format: LogFormat) throws(ReadError) -> Run {
        let bytes = try FileSystem.readFile(path)
        switch format {
        case .kerasCSV, .lightningCSV:
            let text = String(decoding: bytes, as: UTF8.self)
            guard let table = CSVTable(text: text) else { throw ReadError(path: path, problem: "is an empty CSV file") }
            return format == .kerasCSV ? try Importers.kerasCSV(table, path: path) : try Importers.lightningCSV(table, path: path)
        case .kerasHistory, .huggingFaceTrainerState:
            let value: JSONValue
            switch bytes.withUnsafeBufferPointer({ JSONParser.parse(UnsafeBufferPointer(rebasing: $0[skipBOM(bytes)...])) }) {
            case .success(let v): value = v
            case .failure(let e): throw ReadError(path: path, problem: "is not valid JSON (\(e))")
            }
            return format == .kerasHistory ? try Importers.kerasHistory(value, path: path) : try Importers.trainerState(value, path: path)
        case .runDirectory, .eventsFile, .tensorBoard:
            throw ReadError(path: path, problem: "is read incrementally, not imported")
        }
    }

    private static func skipBOM(_ b: [UInt8]) -> Int {
        b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF ? 3 : 0
    }
}

/// A run that can be followed while it grows: events.jsonl incrementally, other logs re-read
/// whole when they change on disk.
public final class RunSource {
    public let path: String
    public let resolved: RunLoader.Resolved
    public var format: LogFormat { resolved.format }
    /// Where control.json goes; nil for logs that accept no control.
    public var runDirectory: String? { resolved.runDirectory }
    public private(set) var run: Run

    private let events: EventsReader?
    private let tensorBoard: TensorBoardLogdir?
    private var lastStamp: (size: Int, mtime: Int, nsec: Int) = (-1, 0, 0)

    public init(path: String) throws(ReadError) {
        self.path = path
        resolved = try RunLoader.resolve(path: path)
        run = Run(format: resolved.format)
        switch resolved.format {
        case .runDirectory, .eventsFile:
            events = EventsReader(path: resolved.file, format: resolved.format)
            tensorBoard = nil
        case .tensorBoard:
            events = nil
            tensorBoard = TensorBoardLogdir(path: resolved.file)
        case .kerasCSV, .kerasHistory, .huggingFaceTrainerState, .lightningCSV:
            events = nil
            tensorBoard = nil
        }
    }

    /// Picks up what changed on disk. Returns true when the run changed.
    @discardableResult
    public func poll() throws(ReadError) -> Bool {
        if let events {
            let changed = try events.poll()
            if changed || run.format != events.run.format || lastStamp.size < 0 {
                run = events.run
                lastStamp.size = 0
                return true
            }
            return false
        }
        if let tensorBoard {
            guard try tensorBoard.poll() || lastStamp.size < 0 else { return false }
            run = tensorBoard.run
            lastStamp.size = 0
            return true
        }
        var st = stat()
        guard stat(resolved.file, &st) == 0 else { throw ReadError(path: resolved.file, problem: EventsReader.explain(errno)) }
        let stamp = (Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec))
        if stamp == lastStamp { return false }
        lastStamp = stamp
        run = try RunLoader.importFile(resolved.file, format: resolved.format)
        return true
    }

    /// The file whose changes `poll()` follows (for inotify or a stat loop); for a TensorBoard
    /// logdir, the directory (its event files are in `watchedFiles`).
    public var watchedFile: String { resolved.file }

    /// Every file `poll()` reads: the event files of a TensorBoard logdir, else `watchedFile`.
    public var watchedFiles: [String] { tensorBoard?.eventFiles ?? [resolved.file] }
}
