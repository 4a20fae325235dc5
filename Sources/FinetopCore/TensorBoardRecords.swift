#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftProtobuf

/// CRC-32C (Castagnoli), the checksum of TFRecord framing; slicing-by-8 over eight tables.
enum CRC32C {
    /// Eight 256-entry tables back to back: table k advances a byte k positions further.
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[n] = c
        }
        for k in 1..<8 {
            for n in 0..<256 {
                let prev = t[(k - 1) * 256 + n]
                t[k * 256 + n] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let p = bytes.baseAddress else { return 0 }
        let count = bytes.count
        var crc: UInt32 = 0xFFFF_FFFF
        tables.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= count {
                let lo = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
                let hi = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < count {
                crc = t[Int((crc ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return ~crc
    }

    /// TFRecord stores CRCs masked, so a CRC over data that embeds CRCs stays well-behaved.
    static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    static func maskedChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { masked(checksum(bytes)) }
}

/// TFRecord framing: `u64 length (LE) · u32 masked CRC32C of the length · data · u32 masked
/// CRC32C of the data`. Both checksums are checked; a bad record is reported, never fatal.
enum TFRecordFraming {
    static let headerBytes = 12
    static let footerBytes = 4
    /// A longer record is taken for a corrupt length (TensorBoard's largest, graphs, stay far below).
    static let maxRecordBytes = 1 << 30

    /// What sits at one position of a buffer.
    enum Item: Equatable {
        /// A good record: its data range; the next record starts at `next`.
        case record(data: Range<Int>, next: Int)
        /// Bytes that do not frame a good record; reading resumes at `next`.
        case corrupt(reason: String, next: Int)
        /// The buffer ends inside a record (or its header): wait for more bytes.
        /// `needs` is the whole record's size when its header is known.
        case incomplete(needs: Int?)
    }

    /// Whether a good header (length whose checksum matches) starts at `at`.
    static func headerLength(_ buf: UnsafeRawBufferPointer, at i: Int) -> Int? {
        guard let base = buf.baseAddress, buf.count - i >= headerBytes else { return nil }
        let length = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let stored = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self))
        guard CRC32C.maskedChecksum(UnsafeRawBufferPointer(start: base + i, count: 8)) == stored,
              length <= UInt64(maxRecordBytes) else { return nil }
        return Int(length)
    }

    /// The item starting at `i` in `buf`.
    static func item(in buf: UnsafeRawBufferPointer, at i: Int) -> Item {
        guard let base = buf.baseAddress, buf.count - i >= headerBytes else { return .incomplete(needs: nil) }
        guard let length = headerLength(buf, at: i) else {
            // The length cannot be trusted: look for the next position where a header checks out.
            var j = i + 1
            while buf.count - j >= headerBytes {
                if headerLength(buf, at: j) != nil { return .corrupt(reason: "bad length checksum", next: j) }
                j += 1
            }
            // A header may begin in the last bytes: keep them until more arrive.
            return .corrupt(reason: "bad length checksum", next: j)
        }
        let total = headerBytes + length + footerBytes
        guard buf.count - i >= total else { return .incomplete(needs: total) }
        let data = UnsafeRawBufferPointer(start: base + i + headerBytes, count: length)
        let stored = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i + headerBytes + length, as: UInt32.self))
        guard CRC32C.maskedChecksum(data) == stored else { return .corrupt(reason: "bad data checksum", next: i + total) }
        return .record(data: (i + headerBytes)..<(i + headerBytes + length), next: i + total)
    }
}

/// Follows one event file: each `poll` reads only what was appended since the last good record,
/// hands every good record to `consume`, counts the corrupt ones, and holds back a record the
/// writer has not finished.
final class TensorBoardEventFile {
    let path: String
    /// File offset just past the last record consumed (good or skipped).
    private(set) var offset = 0
    /// Bytes after `offset` that do not make a whole record yet.
    private(set) var pendingBytes = 0
    private var fd: Int32 = -1
    private var identity: (dev: UInt64, ino: UInt64)?
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    /// False for a file found inside a logdir: a link planted there is not followed.
    let followLinks: Bool
    static let chunkBytes = 4 << 20
    /// What a file starts with: most event files of a big logdir are small (a logdir of 1,000
    /// files must not hold 4 MB each).
    static let initialBytes = 64 << 10

    init(path: String, followLinks: Bool = true) {
        self.path = path
        self.followLinks = followLinks
        capacity = Self.initialBytes
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Closes the file between polls (a logdir with many files keeps few open); the next poll
    /// reopens it and checks it is still the same file.
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit {
        if fd >= 0 { close(fd) }
        storage.deallocate()
    }

    enum PollResult: Equatable {
        /// Read what was appended (maybe nothing).
        case appended
        /// The file shrank or was replaced: what was read from it before is no longer true.
        case replaced
        /// The file is gone (for now).
        case missing
    }

    /// Reads what was appended; `record` gets each good record's bytes, `corrupt` each bad span.
    func poll(record: (UnsafeRawBufferPointer) -> Void, corrupt: (String) -> Void) throws(ReadError) -> PollResult {
        var st = stat()
        if stat(path, &st) != 0 {
            let err = errno
            if err == ENOENT { return .missing }
            throw ReadError(path: path, problem: EventsReader.explain(err))
        }
        let id = (UInt64(st.st_dev), UInt64(st.st_ino))
        if let known = identity, known != id || Int(st.st_size) < offset + pendingBytes {
            release()
            identity = nil
            return .replaced
        }
        if fd < 0 {
            // Regular files only, never blocking (a FIFO named like an event file would hang us).
            fd = try LogFile.openRegular(path, followLinks: followLinks)
            var now = stat()
            let opened = fstat(fd, &now) == 0 ? (UInt64(now.st_dev), UInt64(now.st_ino)) : id
            if let known = identity, known != opened {
                release()
                identity = nil
                return .replaced
            }
            if identity == nil {
                identity = opened
                offset = 0
                pendingBytes = 0
            }
        }
        var want = min(Self.chunkBytes, max(Self.initialBytes, Int(st.st_size) - offset - pendingBytes + 1))
        while true {
            reserve(pendingBytes + want)
            let n = pread(fd, storage + pendingBytes, capacity - pendingBytes, off_t(offset + pendingBytes))
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, problem: EventsReader.explain(errno))
            }
            if n == 0 { break }
            let filled = pendingBytes + n
            let buf = UnsafeRawBufferPointer(start: storage, count: filled)
            var i = 0
            scan: while true {
                switch TFRecordFraming.item(in: buf, at: i) {
                case .record(let data, let next):
                    record(UnsafeRawBufferPointer(rebasing: buf[data]))
                    i = next
                case .corrupt(let reason, let next):
                    corrupt(reason)
                    i = next
                case .incomplete(let needs):
                    want = max(Self.initialBytes, (needs ?? 0) - (filled - i))
                    break scan
                }
            }
            offset += i
            pendingBytes = filled - i
            if i > 0 && pendingBytes > 0 { memmove(storage, storage + i, pendingBytes) }
        }
        if capacity > Self.initialBytes && pendingBytes < Self.initialBytes {
            // Caught up: give back the read buffer (a logdir may hold a thousand of these).
            let small = UnsafeMutableRawPointer.allocate(byteCount: Self.initialBytes, alignment: 16)
            small.copyMemory(from: storage, byteCount: pendingBytes)
            storage.deallocate()
            storage = small
            capacity = Self.initialBytes
        }
        return .appended
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 16)
        bigger.copyMemory(from: storage, byteCount: pendingBytes)
        storage.deallocate()
        storage = bigger
        capacity = n
    }
}
