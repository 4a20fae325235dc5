#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening log files safely: regular files only, never blocking on a FIFO or a device, and
/// (inside a run directory, where others may plant files) never following a symbolic link.
public enum LogFile {
    /// Opens `path` for reading. `followLinks: false` refuses a symbolic link at `path` itself.
    /// Throws a clear error for FIFOs, devices, sockets and directories; never blocks.
    public static func openRegular(_ path: String, followLinks: Bool = true) throws(ReadError) -> Int32 {
        var flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
        if !followLinks { flags |= O_NOFOLLOW }
        let fd = open(path, flags)
        if fd < 0 {
            let err = errno
            if err == ELOOP && !followLinks {
                throw ReadError(path: path, problem: "is a symbolic link; finetop reads only regular files inside a run directory")
            }
            throw ReadError(path: path, problem: EventsReader.explain(err))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let err = errno
            close(fd)
            throw ReadError(path: path, problem: EventsReader.explain(err))
        }
        if let kind = notRegular(st.st_mode) {
            close(fd)
            throw ReadError(path: path, problem: "is \(kind), not a regular file; finetop reads only regular files")
        }
        return fd
    }

    /// What a non-regular file is ("a FIFO", "a device"…), nil for a regular file.
    static func notRegular(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    /// Reads a whole (small) regular file; refuses one larger than `limit`.
    static func readWhole(_ path: String, followLinks: Bool = true, limit: Int = 256 << 20) throws(ReadError) -> [UInt8] {
        let fd = try openRegular(path, followLinks: followLinks)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        if Int(st.st_size) > limit {
            throw ReadError(path: path, problem: "is \(st.st_size >> 20) MB, more than the \(limit >> 20) MB finetop reads for this format")
        }
        var out = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var filled = 0
        while true {
            if filled == out.count { out.append(contentsOf: repeatElement(0, count: max(1 << 16, out.count))) }
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if n < 0 { if errno == EINTR { continue }; throw ReadError(path: path, problem: EventsReader.explain(errno)) }
            if n == 0 { break }
            filled += n
            if filled > limit { throw ReadError(path: path, problem: "grew past \(limit >> 20) MB while being read") }
        }
        out.removeSubrange(filled...)
        return out
    }

    /// The first `count` bytes of a regular file.
    static func head(_ path: String, count: Int, followLinks: Bool = true) throws(ReadError) -> ArraySlice<UInt8> {
        let fd = try openRegular(path, followLinks: followLinks)
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(filled)) }
            if n < 0 { if errno == EINTR { continue }; throw ReadError(path: path, problem: EventsReader.explain(errno)) }
            if n == 0 { break }
            filled += n
        }
        return buf[0..<filled]
    }

    /// Size, modification time and identity of a path (following links), for change detection.
    static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Stamp(size: Int(st.st_size), sec: Int(st.st_mtim.tv_sec), nsec: Int(st.st_mtim.tv_nsec),
                     dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
    }

    struct Stamp: Equatable {
        var size: Int, sec: Int, nsec: Int, dev: UInt64, ino: UInt64
    }
}

/// How a text segment ended: printed logs redraw a progress line after `\r`.
public enum LineEnd: Sendable, Equatable {
    case newline, carriageReturn
}

/// A format read line by line as the file grows (printed logs, CSV files). The parser keeps
/// what it needs between lines; `run` is asked after each poll that took lines.
protocol LineParser {
    init(format: LogFormat, options: ReadOptions)
    /// One segment of text up to (not including) its `\n` or `\r`.
    mutating func consume(_ line: Substring, end: LineEnd)
    /// The run as read so far (a pending epoch included when the log is live).
    var run: Run { get }
}

/// Follows a growing text file: each `poll()` reads only the bytes appended since the last one
/// and hands complete segments to the parser; starts over when the file shrinks, is replaced or
/// has its start rewritten (Lightning rewrites metrics.csv when a new column appears).
final class LineFollower<Parser: LineParser>: LogFollower {
    let path: String
    let format: LogFormat
    let options: ReadOptions
    let followLinks: Bool
    private var parser: Parser
    private var fd: Int32 = -1
    private var identity: (dev: UInt64, ino: UInt64) = (0, 0)
    private var offset = 0
    /// An unfinished segment carried to the next read.
    private var pending: [UInt8] = []
    /// The file's first bytes as read: if they change, the file was rewritten.
    private var prefix: [UInt8] = []
    private var cached: Run?
    private var skippingLongLine = false

    static var chunkBytes: Int { 1 << 20 }
    /// A segment longer than this is dropped (a log is lines, not megabytes without a line end).
    static var maxSegmentBytes: Int { 16 << 20 }

    init(path: String, format: LogFormat, options: ReadOptions, followLinks: Bool = true) {
        self.path = path
        self.format = format
        self.options = options
        self.followLinks = followLinks
        parser = Parser(format: format, options: options)
    }

    deinit { if fd >= 0 { close(fd) } }

    var watchedFiles: [String] { [path] }

    var run: Run {
        if let cached { return cached }
        let r = parser.run
        cached = r
        return r
    }

    func poll() throws(ReadError) -> Bool {
        var st = stat()
        if stat(path, &st) != 0 {
            let err = errno
            if fd >= 0 && err == ENOENT { return false }   // being replaced: keep what we have
            throw ReadError(path: path, problem: EventsReader.explain(err))
        }
        var restarted = false
        let id = (UInt64(st.st_dev), UInt64(st.st_ino))
        if fd < 0 || id != identity || Int(st.st_size) < offset || prefixChanged() {
            if fd >= 0 {
                close(fd)
                fd = -1
                restarted = true
            }
            fd = try LogFile.openRegular(path, followLinks: followLinks)
            var now = stat()
            if fstat(fd, &now) == 0 { identity = (UInt64(now.st_dev), UInt64(now.st_ino)) } else { identity = id }
            offset = 0
            pending = []
            prefix = []
            skippingLongLine = false
            parser = Parser(format: format, options: options)
            cached = nil
        }
        let took = try readAppended()
        if took { cached = nil }
        return took || restarted
    }

    private func prefixChanged() -> Bool {
        guard fd >= 0, !prefix.isEmpty else { return false }
        var now = [UInt8](repeating: 0, count: prefix.count)
        let n = now.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n != prefix.count || now != prefix
    }

    private func readAppended() throws(ReadError) -> Bool {
        var took = false
        var chunk = [UInt8](repeating: 0, count: Self.chunkBytes)
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, problem: EventsReader.explain(errno))
            }
            if n == 0 { break }
            if prefix.count < 256 { prefix.append(contentsOf: chunk[0..<min(n, 256 - prefix.count)]) }
            offset += n
            if consume(chunk[0..<n]) { took = true }
            if n < chunk.count { break }
        }
        return took
    }

    /// Splits at `\n` and `\r` (a `\r\n` pair is one line end) and feeds complete segments.
    private func consume(_ bytes: ArraySlice<UInt8>) -> Bool {
        var took = false
        var rest = 0
        bytes.withUnsafeBufferPointer { b in
            let n = b.count
            var start = 0
            var i = 0
            while i < n {
                let c = b[i]
                if c != 0x0A && c != 0x0D { i += 1; continue }
                var end = LineEnd.newline
                var next = i + 1
                if c == 0x0D {
                    // A `\r` at the end of what was read: its `\n` may come next. Keep it.
                    if next == n { break }
                    if b[next] == 0x0A { next += 1 } else { end = .carriageReturn }
                }
                emit(UnsafeBufferPointer(rebasing: b[start..<i]), end: end)
                took = true
                start = next
                i = next
            }
            rest = start
        }
        // Carry the unfinished rest (and a trailing `\r`).
        if skippingLongLine { return took }
        pending.append(contentsOf: bytes[(bytes.startIndex + rest)...])
        if pending.count > Self.maxSegmentBytes {
            pending = []
            skippingLongLine = true
        }
        return took
    }

    private func emit(_ segment: UnsafeBufferPointer<UInt8>, end: LineEnd) {
        if skippingLongLine {
            skippingLongLine = false
            pending = []
            return
        }
        if pending.isEmpty {
            parser.consume(Substring(String(decoding: segment, as: UTF8.self)), end: end)
        } else {
            pending.append(contentsOf: segment)
            parser.consume(Substring(String(decoding: pending, as: UTF8.self)), end: end)
            pending = []
        }
    }
}

/// A format read whole (a JSON document rewritten on save): read again when its size, time or
/// identity changes.
final class WholeFileFollower: LogFollower {
    let path: String
    let followLinks: Bool
    private let read: ([UInt8]) throws(ReadError) -> Run
    private var last: LogFile.Stamp?
    private(set) var run: Run

    init(path: String, format: LogFormat, followLinks: Bool = true, read: @escaping ([UInt8]) throws(ReadError) -> Run) {
        self.path = path
        self.followLinks = followLinks
        self.read = read
        run = Run(format: format)
    }

    var watchedFiles: [String] { [path] }

    func poll() throws(ReadError) -> Bool {
        guard let stamp = LogFile.stamp(path) else { throw ReadError(path: path, problem: EventsReader.explain(errno)) }
        if stamp == last { return false }
        let bytes = try LogFile.readWhole(path, followLinks: followLinks)
        last = stamp
        run = try read(bytes)
        return true
    }
}

extension Array where Element == UInt8 {
    /// Without a leading UTF-8 byte order mark.
    var droppingBOM: ArraySlice<UInt8> {
        count >= 3 && self[0] == 0xEF && self[1] == 0xBB && self[2] == 0xBF ? self[3...] : self[...]
    }
}
