#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the end of output.log for the overlay.
enum OutputFile {
    static func tail(_ path: String) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ["(no output.log yet in this run directory)"] }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return [] }
        let start = max(0, size - off_t(OutputTail.maxBytes))
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, start) }
        guard n > 0 else { return [] }
        return OutputTail.lines(Array(bytes.prefix(n)), fromStart: start == 0)
    }
}
