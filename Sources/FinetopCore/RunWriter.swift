#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run directory's file names.
public enum RunFiles {
    public static let events = "events.jsonl"
    public static let control = "control.json"
    public static let output = "output.log"
    /// The lock file writers of control.json hold while they merge their change (never written to).
    public static let controlLock = "control.json.lock"
}

/// Appends run-format lines to `events.jsonl`: the writer used by the demo trainer and the tests.
/// Each line goes out with one `write` so a reader never sees half of it followed by another line.
public final class RunWriter {
    public let directory: String
    private let fd: Int32

    public init(directory: String) throws(ReadError) {
        self.directory = directory
        try FileSystem.makeDirectory(directory)
        let path = directory + "/" + RunFiles.events
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if fd < 0 { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
    }

    deinit { close(fd) }

    public func write(_ object: [(String, JSONValue)]) {
        writeLine(JSONText.render(.object(object)))
    }

    public func writeLine(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc_write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue } else { return } }
                done += n
            }
        }
    }

    // MARK: - The line types of the run format

    public func run(_ info: RunInfo) {
        var h: [(String, JSONValue)] = [
            ("optimizer", JSONValue(info.hparams.optimizer)),
            ("learning_rate", JSONValue(info.hparams.learningRate)),
            ("batch_size", JSONValue(info.hparams.batchSize)),
            ("epochs", JSONValue(info.hparams.epochs)),
            ("augmentation", .array(info.hparams.augmentation.map { .string($0) })),
            ("dropout", .array(info.hparams.dropout.map { .number($0) })),
        ]
        if let es = info.hparams.earlyStopping {
            h.append(("early_stopping", .object([
                ("monitor", .string(es.monitor)), ("patience", JSONValue(es.patience)),
                ("min_delta", .number(es.minDelta)), ("restore_best_weights", .bool(es.restoreBestWeights)),
            ])))
        } else {
            h.append(("early_stopping", .null))
        }
        h.append(contentsOf: info.hparams.extra)
        var fields: [(String, JSONValue)] = [
            ("type", "run"), ("version", JSONValue(info.version)), ("framework", .string(info.framework)),
            ("framework_version", JSONValue(info.frameworkVersion)), ("run_id", JSONValue(info.runID)),
            ("started", JSONValue(info.started)),
        ]
        if let t = info.task {
            fields.append(("task", .object([
                ("kind", JSONValue(t.kind)), ("num_classes", JSONValue(t.numClasses)), ("loss", JSONValue(t.loss)),
            ])))
        }
        fields.append(("hparams", .object(h)))
        write(fields)
    }

    public func model(_ table: LayerTable) {
        let layers: [JSONValue] = table.layers.map { l in
            var fields: [(String, JSONValue)] = [
                ("name", .string(l.name)), ("class", .string(l.className)), ("shape", .string(l.shape)),
                ("params", JSONValue(l.params)), ("trainable_params", JSONValue(l.trainableParams)),
                ("trainable", .bool(l.trainable)), ("depth", JSONValue(l.depth)),
            ]
            if let n = l.learnableParams { fields.append(("learnable_params", JSONValue(n))) }
            if l.partial { fields.append(("partial", .bool(true))) }
            if l.statsFrozen { fields.append(("stats_frozen", .bool(true))) }
            return .object(fields)
        }
        var line: [(String, JSONValue)] = [("type", "model"), ("revision", JSONValue(table.revision)), ("layers", .array(layers))]
        if let n = table.optimizerParams { line.append(("optimizer_params", JSONValue(n))) }
        write(line)
    }

    public func batch(epoch: Int, step: Int, loss: Double, metrics: [(String, Double)] = []) {
        write([
            ("type", "batch"), ("epoch", JSONValue(epoch)), ("step", JSONValue(step)), ("loss", .number(loss)),
            ("metrics", .object(metrics.map { ($0.0, .number($0.1)) })),
        ])
    }

    public func epoch(_ e: EpochRecord) {
        var fields: [(String, JSONValue)] = [("type", "epoch"), ("epoch", JSONValue(e.epoch))]
        if let s = e.step { fields.append(("step", JSONValue(s))) }
        if let l = e.loss { fields.append(("loss", .number(l))) }
        if let v = e.valLoss { fields.append(("val_loss", .number(v))) }
        let rest = e.values.filter { $0.key != "loss" && $0.key != "val_loss" }.sorted { $0.key < $1.key }
        fields.append(("metrics", .object(rest.map { ($0.key, .number($0.value)) })))
        if let t = e.time { fields.append(("time", .number(t))) }
        write(fields)
    }

    public func control(_ ack: ControlAck) {
        write([
            ("type", "control"), ("revision", JSONValue(ack.revision)), ("status", .string(ack.status.rawValue)),
            ("changed", .array(ack.changed.map { .string($0) })), ("message", JSONValue(ack.message)),
        ])
    }

    public func end(_ e: RunEnd) {
        write([("type", "end"), ("reason", .string(e.reason)), ("message", JSONValue(e.message))])
    }
}

@inline(__always) func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}

/// Small file-system helpers over POSIX, so Core stays free of Foundation's file manager quirks.
public enum FileSystem {
    public static func makeDirectory(_ path: String) throws(ReadError) {
        var parts: [String] = []
        var p = path
        while !p.isEmpty && !isDirectory(p) {
            parts.append(p)
            guard let slash = p.lastIndex(of: "/") else { break }
            p = String(p[..<slash])
        }
        for dir in parts.reversed() {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                throw ReadError(path: dir, problem: "cannot create directory: " + EventsReader.explain(errno))
            }
        }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Reads a whole (small) file; refuses files larger than `limit`.
    public static func readFile(_ path: String, limit: Int = 256 << 20) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ReadError(path: path, problem: "is a directory") }
        if Int(st.st_size) > limit {
            throw ReadError(path: path, problem: "is \(st.st_size >> 20) MB, more than the \(limit >> 20) MB finetop reads for this format")
        }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw ReadError(path: path, problem: EventsReader.explain(errno)) }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw ReadError(path: path, problem: "grew past \(limit >> 20) MB while being read") }
        }
        return out
    }

    /// Reads a small file only if it is a regular file, without following a link and without ever
    /// blocking (a FIFO or device planted at `path` is refused, not opened for a blocking read).
    /// nil when there is no such file.
    public static func readRegularFile(_ path: String, limit: Int) throws(ReadError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let err = errno
            if err == ENOENT { return nil }
            throw ReadError(path: path, problem: openProblem(err))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ReadError(path: path, problem: "is \(kindName(st.st_mode)), not a regular file; finetop reads only regular files here")
        }
        if Int(st.st_size) > limit {
            throw ReadError(path: path, problem: "is \(st.st_size >> 20) MB, more than the \(limit >> 20) MB finetop reads for this file")
        }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, problem: EventsReader.explain(errno))
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw ReadError(path: path, problem: "grew past \(limit >> 20) MB while being read") }
        }
        return out
    }

    /// What an `open` that never follows links failed with, in words.
    static func openProblem(_ err: Int32) -> String {
        switch err {
        case ELOOP: return "is a symbolic link; finetop never follows links in a run directory"
        case ENXIO: return "is a socket or a FIFO without a writer; finetop reads only regular files here"
        default: return EventsReader.explain(err)
        }
    }

    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    /// Writes a file atomically: a temporary file with an unpredictable name in the same directory,
    /// created exclusively and never through a link (O_CREAT|O_EXCL|O_NOFOLLOW), fsync, rename over.
    /// A link planted at any name it uses is never followed; `rename` replaces a link at `path`
    /// itself, not what it points to. Errors say why (disk full, read-only, file too large).
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ReadError) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var fd: Int32 = -1
        var tmp = ""
        for _ in 0..<16 {
            var rng = SystemRandomNumberGenerator()
            let token = String(rng.next() as UInt64, radix: 16) + String(rng.next() as UInt32, radix: 16)
            tmp = (dir.isEmpty ? "" : dir + "/") + "." + base + "." + token + ".tmp"
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        if fd < 0 { throw ReadError(path: path, problem: "cannot write: " + writeProblem(errno)) }
        var ok = bytes.withUnsafeBytes { raw -> Bool in
            guard let start = raw.baseAddress else { return true }
            var done = 0
            while done < raw.count {
                let n = write(fd, start + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return false }
                if n == 0 { errno = ENOSPC; return false }
                done += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw ReadError(path: path, problem: "cannot write: " + writeProblem(err))
        }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw ReadError(path: path, problem: "cannot replace: " + writeProblem(e))
        }
        // Make the rename itself durable.
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Why a write failed, in the words a user acts on.
    static func writeProblem(_ err: Int32) -> String {
        switch err {
        case ENOSPC: return "the disk is full (ENOSPC)"
        case EDQUOT: return "the disk quota is exhausted (EDQUOT)"
        case EROFS: return "the file system is read-only (EROFS)"
        case EFBIG: return "the file size limit (ulimit -f) is exceeded (EFBIG)"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "a directory is in the way"
        case ELOOP: return "a symbolic link is in the way; finetop never follows links in a run directory"
        default: return String(cString: strerror(err))
        }
    }

    /// An exclusive `flock` on a lock file that is opened without following links, never written,
    /// and must be a regular file. Waits at most `timeout` seconds, so a lock held forever (a
    /// hung process, a hostile one) becomes an error the user sees instead of a frozen dashboard.
    public final class ExclusiveLock {
        private var fd: Int32

        public init(path: String, timeout: Double) throws(ReadError) {
            var f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0o644)
            // Someone else's lock file we may not write: a shared lock needs only read access.
            if f < 0 && (errno == EACCES || errno == EPERM) { f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) }
            if f < 0 { throw ReadError(path: path, problem: "cannot lock: " + FileSystem.openProblem(errno)) }
            var st = stat()
            guard fstat(f, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                close(f)
                throw ReadError(path: path, problem: "cannot lock: is \(FileSystem.kindName(st.st_mode)), not a regular file")
            }
            let deadline = FileSystem.monotonicSeconds() + timeout
            while flock(f, LOCK_EX | LOCK_NB) != 0 {
                let err = errno
                guard err == EWOULDBLOCK || err == EINTR, FileSystem.monotonicSeconds() < deadline else {
                    close(f)
                    throw ReadError(path: path, problem: err == EWOULDBLOCK
                        ? "another process has held this lock for more than \(Int(timeout)) s"
                        : "cannot lock: " + EventsReader.explain(err))
                }
                usleep(2_000)
            }
            fd = f
        }

        /// Unlocks; safe to call twice.
        public func release() {
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }

        deinit { release() }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
