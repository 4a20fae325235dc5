import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read at all (as opposed to a line that was skipped).
public struct ReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// Reads an append-only events.jsonl incrementally: each `poll()` reads only the bytes appended
/// since the last one, holds back an unterminated last line, and starts over when the file
/// shrinks or is replaced.
public final class EventsReader {
    public let path: String
    public private(set) var builder = RunBuilder(format: .eventsFile)
    /// Bytes of the file consumed so far (complete lines only).
    public private(set) var offset: Int = 0
    /// How many times the reader started over because the file shrank or was replaced.
    public private(set) var restarts = 0

    /// A line longer than this is skipped (and counted) without being held in memory.
    public static let maxLineBytes = 64 << 20
    static let chunkBytes = 1 << 20

    private var fd: Int32 = -1
    private var identity: (dev: UInt64, ino: UInt64) = (0, 0)
    /// Bytes read but not consumed: an unfinished line at the start of `storage`.
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity = 0
    private var pending = 0
    private var discarding = false   // inside an over-long line, dropping bytes until its end

    /// False inside a run directory: a link planted at events.jsonl is refused, not followed.
    public let followLinks: Bool

    public init(path: String, format: LogFormat = .eventsFile, followLinks: Bool = true) {
        self.path = path
        self.followLinks = followLinks
        builder = RunBuilder(format: format)
        capacity = Self.chunkBytes
        storage = .allocate(capacity: capacity)
    }

    deinit {
        if fd >= 0 { close(fd) }
        storage.deallocate()
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        bigger.update(from: storage, count: pending)
        storage.deallocate()
        storage = bigger
        capacity = n
    }

    public var run: Run { builder.snapshot }

    /// Reads what was appended. Returns true when the run changed.
    @discardableResult
    public func poll() throws(ReadError) -> Bool {
        var st = stat()
        if stat(path, &st) != 0 {
            let err = errno
            if fd >= 0 && err == ENOENT { return false }   // being replaced: keep what we have
            throw ReadError(path: path, problem: Self.explain(err))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ReadError(path: path, problem: "is a directory, expected an events.jsonl file")
        }
        let id = (UInt64(st.st_dev), UInt64(st.st_ino))
        var changed = false
        if fd < 0 || id != identity || Int(st.st_size) < offset + pending {
            if fd >= 0 {
                close(fd)
                fd = -1
                restarts += 1
                builder.reset()
                changed = true
            }
            // Regular files only, opened without blocking: a FIFO or /dev/zero would hang or spin.
            fd = try LogFile.openRegular(path, followLinks: followLinks)
            identity = id
            offset = 0
            pending = 0
            discarding = false
            // A big existing file is mostly batch lines of ~100 bytes: size the columns once
            // instead of doubling them (which would leave up to half their memory unused).
            if st.st_size > 1 << 20 { builder.reserveBatches(Int(st.st_size) / 96) }
        }
        return try readAppended() || changed
    }

    private func readAppended() throws(ReadError) -> Bool {
        let before = (builder.run.epochs.count, builder.run.batches.count, builder.run.skippedLines)
        var tookLines = false
        if offset == 0 && pending == 0 && !discarding, let took = loadFirstInParallel() {
            tookLines = took
        }
        while true {
            reserve(pending + Self.chunkBytes)
            let n = pread(fd, storage + pending, Self.chunkBytes, off_t(offset + pending))
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, problem: Self.explain(errno))
            }
            if n == 0 { break }
            // The first `pending` bytes hold no newline: search only what is new.
            let consumed = processLines(filled: pending + n, searchFrom: pending)
            if consumed > 0 { tookLines = true }
            offset += consumed
            let rest = pending + n - consumed
            if discarding {
                offset += rest      // drop the over-long line's bytes as they come
                pending = 0
            } else {
                if consumed > 0 && rest > 0 { memmove(storage, storage + consumed, rest) }
                pending = rest
                if pending >= Self.maxLineBytes {
                    discarding = true
                    offset += pending
                    pending = 0
                }
            }
            if n < Self.chunkBytes { break }
        }
        if capacity > 4 * Self.chunkBytes && pending < Self.chunkBytes {
            // Give back the memory a huge line needed.
            let small = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.chunkBytes)
            small.update(from: storage, count: pending)
            storage.deallocate()
            storage = small
            capacity = Self.chunkBytes
        }
        let after = (builder.run.epochs.count, builder.run.batches.count, builder.run.skippedLines)
        return tookLines || before != after
    }

    /// Opening a big existing file: both halves are parsed at once on two cores, then joined.
    /// Returns nil (and changes nothing) when the file is small, there is one core, or the second
    /// half has lines whose epoch or step depend on what came before.
    private func loadFirstInParallel() -> Bool? {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= parallelLoadBytes, Self.cores >= 2 else { return nil }
        // The split point: the first line end after the middle. Read, not mmap: a file
        // truncated while mapped would kill us with SIGBUS.
        let size = Int(st.st_size)
        var probe = [UInt8](repeating: 0, count: 1 << 16)
        var split = -1
        var at = size / 2
        while split < 0 && at < size {
            let n = probe.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(at)) }
            if n <= 0 { return nil }
            if let k = probe[0..<n].firstIndex(of: 0x0A) { split = at + k + 1 }
            at += n
        }
        guard split > 0 && split < size else { return nil }
        let halves = UnsafeMutablePointer<RunBuilder>.allocate(capacity: 2)
        defer { halves.deallocate() }
        (halves + 0).initialize(to: builder)
        (halves + 1).initialize(to: RunBuilder(format: builder.run.format))
        // The first half's columns get room for both, so joining appends in place.
        halves[0].reserveBatches(size / 96)
        halves[1].reserveBatches((size - split) / 96)
        nonisolated(unsafe) let shared = halves
        let ranges = [0..<split, split..<size]
        let file = fd
        let ends = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { ends.deallocate() }
        ends.initialize(repeating: 0, count: 2)
        nonisolated(unsafe) let endSlots = ends
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            endSlots[k] = Self.consumeRange(file, ranges[k], into: &shared[k])
        }
        var first = (halves + 0).move()
        let second = (halves + 1).move()
        // The first half must end exactly at `split`; the second at its last complete line.
        guard ends[0] == split, ends[1] > split, !second.inferredFromContext else { return nil }
        let end = ends[1]
        builder = RunBuilder(format: first.run.format)   // drop the old reference before appending
        first.absorb(second)
        builder = first
        offset = end
        return true
    }

    /// Files at least this big are opened with both halves parsed at once (tests lower it).
    var parallelLoadBytes = 16 << 20
    static let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))

    /// Reads `range` of the file in chunks and consumes its complete lines; returns the file
    /// offset just past the last line end it consumed.
    private static func consumeRange(_ fd: Int32, _ range: Range<Int>, into builder: inout RunBuilder) -> Int {
        var capacity = 4 << 20
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var kept = 0            // bytes of an unfinished line at the start of `buffer`
        var at = range.lowerBound
        var consumedTo = range.lowerBound
        while at < range.upperBound {
            if capacity - kept < 1 << 20 {
                // An over-long line is left, with the rest, to the sequential reader.
                if kept >= maxLineBytes { return consumedTo }
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                bigger.update(from: buffer, count: kept)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let want = min(capacity - kept, range.upperBound - at)
            let n = pread(fd, buffer + kept, want, off_t(at))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            at += n
            let filled = kept + n
            var start = 0
            while start < filled, let nl = memchr(buffer + start, 0x0A, filled - start) {
                let end = buffer.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                builder.consume(line: UnsafeBufferPointer(start: buffer + start, count: end - start))
                start = end + 1
            }
            consumedTo += start
            kept = filled - start
            if start > 0 && kept > 0 { memmove(buffer, buffer + start, kept) }
        }
        return consumedTo
    }

    /// Consumes the complete lines in `storage[0..<filled]`; returns how many bytes that was.
    private func processLines(filled: Int, searchFrom: Int) -> Int {
        var start = 0
        var from = searchFrom
        while from < filled {
            guard let nl = memchr(storage + from, 0x0A, filled - from) else { break }
            let end = storage.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            if discarding {
                discarding = false
                builder.skip("line longer than \(Self.maxLineBytes >> 20) MB")
            } else {
                builder.consume(line: UnsafeBufferPointer(start: storage + start, count: end - start))
            }
            start = end + 1
            from = start
        }
        return start
    }

    static func explain(_ err: Int32) -> String {
        switch err {
        case ENOENT: return "no such file or directory"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a directory"
        default: return String(cString: strerror(err))
        }
    }
}
