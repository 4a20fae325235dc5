import FinetopCore
import FinetopTestSupport
import Foundation

/// Writes `scalars` scalar events, loads them with finetop's reader (best of 3) and with
/// TensorBoard's EventAccumulator, and prints both.
func tensorBoardBenchmark(scalars: Int, keep: Bool) throws {
    let dir = NSTemporaryDirectory() + "finetop-bench-tb-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let file = dir + "/events.out.tfevents.1763900000.bench.1.0"
    print("writing \(scalars) scalars…")
    FileManager.default.createFile(atPath: file, contents: nil)
    guard let h = FileHandle(forWritingAtPath: file) else { throw CocoaError(.fileWriteUnknown) }
    var writer = TensorBoardEventWriter()
    var rng = SplitMix(seed: 7)
    writer.fileVersion(wallTime: 1_763_900_000)
    var step: Int64 = 0
    var written = 0
    while written < scalars {
        step += 1
        let t = 1_763_900_000 + Double(step) * 0.01
        let loss = Float(2 * exp(-Double(step) / Double(scalars) * 3) + rng.unit() * 0.1)
        writer.scalar(tag: "Loss/train", step: step, value: loss, wallTime: t)
        written += 1
        if step % 1000 == 0 && written + 2 <= scalars {
            writer.scalar(tag: "Loss/val", step: step, value: loss * 1.1, wallTime: t)
            writer.scalar(tag: "Accuracy/val", step: step, value: Float(rng.unit()), wallTime: t)
            written += 2
        }
        if step % 100_000 == 0 { h.write(Data(writer.take())) }
    }
    h.write(Data(writer.take()))
    h.closeFile()
    let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
    let mb = Double(bytes) / 1e6
    _ = try? Data(contentsOf: URL(fileURLWithPath: file))   // warm the page cache

    var best = Double.infinity
    var run = Run(format: .tensorBoard)
    for _ in 0..<3 {
        let t0 = now()
        run = try RunLoader.load(path: dir)
        best = min(best, now() - t0)
    }
    let points = run.batches.count + run.epochs.reduce(0) { $0 + $1.values.count }
    print(String(format: "finetop:          %.1f MB, %d scalars in %.3f s  →  %.0f MB/s, %.2f M scalars/s",
                 mb, scalars, best, mb / best, Double(scalars) / best / 1e6))
    print("                  \(run.batches.count) batch points, \(run.epochs.count) epochs (\(points) values), \(run.skippedLines) skipped records")
    // Live: records appended to the 1M-scalar file, picked up by a source that has read it all.
    // A poll bringing per-step points extends the run; one bringing an epoch's values rebuilds it
    // whole, which is what every poll cost before the run was extended in place.
    let source = try RunSource(path: dir)
    try source.poll()
    func appendAndPoll(_ write: (inout TensorBoardEventWriter) -> Void) throws -> Double {
        write(&writer)
        if let h = FileHandle(forWritingAtPath: file) {
            h.seekToEndOfFile()
            h.write(Data(writer.take()))
            h.closeFile()
        }
        let t0 = now()
        _ = try source.poll()
        _ = source.run.batches.count
        return now() - t0
    }
    var stepPolls: [Double] = []
    var epochPolls: [Double] = []
    for _ in 0..<10 {
        stepPolls.append(try appendAndPoll { w in
            for _ in 0..<100 {
                step += 1
                w.scalar(tag: "Loss/train", step: step, value: 0.5, wallTime: 1_763_900_000 + Double(step) * 0.01)
            }
        })
    }
    for _ in 0..<3 {
        epochPolls.append(try appendAndPoll { w in
            step += 1
            w.scalar(tag: "Loss/train", step: step, value: 0.5, wallTime: 1_763_900_000 + Double(step) * 0.01)
            w.scalar(tag: "Loss/val", step: step, value: 0.5, wallTime: 1_763_900_000 + Double(step) * 0.01)
        })
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    print(String(format: "live:             100 per-step records appended: poll %.2f ms (median of 10; %d batch points)",
                 median(stepPolls) * 1000, source.run.batches.count))
    print(String(format: "                  an epoch's values appended (the run rebuilt, as every poll was before): poll %.1f ms (median of 3)",
                 median(epochPolls) * 1000))
    if let python = findPython(importing: "tensorboard.backend.event_processing.event_accumulator"),
       let t = eventAccumulatorSeconds(python: python, logdir: dir, expected: scalars) {
        print(String(format: "EventAccumulator: %.3f s (%.2f M scalars/s)  →  finetop is %.1f× faster", t, Double(scalars) / t / 1e6, t / best))
    } else {
        print("EventAccumulator: no Python with `tensorboard` found (set FINETOP_PYTHON); comparison skipped")
    }
    if !keep { try? FileManager.default.removeItem(atPath: dir) } else { print("kept \(dir)") }
}

func eventAccumulatorSeconds(python: String, logdir: String, expected: Int) -> Double? {
    let script = """
        import sys, time, warnings
        warnings.filterwarnings("ignore")
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        ea = EventAccumulator(\(JSONText.string(logdir)), size_guidance={"scalars": 0})
        t = time.perf_counter()
        ea.Reload()
        elapsed = time.perf_counter() - t
        n = sum(len(ea.Scalars(tag)) for tag in ea.Tags()["scalars"])
        if n != \(expected):
            print("EventAccumulator read", n, "scalars", file=sys.stderr)
        print(elapsed)
        """
    return pythonSeconds(python: python, script: script)
}
