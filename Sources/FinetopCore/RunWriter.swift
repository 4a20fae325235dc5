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
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
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
            .object([
                ("name", .string(l.name)), ("class", .string(l.className)), ("shape", .string(l.shape)),
                ("params", JSONValue(l.params)), ("trainable_params", JSONValue(l.trainableParams)),
                ("trainable", .bool(l.trainable)), ("depth", JSONValue(l.depth)),
            ])
        }
        write([("type", "model"), ("revision", JSONValue(table.revision)), ("layers", .array(layers))])
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

    /// Writes a file atomically: a temporary file in the same directory, fsync, rename over.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ReadError) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw ReadError(path: tmp, problem: "cannot write: " + EventsReader.explain(errno)) }
        var ok = bytes.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw ReadError(path: tmp, problem: "cannot write: " + EventsReader.explain(err))
        }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw ReadError(path: path, problem: "cannot replace: " + EventsReader.explain(e))
        }
        // Make the rename itself durable.
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
