import Foundation
import Testing
@testable import FinetopCore
import FinetopTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12: a logdir of 1,000+ event files failed with "Too many open files". The files open
/// at once stay bounded (`TensorBoardLogdir.maxOpenFiles`), however many there are, while every
/// file is still followed.
@Suite struct TensorBoardOpenFilesTests {
    /// This process's descriptors open on files under `dir` (other tests may run meanwhile, so
    /// only these count).
    static func openFiles(under dir: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        var n = 0
        for fd in fds {
            var buf = [CChar](repeating: 0, count: 4096)
            let len = readlink("/proc/self/fd/" + fd, &buf, buf.count - 1)
            guard len > 0 else { continue }
            let target = String(decoding: buf[..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix(dir + "/") { n += 1 }
        }
        return n
    }

    @Test func twelveHundredEventFilesKeepFewOpen() throws {
        let dir = makeTempDir("tb-many")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let count = 1200
        func file(_ k: Int) -> String { dir + "/events.out.tfevents.\(1_763_900_000 + k).finetop.1.0" }
        for k in 0..<count {
            var w = TensorBoardEventWriter()
            w.fileVersion(wallTime: 0)
            w.scalar(tag: "Loss/train", step: Int64(k), value: 1, wallTime: 0)
            append(bytes: w.take(), to: file(k))
        }
        let source = try RunSource(path: dir)
        try source.poll()
        #expect(source.run.batches.count + source.run.epochs.count == count)
        #expect(Self.openFiles(under: dir) <= TensorBoardLogdir.maxOpenFiles)
        // Every file grows: all are read, still with few open.
        for k in 0..<count {
            var w = TensorBoardEventWriter()
            w.scalar(tag: "Loss/val", step: Int64(k), value: 2, wallTime: 0)
            append(bytes: w.take(), to: file(k))
        }
        #expect(try source.poll())
        #expect(source.run.skippedLines == 0)
        #expect(source.watchedFiles.count == count)
        #expect(Self.openFiles(under: dir) <= TensorBoardLogdir.maxOpenFiles)
        #expect(source.run.epochs.filter { $0.valLoss == 2 }.count == count)
    }
}
