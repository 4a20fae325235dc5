import Foundation
import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// The "After N pending" totals and the diagnosis's "unfreeze the last N: +X" use the one rule in
/// Core; checked on a real PyTorch model line, where the dashboard used to halve BatchNorm2d.
@Suite struct PendingTotalsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../FinetopCoreTests/Fixtures").standardized.path

    func run(_ name: String) throws -> Run {
        let reader = EventsReader(path: Self.fixtures + "/" + name, format: .runDirectory)
        _ = try reader.poll()
        return reader.run
    }

    @Test func pendingUnfreezeOfAPyTorchBatchNorm2dCountsAllItsParams() throws {
        let before = try run("torch_mobilenetlike_before.events.jsonl")
        let after = try run("torch_mobilenetlike_after.events.jsonl")
        let s = TestRuns.state(before, control: ControlFile(revision: 1, trainable: ["features.18.0": true, "features.18.1": true]))
        #expect(s.pendingCount == 2)
        // The numbers: predicted +410,880, applied +412,160.
        #expect(s.trainableAfterPending - (before.model?.totals.trainable ?? 0) == 412_160)
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/torch_mobilenetlike_unfreeze.json"))
        let names = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["unfreeze"] as? [String])
        let all = TestRuns.state(before, control: ControlFile(revision: 1, trainable: Dictionary(uniqueKeysWithValues: names.map { ($0, true) })))
        #expect(all.trainableAfterPending == after.model?.totals.trainable)
    }

    @Test func diagnosisAndDashboardAgreeOnTheSameUnfreeze() throws {
        for fixture in ["torch_mobilenetlike_before.events.jsonl", "mobilenetv2_224_frozen.events.jsonl"] {
            let r = try run(fixture)
            let model = try #require(r.model)
            let plan = try #require(LayerPlan.unfreezeLast(12, of: model))
            let s = TestRuns.state(r, control: ControlFile(revision: 1, trainable: plan.flags))
            #expect(s.trainableAfterPending == plan.trainableAfter, "\(fixture)")
        }
    }
}
