#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds out what a path holds and reads it into a `Run`. Knows no format: each is one type in
/// `LogFormats.all` that recognizes itself from the file's first bytes and reads it.
public enum RunLoader {
    /// What a path resolved to: the file to read and its format.
    public struct Resolved: Sendable, Equatable {
        public var file: String
        public var format: LogFormat
        /// The run directory that control.json belongs in, when the format accepts control.
        public var runDirectory: String?
        /// The format's reader.
        let reader: any LogReading.Type
        /// False for files inside a directory (a run directory may be shared: never follow a
        /// link planted there).
        var followLinks = true

        public static func == (a: Resolved, b: Resolved) -> Bool {
            a.file == b.file && a.format == b.format && a.runDirectory == b.runDirectory
        }
    }

    static var expected: String { LogFormats.expected }

    /// Reads everything there is at `path` now.
    public static func load(path: String, options: ReadOptions = ReadOptions()) throws(ReadError) -> Run {
        let source = try RunSource(path: path, options: options)
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
        if let kind = LogFile.notRegular(st.st_mode) {
            throw ReadError(path: path, problem: "is \(kind), not a regular file; " + expected)
        }
        let reader = try detect(file: path)
        let dir = parentDirectory(of: path)
        return Resolved(file: path, format: reader.format, runDirectory: reader.format.acceptsControl ? dir : nil, reader: reader)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    /// What `lstat` says is at `path` (a link is a link, not what it points to).
    static func linkMode(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    private static func resolveDirectory(_ dir: String) throws(ReadError) -> Resolved {
        let trimmed = dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        let events = trimmed + "/" + RunFiles.events
        if linkMode(events) != nil {
            return Resolved(file: events, format: .runDirectory, runDirectory: trimmed, reader: EventsLog.self, followLinks: false)
        }
        // A job started by `finetop run` that does not use a helper: its printed output.
        let output = trimmed + "/" + RunFiles.output
        if linkMode(output) != nil, (try? detect(file: output, followLinks: false)) != nil {
            return Resolved(file: output, format: PrintedLog.format, runDirectory: nil, reader: PrintedLog.self, followLinks: false)
        }
        if TensorBoardLogdir.holdsEventFiles(trimmed) {
            return Resolved(file: trimmed, format: TensorBoardLog.format, runDirectory: nil, reader: TensorBoardLog.self)
        }
        // Other tools' layouts: lightning_logs/version_N/metrics.csv, output/checkpoint-N/trainer_state.json,
        // runs/detect/train/results.csv, logs/fit/<time>/train/events.out.tfevents.* (the newest run's logdir).
        var candidates: [(path: String, rank: Int, mtime: Int)] = []
        collect(trimmed, depth: 0, into: &candidates)
        let best = candidates.sorted { ($0.rank, -$0.mtime, $0.path) < ($1.rank, -$1.mtime, $1.path) }
        for c in best {
            if c.rank == 5 {
                var logdir = parentDirectory(of: c.path)
                if logdir.hasSuffix("/train") || logdir.hasSuffix("/validation") { logdir = parentDirectory(of: logdir) }
                return Resolved(file: logdir, format: TensorBoardLog.format, runDirectory: nil, reader: TensorBoardLog.self)
            }
            if let reader = try? detect(file: c.path, followLinks: false) {
                let runDirectory = reader.format.acceptsControl ? parentDirectory(of: c.path) : nil
                return Resolved(file: c.path, format: reader.format, runDirectory: runDirectory, reader: reader, followLinks: false)
            }
        }
        throw ReadError(path: dir, problem: "holds nothing finetop can read; " + expected)
    }

    /// Log files under `dir` (links and special files skipped), ranked: events.jsonl, the names
    /// tools give their logs, other text logs, JSON, TensorBoard event files.
    private static func collect(_ dir: String, depth: Int, into out: inout [(path: String, rank: Int, mtime: Int)]) {
        guard depth <= 3, let d = opendir(dir) else { return }
        defer { closedir(d) }
        var subdirs: [String] = []
        let usual = Set(LogFormats.all.flatMap { $0.usualNames })
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            let full = dir + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                subdirs.append(full)
                continue
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let rank: Int
            if name == RunFiles.events { rank = 0 }
            else if usual.contains(name) { rank = 1 }
            else if TensorBoardLogdir.isEventFileName(name) { rank = 5 }
            else if [".csv", ".log", ".txt", ".ipynb", ".out"].contains(where: { name.hasSuffix($0) }) { rank = 3 }
            else if name.hasSuffix(".json") { rank = 4 }
            else { continue }
            out.append((full, rank, Int(st.st_mtim.tv_sec)))
        }
        for s in subdirs.sorted().prefix(200) { collect(s, depth: depth + 1, into: &out) }
    }

    /// Looks at the first bytes of a file to tell its format: the first in `LogFormats.all`
    /// that recognizes them.
    static func detect(file path: String, followLinks: Bool = true) throws(ReadError) -> any LogReading.Type {
        let raw = try LogFile.head(path, count: 64 << 10, followLinks: followLinks)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var head = raw
        if head.count >= 3, head[head.startIndex] == 0xEF, head[head.startIndex + 1] == 0xBB, head[head.startIndex + 2] == 0xBF {
            head = head.dropFirst(3)
        }
        let sample = LogSample(name: name, head: head, isWholeFile: raw.count < 64 << 10)
        if let binary = LogFormats.all.first(where: { $0.isBinary && $0.recognizes(sample) }) { return binary }
        if looksBinary(head) {
            throw ReadError(path: path, problem: "is a binary file; " + expected)
        }
        if let reader = LogFormats.all.first(where: { !$0.isBinary && $0.recognizes(sample) }) { return reader }
        throw ReadError(path: path, problem: "is not a format finetop reads; " + expected)
    }

    /// NUL bytes or mostly invalid UTF-8 in the first kilobytes: not a log. Backspaces and
    /// terminal escapes are a redrawn progress bar, not binary.
    static func looksBinary(_ bytes: ArraySlice<UInt8>) -> Bool {
        let sample = bytes.prefix(4096)
        if sample.contains(0) { return true }
        let decoded = String(decoding: sample, as: UTF8.self)
        let replacements = decoded.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
        let controls = sample.filter { $0 < 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 && $0 != 0x08 && $0 != 0x1B }.count
        return replacements > 8 || controls > sample.count / 20 + 2
    }
}

/// A run that can be followed while it grows, through its format's `LogFollower`.
public final class RunSource {
    public let path: String
    public let resolved: RunLoader.Resolved
    public let options: ReadOptions
    public var format: LogFormat { resolved.format }
    /// Where control.json goes; nil for logs that accept no control.
    public var runDirectory: String? { resolved.runDirectory }
    public private(set) var run: Run

    private let follower: LogFollower
    private var first = true

    public init(path: String, options: ReadOptions = ReadOptions()) throws(ReadError) {
        self.path = path
        self.options = options
        resolved = try RunLoader.resolve(path: path)
        run = Run(format: resolved.format)
        if resolved.format == .runDirectory {
            follower = EventsFollower(path: resolved.file, format: .runDirectory, followLinks: resolved.followLinks)
        } else {
            follower = resolved.reader.follower(path: resolved.file, options: options, followLinks: resolved.followLinks)
        }
    }

    /// Picks up what changed on disk. Returns true when the run changed.
    @discardableResult
    public func poll() throws(ReadError) -> Bool {
        let changed = try follower.poll()
        guard changed || first else { return false }
        first = false
        run = follower.run
        if let k = options.run, k > run.runsInFile || k < 1 {
            throw ReadError(path: resolved.file, problem: "holds \(run.runsInFile) run\(run.runsInFile == 1 ? "" : "s"); --run \(k) is not one of them")
        }
        return true
    }

    /// The file whose changes `poll()` follows (for inotify or a stat loop); for a TensorBoard
    /// logdir, the directory (its event files are in `watchedFiles`).
    public var watchedFile: String { resolved.file }

    /// Every file `poll()` reads: the event files of a TensorBoard logdir, else `watchedFile`.
    public var watchedFiles: [String] { follower.watchedFiles }

    /// Why the dashboard cannot steer this run, nil when it can.
    public var readOnlyText: String? {
        guard runDirectory == nil else { return nil }
        return "\(format.name), no finetop helper; " + LogFormats.helperHint
    }
}
