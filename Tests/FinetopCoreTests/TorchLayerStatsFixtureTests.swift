import Foundation
import Testing
@testable import FinetopCore

/// The reader against `layer_stats` lines the real PyTorch helper wrote (issue 15):
/// `Fixtures/torch_layer_stats.events.jsonl`, made by `Fixtures/make_torch_layer_stats.py`.
@Suite struct TorchLayerStatsFixtureTests {
    @Test func theTorchHelpersLinesAreReadWithTheFlagsOfTheirTime() throws {
        let reader = EventsReader(path: Fixture.path("torch_layer_stats.events.jsonl"))
        _ = try reader.poll()
        let run = reader.run
        #expect(run.skippedLines == 0)
        let s = run.layerStats
        #expect(s.epochs == [0, 1, 2, 3])
        // The model line's row names, every row with weights.
        #expect(s.names == ["0", "1", "3", "4", "8"])
        // Conv 0 frozen for epochs 0–1 (exactly 0), unfrozen at the end of epoch 1: it moves after.
        #expect(s.ratio("0", epoch: 0) == 0 && s.ratio("0", epoch: 1) == 0)
        #expect((s.ratio("0", epoch: 2) ?? 0) > 0 && (s.ratio("0", epoch: 3) ?? 0) > 0)
        // Conv 3 trained, then frozen at the same toggle: exactly 0 from epoch 2.
        #expect((s.ratio("3", epoch: 1) ?? 0) > 0)
        #expect(s.ratio("3", epoch: 2) == 0 && s.ratio("3", epoch: 3) == 0)
        #expect(s.modelRevisions == [0, 0, 1, 1])
        // BatchNorm 1 was frozen with hold_norm_stats=False: its running statistics moved while
        // nothing of it trained, and the reader says so, until the toggle unfroze it.
        #expect((s.ratio("1", epoch: 0) ?? 0) > 0)
        #expect(s.layersFrozenButMoved.isEmpty)  // its latest value was logged once unfrozen
        #expect(s.frozenButMoved("3") == false)
    }

    @Test func beforeTheToggleTheMovedFrozenBatchNormIsMarked() throws {
        let path = Fixture.path("torch_layer_stats.events.jsonl")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var b = RunBuilder()
        for line in text.split(separator: "\n") {
            b.consume(line: String(line))
            if line.contains(#""type": "layer_stats", "epoch": 1"#) { break }
        }
        #expect(b.run.layerStats.epochs == [0, 1])
        #expect(b.run.layerStats.layersFrozenButMoved == ["1"])
    }
}
