import Foundation
import Testing
@testable import FinetopCore
import FinetopTestSupport

/// Issue 12: a TensorBoard logdir followed live reads only what was appended and extends the run
/// in place, instead of rebuilding it from every point on each poll (~180 ms at 1M points). The
/// run after every poll must equal a fresh load of the same bytes, whichever path built it.
@Suite struct TensorBoardLiveTests {
    /// One event as SummaryWriter writes it.
    struct Point { var dir = ""; var tag: String; var step: Int64; var value: Float }

    /// Writes `points` in chunks of varying size (records split mid-way too), polls after each
    /// chunk, and checks the followed run against a fresh load. Returns (appends, rebuilds).
    func follow(_ points: [Point], chunk: Int, name: String) throws -> (appends: Int, rebuilds: Int) {
        let dir = makeTempDir("tb-incremental-" + name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files: [String: [UInt8]] = [:]
        for p in points where files[p.dir] == nil {
            var w = TensorBoardEventWriter()
            w.fileVersion(wallTime: 0)
            files[p.dir] = w.take()
        }
        // Interleave the files' bytes in arrival order, each file its own record stream.
        var stream: [(file: String, bytes: [UInt8])] = []
        for (d, header) in files.sorted(by: { $0.key < $1.key }) { stream.append((d, header)) }
        for p in points {
            var w = TensorBoardEventWriter()
            w.scalar(tag: p.tag, step: p.step, value: p.value, wallTime: Double(p.step))
            stream.append((p.dir, w.take()))
        }
        for d in files.keys where !d.isEmpty { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        func path(_ d: String) -> String { (d.isEmpty ? dir : dir + "/" + d) + "/events.out.tfevents.1763900000.finetop.1.0" }
        let logdir = TensorBoardLogdir(path: dir)
        var k = 0
        var round = 0
        while k < stream.count {
            let n = 1 + (round * 7919) % chunk
            for item in stream[k..<min(k + n, stream.count)] { append(bytes: item.bytes, to: path(item.file)) }
            k += n
            // Half a record more, finished next round: a record being written waits.
            var split: (String, [UInt8])?
            if k < stream.count && round % 3 == 0 {
                let item = stream[k]
                append(bytes: Array(item.bytes.prefix(item.bytes.count / 2)), to: path(item.file))
                split = (item.file, Array(item.bytes.dropFirst(item.bytes.count / 2)))
                k += 1
            }
            try logdir.poll()
            let fresh = try RunLoader.load(path: dir)
            #expect(logdir.run == fresh, "after round \(round) of \(name)")
            if logdir.run != fresh { break }
            if let (f, rest) = split { append(bytes: rest, to: path(f)) }
            round += 1
        }
        try logdir.poll()
        #expect(logdir.run == (try RunLoader.load(path: dir)))
        return logdir.updates
    }

    /// PyTorch: `Loss/train` and `lr` every step, `Loss/val` and `Accuracy/val` every 100 steps.
    @Test func pytorchPerStepLossIsAppendedNotRebuilt() throws {
        var points: [Point] = []
        for s in 1...3000 {
            points.append(Point(tag: "Loss/train", step: Int64(s), value: 2 / Float(s)))
            if s % 3 == 0 { points.append(Point(tag: "lr", step: Int64(s), value: 0.1)) }
            if s % 100 == 0 {
                points.append(Point(tag: "Loss/val", step: Int64(s), value: 3 / Float(s)))
                points.append(Point(tag: "Accuracy/val", step: Int64(s), value: Float(s) / 3000))
            }
        }
        let (appends, rebuilds) = try follow(points, chunk: 60, name: "pytorch")
        // A rebuild when an evaluation arrives (30 of them), else appends, also when a poll falls
        // between a step's `Loss/train` and its `lr` (the late value fills the last batch point).
        #expect(rebuilds <= 30 + 3 && appends > 2 * rebuilds, "appends \(appends), rebuilds \(rebuilds)")
    }

    /// Without validation a training series is per epoch up to 1,000 points, then per step.
    @Test func seriesThatBecomesPerStepIsRebuiltThenAppended() throws {
        let points = (1...1600).map { Point(tag: "train_loss", step: Int64($0), value: 1 / Float($0)) }
        let (appends, rebuilds) = try follow(points, chunk: 40, name: "noval")
        #expect(appends > 0 && rebuilds > 0)
    }

    /// Lightning: `train_loss_step` and the `epoch` counter every step, `*_epoch` and `val_loss` at epoch ends.
    @Test func lightningStepAndEpochSeries() throws {
        var points: [Point] = []
        for s in 0..<1200 {
            points.append(Point(tag: "train_loss_step", step: Int64(s), value: 1 / Float(s + 1)))
            points.append(Point(tag: "epoch", step: Int64(s), value: Float(s / 200)))
            if s % 200 == 199 {
                points.append(Point(tag: "val_loss", step: Int64(s), value: 2 / Float(s)))
                points.append(Point(tag: "train_loss_epoch", step: Int64(s), value: 1.5 / Float(s)))
            }
        }
        let (appends, rebuilds) = try follow(points, chunk: 30, name: "lightning")
        #expect(appends > rebuilds)
    }

    /// Keras: `batch_loss` per step in train/, `epoch_loss` against the epoch number, validation/'s
    /// `evaluation_loss_vs_iterations`.
    @Test func kerasBatchAndEpochSeries() throws {
        var points: [Point] = []
        for s in 1...600 {
            points.append(Point(dir: "train", tag: "batch_loss", step: Int64(s), value: 1 / Float(s)))
            if s % 100 == 0 {
                let e = Int64(s / 100 - 1)
                points.append(Point(dir: "train", tag: "epoch_loss", step: e, value: 1 / Float(s)))
                points.append(Point(dir: "validation", tag: "evaluation_loss_vs_iterations", step: Int64(s), value: 1.2 / Float(s)))
                points.append(Point(dir: "validation", tag: "epoch_loss", step: e, value: 1.2 / Float(s)))
            }
        }
        let (appends, rebuilds) = try follow(points, chunk: 25, name: "keras")
        #expect(appends > rebuilds)
    }

    /// A job restarted from a checkpoint logs steps again: the points from there on are replaced,
    /// which the append path must not miss.
    @Test func restartedStepsRebuild() throws {
        var points: [Point] = []
        for s in 1...1500 { points.append(Point(tag: "Loss/train", step: Int64(s), value: 1)) }
        for s in 1200...2000 { points.append(Point(tag: "Loss/train", step: Int64(s), value: 0.5)) }
        for s in stride(from: 250, through: 2000, by: 250) { points.append(Point(tag: "Loss/val", step: Int64(s), value: 0.7)) }
        _ = try follow(points, chunk: 50, name: "restart")
    }
}
