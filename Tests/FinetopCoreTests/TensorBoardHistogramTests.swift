import Foundation
import Testing
@testable import FinetopCore

/// Issue 15: weight histograms in a TensorBoard log (a real PyTorch job's
/// `SummaryWriter.add_histogram`, Fixtures/tensorboard/make_histograms.py) give a per-layer signal
/// for runs without a helper: the relative change of each layer's weight norm, from the
/// histograms' sums of squares, marked as such (a lower bound of the update ratio, never shown as it).
@Suite struct TensorBoardHistogramTests {
    struct Expected: Decodable { var norm_change: Double; var update_ratio: Double }

    @Test func histogramsGiveEachLayersNormChangeAsALowerBound() throws {
        let run = try RunLoader.load(path: Fixture.path("tensorboard/histograms"))
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("tensorboard/histograms_expected.json")))
        let expected = try JSONDecoder().decode([String: [String: Expected]].self, from: data)
        let stats = run.layerStats
        #expect(stats.measure == .weightNormChange)
        #expect(run.epochs.count == 5)
        #expect(stats.epochs == [1, 2, 3, 4])
        // Layers by module name; the TF2-style bucketed histogram has no sum of squares: left out.
        #expect(Set(stats.names) == ["frozen", "bn", "head"])
        for (epochText, layers) in expected {
            let epoch = try #require(Int(epochText))
            for (layer, want) in layers {
                let got = try #require(stats.ratio(layer, epoch: epoch), "\(layer) at epoch \(epoch)")
                // Float32 sums of squares in the histogram: equal to the norms' change to ~1e-6.
                #expect(abs(got - want.norm_change) < 2e-6, "\(layer) at epoch \(epoch): \(got) vs \(want.norm_change)")
                #expect(got <= want.update_ratio + 2e-6, "a lower bound of the update ratio")
            }
        }
        // The frozen layer's weights never change: exactly 0 at every epoch; the trained ones move.
        #expect(stats.epochs.allSatisfy { stats.ratio("frozen", epoch: $0) == 0 })
        #expect(stats.epochs.allSatisfy { (stats.ratio("head", epoch: $0) ?? 0) > 0 })
    }

    @Test func histogramTagsGroupByLayer() {
        #expect(TensorBoardHistograms.layerName("layer1.0.conv1.weight") == "layer1.0.conv1")
        #expect(TensorBoardHistograms.layerName("dense_1/kernel/histogram") == "dense_1")
        #expect(TensorBoardHistograms.layerName("bn.running_mean") == "bn")
        #expect(TensorBoardHistograms.layerName("weights") == "weights")
        #expect(TensorBoardHistograms.layerName("weight") == "weight")
    }

    /// Histograms arriving while the run is followed rebuild it (they are rare: once per epoch),
    /// and the followed run equals a fresh load.
    @Test func followedHistogramsMatchAFreshLoad() throws {
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: Fixture.path("tensorboard/histograms")).first)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.path("tensorboard/histograms/" + file))))
        let dir = makeTempDir("tb-hist-live")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + file
        let logdir = TensorBoardLogdir(path: dir)
        var at = 0
        while at < bytes.count {
            let next = min(at + 7001, bytes.count)
            append(bytes: Array(bytes[at..<next]), to: path)
            at = next
            try logdir.poll()
        }
        #expect(logdir.run == (try RunLoader.load(path: dir)))
        #expect(logdir.run.layerStats.epochs == [1, 2, 3, 4])
    }
}
