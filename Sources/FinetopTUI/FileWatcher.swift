import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// inotify on the directory holding the watched file (so replacement and creation are seen too).
final class FileWatcher {
    let fd: Int32
    var isActive: Bool { fd >= 0 }

    init(paths: [String]) {
        #if os(Linux)
        let dirs = Set(paths.map { path in
            FileSystem.isDirectory(path) ? path : (path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".")
        }).sorted().prefix(256)
        let f = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if f >= 0 {
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB)
            let added = dirs.filter { inotify_add_watch(f, $0.isEmpty ? "/" : $0, mask) >= 0 }.count
            if added == 0 {
                close(f)
                fd = -1
                return
            }
        }
        fd = f
        #else
        fd = -1
        #endif
    }

    deinit { if fd >= 0 { close(fd) } }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
        }
    }
}
