import Foundation
import Testing
@testable import FinetopCore

/// `layer_stats` lines into the run model (issue 15).
@Suite struct LayerStatsTests {
    static let model = #"{"type": "model", "revision": 0, "layers": [{"name": "base", "class": "Dense", "params": 10, "trainable_params": 0, "trainable": false}, {"name": "bn", "class": "BatchNorm2d", "params": 4, "trainable_params": 0, "trainable": false}, {"name": "head", "class": "Dense", "params": 5, "trainable_params": 5, "trainable": true}]}"#

    @Test func ratiosAreStoredPerLayerAndEpoch() {
        let run = builderRun([
            Self.model,
            #"{"type": "layer_stats", "epoch": 0, "update_ratio": {"base": 0.0, "bn": 0.002, "head": 0.05}, "grad_norm": {"head": 1.5}}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"base": 0.0, "bn": 0.0, "head": 0.01}}"#,
            #"{"type": "layer_stats", "epoch": 2, "update_ratio": {"head": 0.004}}"#,
        ])
        #expect(run.skippedLines == 0)
        let s = run.layerStats
        #expect(s.epochs == [0, 1, 2])
        #expect(s.names == ["base", "bn", "head"])
        #expect(s.latest("head")?.epoch == 2)
        #expect(s.latest("head").map { abs($0.ratio - 0.004) < 1e-9 } == true)
        #expect(s.latest("base")?.ratio == 0 && s.latest("base")?.epoch == 1)
        #expect(s.ratio("bn", epoch: 0).map { abs($0 - 0.002) < 1e-9 } == true)
        #expect(s.ratio("bn", epoch: 2) == nil)
        #expect(s.gradNorm("head", epoch: 0) == 1.5)
        #expect(s.gradNorm("head", epoch: 1) == nil)
        #expect(s.recentRatios("bn", epochs: 2).map { $0 == nil } == [false, true])
        #expect(s.recentRatios("bn", epochs: 2)[0] == 0)
        #expect(s.trend("head", epochs: 3) == .falling)
        #expect(s.trend("base", epochs: 3) == .steady)
        #expect(s.trend("nobody", epochs: 3) == .unknown)
    }

    @Test func aFrozenLayerThatMovedIsMarkedUsingTheFlagsWhenItWasLogged() {
        var b = RunBuilder()
        b.consume(line: Self.model)
        b.consume(line: #"{"type": "layer_stats", "epoch": 0, "update_ratio": {"base": 0.0, "bn": 0.002, "head": 0.05}}"#)
        // BatchNorm running statistics moved although nothing of it trains.
        #expect(b.run.layerStats.layersFrozenButMoved == ["bn"])
        #expect(b.run.layerStats.frozenButMoved("base") == false)
        #expect(b.run.layerStats.frozenButMoved("head") == false)
        // The job then unfreezes bn: the ratio logged before it stays "frozen but moved" until the next epoch.
        b.consume(line: Self.model.replacingOccurrences(of: #""revision": 0"#, with: #""revision": 1"#)
            .replacingOccurrences(of: #""params": 4, "trainable_params": 0, "trainable": false"#,
                                  with: #""params": 4, "trainable_params": 2, "trainable": true"#))
        #expect(b.run.layerStats.frozenButMoved("bn"))
        b.consume(line: #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"base": 0.0, "bn": 0.003, "head": 0.05}}"#)
        #expect(b.run.layerStats.layersFrozenButMoved.isEmpty)
        #expect(b.run.layerStats.modelRevisions == [0, 1])
    }

    @Test func aResumedJobReplacesLaterEpochs() {
        let run = builderRun([
            #"{"type": "layer_stats", "epoch": 0, "update_ratio": {"a": 0.1}}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": 0.2, "b": 0.3}}"#,
            #"{"type": "layer_stats", "epoch": 2, "update_ratio": {"a": 0.3, "b": 0.4}}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": 0.5}}"#,
        ])
        #expect(run.layerStats.epochs == [0, 1])
        #expect(run.layerStats.ratio("a", epoch: 1) == 0.5)
        #expect(run.layerStats.latest("b") == nil)
        #expect(run.layerStats.wasFrozenWhenLogged("a") == nil)
    }

    @Test func malformedLinesAreSkippedAndCounted() {
        let run = builderRun([
            #"{"type": "layer_stats", "update_ratio": {"a": 0.1}}"#,
            #"{"type": "layer_stats", "epoch": 1.5, "update_ratio": {"a": 0.1}}"#,
            #"{"type": "layer_stats", "epoch": 1}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": [0.1]}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": -0.1}}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": "0.1"}}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": 0.1}, "grad_norm": 3}"#,
            #"{"type": "layer_stats", "epoch": 1, "update_ratio": {"a": 0.1}"#,
            #"{"type": "layer_stats", "epoch": 2, "update_ratio": {"a": null, "b": NaN, "c": Infinity, "d": 1e-60}}"#,
        ])
        #expect(run.skippedLines == 8)
        #expect(run.layerStats.epochs == [2])
        #expect(run.layerStats.latest("a") == nil)
        #expect(run.layerStats.latest("b")?.ratio.isNaN == true)
        #expect(run.layerStats.latest("c")?.ratio == .infinity)
        // Below Float's range, but not 0: it must not read as "did not move".
        #expect((run.layerStats.latest("d")?.ratio ?? 0) > 0)
    }

    @Test func theWriterAndReaderAgree() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try RunWriter(directory: dir)
        writer.layerStats(epoch: 3, updateRatio: [("x", 0.25), ("y", 0)], gradNorm: [("x", 2)])
        let reader = EventsReader(path: dir + "/" + RunFiles.events)
        try reader.poll()
        #expect(reader.run.layerStats.ratio("x", epoch: 3) == 0.25)
        #expect(reader.run.layerStats.ratio("y", epoch: 3) == 0)
        #expect(reader.run.layerStats.gradNorm("x", epoch: 3) == 2)
    }

    @Test func manyLayersAndEpochsStayCompact() {
        var stats = LayerStats()
        let names = (0..<2_000).map { "layer_\($0)" }
        for e in 0..<50 {
            stats.append(epoch: e, ratios: names.enumerated().map { ($1, Double($0 + e) * 1e-6) })
        }
        #expect(stats.epochs.count == 50)
        #expect(stats.ratio("layer_1999", epoch: 49).map { abs($0 - 2048e-6) < 1e-9 } == true)
        // A layer first logged late costs only from its first epoch on.
        stats.append(epoch: 50, ratios: [("late", 1)])
        #expect(stats.recentRatios("late", epochs: 3) == [nil, nil, 1])
    }

    @Test func tenThousandLayersAnEpochReadQuickly() {
        let layers = (0..<10_000).map { #"{"name": "encoder.layer.\#($0 / 16).w\#($0)", "params": 100, "trainable_params": \#($0 % 2 == 0 ? 100 : 0)}"# }
        var b = RunBuilder()
        b.consume(line: #"{"type": "model", "revision": 0, "layers": ["# + layers.joined(separator: ", ") + "]}")
        let lines = (0..<20).map { e in
            #"{"type": "layer_stats", "epoch": \#(e), "update_ratio": {"#
                + (0..<10_000).map { #""encoder.layer.\#($0 / 16).w\#($0)": \#(Double($0 % 7) * 1e-4)"# }.joined(separator: ", ") + "}}"
        }
        let started = Date()
        for line in lines { b.consume(line: line) }
        let perLine = Date().timeIntervalSince(started) / Double(lines.count)
        print("layer_stats with 10,000 layers: \(Int(perLine * 1000)) ms a line")
        #expect(b.run.skippedLines == 0)
        #expect(b.run.layerStats.epochs.count == 20)
        #expect(b.run.layerStats.layersFrozenButMoved.count > 4_000)
        // Generous for a loaded debug build; ~1,000 epochs of this stay within a minute at worst.
        #expect(perLine < 0.5)
    }

    @Test func aLargeFileLoadedInTwoHalvesEqualsOneReading() throws {
        // Parallel first load: the second half's reader has no model line; absorb must give the same stats.
        var lines = [Self.model]
        for e in 0..<400 {
            lines.append(#"{"type": "layer_stats", "epoch": \#(e), "update_ratio": {"base": 0.0, "bn": 0.001, "head": \#(Double(e + 1) * 1e-4)}}"#)
        }
        let whole = builderRun(lines)
        var first = RunBuilder()
        for l in lines[..<200] { first.consume(line: l) }
        var second = RunBuilder()
        for l in lines[200...] { second.consume(line: l) }
        first.absorb(second)
        #expect(first.run.layerStats == whole.layerStats)
        #expect(first.run.layerStats.layersFrozenButMoved == ["bn"])
    }
}
