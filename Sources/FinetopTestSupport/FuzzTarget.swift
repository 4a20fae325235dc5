import FinetopCore

#if canImport(Glibc)
import Glibc
#endif

/// Feeds arbitrary bytes through every reader finetop has, through the same public entry points
/// the dashboard uses. The libFuzzer harness in `Tests/Fuzz` calls it, and a test replays the
/// fuzz corpus through it on every run.
public enum FuzzTarget {
    public static func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        // As events.jsonl lines.
        var builder = RunBuilder()
        if let base = bytes.baseAddress {
            var start = 0
            for k in 0..<bytes.count where base[k] == 0x0A {
                builder.consume(line: UnsafeBufferPointer(start: base + start, count: k - start))
                start = k + 1
            }
            builder.consume(line: UnsafeBufferPointer(start: base + start, count: bytes.count - start))
        }
        _ = builder.snapshot.metricNames
        // As a whole JSON document, and as control.json.
        _ = JSONParser.parse(bytes)
        _ = try? ControlFile.parse(Array(bytes))
        _ = DisplayText.neutralize(String(decoding: bytes, as: UTF8.self))
        // As a file of every format (CSV files, printed logs, notebooks, History and trainer_state
        // JSON, TensorBoard event files), read by that format's own follower as the dashboard
        // reads it: for the last run, or (inputs whose first byte is odd) the first of several.
        guard let dir = scratch else { return }
        let path = dir + "/input"
        guard write(Array(bytes), to: path) else { return }
        _ = try? RunLoader.resolve(path: path)   // every format's recognizer, as a file is opened
        let options = (bytes.first ?? 0) & 1 == 1 ? ReadOptions(run: 1) : ReadOptions()
        for format in LogFormats.all {
            let follower = format.follower(path: path, options: options, followLinks: false)
            _ = try? follower.poll()
            _ = follower.run.metricNames
        }
        // As one framed TensorBoard `Event` record, since random bytes rarely carry valid
        // checksums: the record decoder sees them whole.
        let events = dir + "/events.out.tfevents.0.fuzz"
        guard write(TensorBoardEventWriter.frame(Array(bytes)), to: events) else { return }
        for format in LogFormats.all where format.format == .tensorBoard {
            let follower = format.follower(path: events, options: ReadOptions(), followLinks: false)
            _ = try? follower.poll()
            _ = follower.run.metricNames
        }
    }

    /// A private directory for the inputs written as files, made once per process.
    static let scratch: String? = {
        var template = Array("/tmp/finetop-fuzz-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ buffer -> UnsafeMutablePointer<CChar>? in
            guard let base = buffer.baseAddress else { return nil }
            return mkdtemp(base)
        }) else { return nil }
        return String(cString: made)
    }()

    /// Replaces `path` with `bytes` (truncating; the directory is ours alone).
    static func write(_ bytes: [UInt8], to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            rest = rest.dropFirst(n)
        }
        return true
    }
}
