#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// poll(2) over a few descriptors; returns the ones that are readable.
enum Waiter {
    static func wait(fds: [Int32], timeoutMs: Int32) -> [Int32] {
        var p = fds.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let n = poll(&p, nfds_t(p.count), timeoutMs)
        guard n > 0 else { return [] }
        return p.filter { $0.revents != 0 }.map(\.fd)
    }
}
