import Foundation
import Testing

/// Issue 12: `finetop watch` on a Lightning metrics.csv still being written says it is live while
/// it grows (the real binary in tmux), and a read-only log while it does not.
@Suite struct LiveLogTmuxTests {
    @Test func growingLightningMetricsCSVIsLive() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-pl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/version_0", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = dir + "/version_0/metrics.csv"
        var text = "epoch,step,train_loss_epoch,train_loss_step,val_loss\n"
        func rows(_ epoch: Int) -> String {
            (0..<5).map { "\(epoch),\(epoch * 5 + $0),,\(1.0 / Double(epoch * 5 + $0 + 1)),\n" }.joined()
                + "\(epoch),\(epoch * 5 + 4),\(1.0 / Double(epoch + 1)),,\(1.2 / Double(epoch + 1))\n"
        }
        for e in 0..<3 { text += rows(e) }
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let t = try TmuxSession(width: 120, height: 30)
        try t.type("\(Binary.path) watch \(csv); echo FINETOP-EXITED $?")
        let still = try t.waitFor(text: "read-only log")
        #expect(!still.contains("· live"))
        let h = try #require(FileHandle(forWritingAtPath: csv))
        h.seekToEndOfFile()
        h.write(Data(rows(3).utf8))
        try h.close()
        let grown = try t.waitFor("the header says live") { $0.contains("· live") }
        #expect(grown.contains("epoch 4"))
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }
}
