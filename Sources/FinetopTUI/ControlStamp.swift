#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Identity and version of a file as `lstat` sees it (never following a link): equal stamps mean
/// nothing was written or replaced.
struct ControlStamp: Equatable {
    var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = -1, mtime: Int = 0, mtimeNs: Int = 0, ctimeNs: Int = 0

    init(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtime = Int(st.st_mtim.tv_sec)
        mtimeNs = Int(st.st_mtim.tv_nsec)
        ctimeNs = Int(st.st_ctim.tv_nsec)
    }
}
