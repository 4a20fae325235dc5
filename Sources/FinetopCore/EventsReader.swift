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

    public init(path: String, format: LogFormat = .eventsFile) {
        self.path = path
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
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw ReadError(path: path, problem: Self.explain(errno)) }
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
        let size = Int(st.st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, size) }
        let base = map.assumingMemoryBound(to: UInt8.self)
        // Complete lines only; the halves split at a line end.
        var end = size
        while end > 0 && base[end - 1] != 0x0A { end -= 1 }
        guard end > 0, let nl = memchr(base + end / 2, 0x0A, end - end / 2) else { return nil }
        let split = base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
        guard split < end else { return nil }

        let halves = UnsafeMutablePointer<RunBuilder>.allocate(capacity: 2)
        defer { halves.deallocate() }
        (halves + 0).initialize(to: builder)
        (halves + 1).initialize(to: RunBuilder(format: builder.run.format))
        // The first half's columns get room for both, so joining appends in place.
        halves[0].reserveBatches(end / 96)
        halves[1].reserveBatches((end - split) / 96)
        nonisolated(unsafe) let shared = halves
        nonisolated(unsafe) let bytes = base
        let ranges = [0..<split, split..<end]
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            let range = ranges[k]
            Self.consumeLines(bytes + range.lowerBound, count: range.count, into: &shared[k])
        }
        var first = (halves + 0).move()
        let second = (halves + 1).move()
        guard !second.inferredFromContext else { return nil }
        builder = RunBuilder(format: first.run.format)   // drop the old reference before appending
        first.absorb(second)
        builder = first
        offset = end
        return true
    }

    /// Files at least this big are opened with both halves parsed at once (tests lower it).
    var parallelLoadBytes = 16 << 20
    static let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))

    /// Every complete line in `count` bytes at `base` (which ends with a line end).
    private static func consumeLines(_ base: UnsafePointer<UInt8>, count: Int, into builder: inout RunBuilder) {
        var start = 0
        while start < count, let nl = memchr(base + start, 0x0A, count - start) {
            let end = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            if end - start >= maxLineBytes {
                builder.skip("line longer than \(maxLineBytes >> 20) MB")
            } else {
                builder.consume(line: UnsafeBufferPointer(start: base + start, count: end - start))
            }
            start = end + 1
        }
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
