import Foundation
import Testing
@testable import FinetopCore

/// control.json's wave-2 fields: `learning_rate`, `unfreeze_lr_factor`, `plan` (issue 13).
@Suite struct ControlPlanTests {
    static let plan = ControlPlan(id: "gu-1", groups: [["dense_3"], ["dense_2", "dense_1"]], everyEpochs: 2, lrFactor: 0.1)

    @Test func oldFilesRoundTripByteForByte() throws {
        let old = #"{"version": 1, "revision": 7, "trainable": {"a": false, "b": true}, "stop": true, "stop_run_id": "r1"}"# + "\n"
        let parsed = try ControlFile.parse(Array(old.utf8))
        #expect(parsed.learningRate == nil && parsed.unfreezeLRFactor == nil && parsed.plan == nil)
        #expect(parsed.json == old)
    }

    @Test func newFieldsAreWrittenInAStableOrderAndReadBack() throws {
        let control = ControlFile(revision: 3, trainable: ["dense_3": true], learningRate: 1e-5, unfreezeLRFactor: 0.1,
                                  plan: Self.plan)
        #expect(control.json == #"{"version": 1, "revision": 3, "trainable": {"dense_3": true}, "stop": false, "learning_rate": 1e-05, "unfreeze_lr_factor": 0.1, "plan": {"id": "gu-1", "kind": "gradual_unfreeze", "groups": [["dense_3"], ["dense_2", "dense_1"]], "every_epochs": 2, "lr_factor": 0.1, "cancel": false}}"# + "\n")
        #expect(try ControlFile.parse(Array(control.json.utf8)) == control)
        // As Python's json writes it, in another key order, with a null factor.
        let python = #"{"plan": {"cancel": true, "lr_factor": null, "every_epochs": 1, "groups": [["x"]], "kind": "gradual_unfreeze", "id": "p"}, "learning_rate": 0.001, "version": 1, "revision": 4, "trainable": {}, "stop": false}"#
        let read = try ControlFile.parse(Array(python.utf8))
        #expect(read.learningRate == 0.001)
        #expect(read.plan == ControlPlan(id: "p", groups: [["x"]], everyEpochs: 1, lrFactor: nil, cancel: true))
    }

    @Test(arguments: [
        (#""learning_rate": 0"#, "learning_rate"), (#""learning_rate": -1e-3"#, "learning_rate"),
        (#""learning_rate": Infinity"#, "learning_rate"), (#""learning_rate": NaN"#, "learning_rate"),
        (#""learning_rate": "1e-3""#, "learning_rate"), (#""unfreeze_lr_factor": 0"#, "unfreeze_lr_factor"),
        (#""unfreeze_lr_factor": true"#, "unfreeze_lr_factor"),
        (#""plan": []"#, "plan"),
        (#""plan": {"id": "", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 1}"#, "id"),
        (#""plan": {"id": "p", "kind": "warmup", "groups": [["a"]], "every_epochs": 1}"#, "kind"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [], "every_epochs": 1}"#, "groups"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a"], []], "every_epochs": 1}"#, "groups[1]"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a", 3]], "every_epochs": 1}"#, "groups[0]"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 0}"#, "every_epochs"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 1.5}"#, "every_epochs"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 1, "lr_factor": -2}"#, "lr_factor"),
        (#""plan": {"id": "p", "kind": "gradual_unfreeze", "groups": [["a"]], "every_epochs": 1, "cancel": 1}"#, "cancel"),
    ])
    func badValuesAreRefusedWithAMessageNamingTheField(field: String, name: String) {
        let text = #"{"version": 1, "revision": 1, "trainable": {}, "stop": false, "# + field + "}"
        do {
            _ = try ControlFile.parse(Array(text.utf8))
            Issue.record("accepted \(field)")
        } catch {
            #expect(error.problem.contains(name), "\(error.problem)")
        }
    }

    @Test func aFactorAboveOneIsAPositiveRateAndAccepted() throws {
        let text = #"{"version": 1, "revision": 1, "trainable": {}, "stop": false, "unfreeze_lr_factor": 10}"#
        #expect(try ControlFile.parse(Array(text.utf8)).unfreezeLRFactor == 10)
    }

    @Test func updateMergesTheNewFieldsAndKeepsOthers() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try ControlFile.update(in: dir, ControlChange(trainable: ["a": true]))
        var now = try ControlFile.update(in: dir, ControlChange(learningRate: 1e-4))
        #expect(now.trainable == ["a": true] && now.learningRate == 1e-4 && now.revision == 2)
        now = try ControlFile.update(in: dir, ControlChange(trainable: ["b": true], unfreezeLRFactor: 0.1, plan: .some(Self.plan)))
        #expect(now.learningRate == 1e-4 && now.unfreezeLRFactor == 0.1 && now.plan == Self.plan)
        now = try ControlFile.update(in: dir, ControlChange(learningRate: .some(nil), unfreezeLRFactor: .some(nil)))
        #expect(now.learningRate == nil && now.unfreezeLRFactor == nil && now.plan == Self.plan)
        #expect(try ControlFile.read(from: dir) == now)
        // A bad value is refused before anything is written.
        #expect(throws: ReadError.self) { try ControlFile.update(in: dir, ControlChange(learningRate: 0)) }
        #expect(try ControlFile.read(from: dir) == now)
    }
}
