import FinetopCore
import Foundation

/// `--printed [--mb N]`: a Keras 3 `fit(verbose=1)` log as `python train.py > train.log` saves it
/// (each step's progress line redrawn after `\b…\r`, the epoch's last line with val_ values and a
/// line end), N MB (default 100). Times the first load and the live path (lines appended to a
/// source that has read everything, as the dashboard polls).
func printedLogBenchmark(megabytes: Int, keep: Bool) throws {
    let dir = NSTemporaryDirectory() + "finetop-bench-printed-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let file = dir + "/train.log"
    let stepsPerEpoch = 1000
    var step = 0
    func lines(_ count: Int) -> String {
        var out = ""
        out.reserveCapacity(count * 260)
        for _ in 0..<count {
            let (e, k) = step.quotientAndRemainder(dividingBy: stepsPerEpoch)
            if k == 0 { out += "Epoch \(e + 1)/100000\n" }
            let loss = 2.0 * exp(-Double(step) / 2e5) + Double(step % 7) * 0.001
            out += String(repeating: "\u{8}", count: 96) + "\r"
            out += String(format: "\u{1B}[1m%4d/%d\u{1B}[0m \u{1B}[32m━━━━━━━━━━━━━━━━━━━━\u{1B}[0m \u{1B}[1m1s\u{1B}[0m 5ms/step - accuracy: %.4f - loss: %.4f",
                          k + 1, stepsPerEpoch, 1 - loss / 3, loss)
            if k == stepsPerEpoch - 1 { out += String(format: " - val_accuracy: %.4f - val_loss: %.4f\n", 1 - loss / 2.8, loss * 1.1) }
            step += 1
        }
        return out
    }
    FileManager.default.createFile(atPath: file, contents: nil)
    guard let h = FileHandle(forWritingAtPath: file) else { throw CocoaError(.fileWriteUnknown) }
    var bytes = 0
    while bytes < megabytes * 1_000_000 {
        let chunk = lines(10_000)
        bytes += chunk.utf8.count
        h.write(Data(chunk.utf8))
    }
    h.closeFile()
    _ = try? Data(contentsOf: URL(fileURLWithPath: file))   // warm the page cache
    var best = Double.infinity
    var run = Run(format: .printedLog)
    for _ in 0..<2 {
        let t0 = now()
        run = try RunLoader.load(path: file)
        best = min(best, now() - t0)
    }
    let mb = Double(bytes) / 1e6
    print(String(format: "printed Keras log: %.1f MB, %d progress lines in %.3f s  →  %.0f MB/s, %.2f M lines/s",
                 mb, step, best, mb / best, Double(step) / best / 1e6))
    print("                   \(run.epochs.count) epochs, \(run.batches.count) batch points, format \(run.format.name)")
    // Live: 1,000 more lines (a tenth of a second at 10,000 lines/s) on a source that has read all.
    let source = try RunSource(path: file)
    try source.poll()
    var costs: [Double] = []
    for _ in 0..<10 {
        let more = lines(1000)
        if let a = FileHandle(forWritingAtPath: file) {
            a.seekToEndOfFile()
            a.write(Data(more.utf8))
            a.closeFile()
        }
        let t0 = now()
        _ = try source.poll()
        _ = source.run.epochs.count
        costs.append(now() - t0)
    }
    costs.sort()
    print(String(format: "live:              1,000 appended lines read and the run rebuilt in %.1f ms (median of 10; %d batch points)",
                 costs[costs.count / 2] * 1000, source.run.batches.count))
    if !keep { try? FileManager.default.removeItem(atPath: dir) } else { print("kept \(dir)") }
}
