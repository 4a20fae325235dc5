import Foundation
import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// Issue 13's dashboard moves: the learning rate (header, `r`, `+`/`-`), `u` with a rate for what
/// it unfreezes, `a` doing flags and rate in one revision, gradual unfreezing (`p`, `P`) and
/// Keras's apply now (`!`). Writes go through the real `ControlFile.update` in a temporary run
/// directory, as the event loop does, and come back as `.controlWritten`.
@Suite struct TuningTests {
    /// A small model whose blocks are `block_1` … `block_4` (frozen) under a trainable head.
    static func blockModel() -> LayerTable {
        func l(_ name: String, _ cls: String, _ params: Int, _ on: Bool) -> Layer {
            Layer(name: name, className: cls, params: params, trainableParams: on ? params : 0, trainable: on || params == 0)
        }
        var rows: [Layer] = [l("input_layer", "InputLayer", 0, false)]
        for b in 1...4 {
            rows += [l("block_\(b)_conv", "Conv2D", 100 * b, false), l("block_\(b)_bn", "BatchNormalization", 8, false),
                     l("block_\(b)_relu", "ReLU", 0, false)]
        }
        rows += [l("pool", "GlobalAveragePooling2D", 0, false), l("head", "Dense", 50, true)]
        return LayerTable(revision: 0, layers: rows)
    }

    /// A live run of `framework` with `epochs` epoch lines reporting `rate` (nil: no rate in them).
    static func run(_ framework: String, epochs: Int = 3, rate: Double? = 1e-3, hparamsRate: Double? = 1e-3) -> Run {
        var run = Run(format: .runDirectory)
        run.info = RunInfo(framework: framework, frameworkVersion: "1", runID: "job-1", started: 1_763_900_000,
                           hparams: HParams(optimizer: "adam", learningRate: hparamsRate, batchSize: 32, epochs: 30))
        run.model = blockModel()
        for e in 0..<epochs {
            var values = ["loss": 1.0 / Double(e + 1), "val_loss": 1.2 / Double(e + 1)]
            if let rate { values["learning_rate"] = rate }
            run.epochs.append(EpochRecord(epoch: e, values: values))
        }
        return run
    }

    /// A dashboard on `run` steering a fresh run directory.
    struct Harness {
        var state: AppState
        let dir: String
        var writes: [ControlChange] = []

        init(_ run: Run, width: Int = 120, height: Int = 40) {
            dir = NSTemporaryDirectory() + "finetop-tuning-\(UUID().uuidString)"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            state = TestRuns.state(run, width: width, height: height, pinDiagnosis: true)
        }

        /// Keys through the reducer; each write is merged into control.json and reported back.
        mutating func press(_ keys: [Key]) throws {
            for k in keys { try send(.key(k)) }
        }

        mutating func type(_ text: String) throws { try press(text.map { Key.char($0) }) }

        mutating func send(_ event: Event) throws {
            let (next, effects) = reduce(state, event)
            state = next
            for case .writeControl(let change) in effects {
                writes.append(change)
                let file = try ControlFile.update(in: dir, change)
                state = reduce(state, .controlWritten(file, change)).0
            }
        }

        var file: ControlFile? { try? ControlFile.read(from: dir) }

        /// The job answers `revision` (and optionally reports a new model and epoch).
        mutating func ack(_ revision: Int, _ status: ControlAck.Status = .applied, changed: [String] = [], message: String,
                          unfreeze: [String] = [], epochRate: Double?? = nil) throws {
            var run = state.run
            run.acks.append(ControlAck(revision: revision, status: status, changed: changed, message: message))
            if !unfreeze.isEmpty, var model = run.model {
                for i in model.layers.indices where unfreeze.contains(model.layers[i].name) {
                    model.layers[i].trainable = true
                    model.layers[i].trainableParams = model.layers[i].params
                }
                model.revision += 1
                run.model = model
            }
            if case .some(let rate) = epochRate {
                var values = ["loss": 0.1, "val_loss": 0.2]
                if let rate { values["learning_rate"] = rate }
                run.epochs.append(EpochRecord(epoch: run.epochs.count, values: values))
            }
            try send(.runUpdated(run, lastWrite: nil))
        }

        var header: String { render(state).lines[0] }
        var bottom: String { render(state).lines[state.height - 1] }
        var screen: String { render(state).lines.joined(separator: "\n") }

        func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }
    }

    // MARK: - The rate in the header

    @Test func headerShowsTheLatestEpochRateElseTheHyperParameters() {
        var s = TestRuns.state(Self.run("keras", rate: 5e-4), width: 120, height: 40)
        #expect(s.currentRate == 5e-4)
        #expect(render(s).lines[0].contains("lr 0.0005"))
        s.run = Self.run("keras", rate: nil, hparamsRate: 2e-5)
        #expect(render(s).lines[0].contains("lr 2e-05"))
        // `lr` (PyTorch's usual name) counts too.
        var run = Self.run("pytorch", rate: nil, hparamsRate: nil)
        run.epochs[2].values["lr"] = 0.01
        s.run = run
        #expect(s.currentRate == 0.01)
        s.run = Self.run("pytorch", rate: nil, hparamsRate: nil)
        #expect(s.currentRate == nil)
        #expect(!render(s).lines[0].contains("lr "))
    }

    // MARK: - r, + and -

    @Test func typedRateIsPendingThenAppliedThenReported() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        try h.press([.char("r")])
        #expect(h.bottom.contains("learning rate: _ (now 0.001)"))
        try h.type("1e-5")
        #expect(h.bottom.contains("learning rate: 1e-5_"))
        try h.press([.enter])
        let file = try #require(h.file)
        #expect(file.learningRate == 1e-5)
        #expect(file.revision == 1)
        #expect(h.state.ratePending)
        #expect(h.header.contains("lr 0.001→1e-05 pending"), "\(h.header)")
        #expect(h.state.message?.text.contains("learning rate 0.001 → 1e-05 · pending (revision 1)") == true)

        // The job applies it at once: the header shows it before any epoch line reports it.
        try h.ack(1, message: "learning rate 0.001 -> 1e-05 from batch 4 of epoch 4 (applied at once, no recompile needed)")
        #expect(!h.state.ratePending)
        #expect(h.header.contains("lr 1e-05") && !h.header.contains("pending"))
        // The next epoch line reports the job's own rate, which wins from now on.
        try h.ack(1, message: "again", epochRate: .some(1e-5))
        #expect(h.state.currentRate == 1e-5)
        try h.ack(1, message: "again", epochRate: .some(3e-6))
        #expect(h.header.contains("lr 3e-06"))
    }

    /// Seen on a real Keras job: the epoch line before the applied rate must not be taken for the rate now.
    @Test func aSecondChangeStartsFromTheAppliedRateNotAnOlderEpochLine() throws {
        var h = Harness(Self.run("keras", rate: 1e-4))
        defer { h.cleanUp() }
        try h.press([.char("-")])
        try h.ack(1, message: "learning rate 0.0001 -> 1e-05 from batch 3 of epoch 4 (applied at once, no recompile needed)")
        #expect(h.header.contains("lr 1e-05"))
        try h.press([.char("+")])
        #expect(h.header.contains("lr 1e-05→0.0001 pending"), "\(h.header)")
        try h.ack(2, message: "learning rate 1e-05 -> 0.0001 from batch 9 of epoch 4 (applied at once, no recompile needed)")
        #expect(h.header.contains("lr 0.0001") && !h.header.contains("pending"))
        #expect(h.state.message?.text.hasPrefix("job applied revision 2: learning rate 1e-05 -> 0.0001") == true)
    }

    @Test func aRejectedRateFallsBackToTheReportedOne() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        try h.press([.char("r")])
        try h.type("0.5")
        try h.press([.enter])
        try h.ack(1, .rejected, message: "the model has no optimizer")
        #expect(!h.state.ratePending)
        #expect(h.header.contains("lr 0.001"))
        #expect(h.state.message?.kind == .error)
    }

    @Test func badValuesAreRefusedAndNothingIsWritten() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        for bad in ["abc", "-1e-3", "0", "inf", "nan", ""] {
            try h.press([.char("r")])
            try h.type(bad)
            try h.press([.enter])
            #expect(h.state.message?.kind == .warning, "\(bad)")
            #expect(h.state.tuning.prompt == nil)
        }
        // esc drops what was typed.
        try h.press([.char("r")])
        try h.type("1e-4")
        try h.press([.escape])
        #expect(h.writes.isEmpty)
        #expect(h.file == nil)
    }

    @Test func timesAndDividedByTenCompoundWhilePending() throws {
        var h = Harness(Self.run("demo"))
        defer { h.cleanUp() }
        try h.press([.char("-")])
        #expect(h.file?.learningRate == 1e-4)
        try h.press([.char("-")])
        // From the pending 1e-4, not the reported 1e-3.
        #expect(h.file?.learningRate == 1e-5)
        try h.press([.char("+"), .char("=")])
        #expect(h.file?.learningRate.map { abs($0 - 1e-3) < 1e-12 } == true)
        #expect(h.file?.revision == 4)
    }

    @Test func scalingNeedsAKnownRate() throws {
        var h = Harness(Self.run("pytorch", rate: nil, hparamsRate: nil))
        defer { h.cleanUp() }
        try h.press([.char("+")])
        #expect(h.writes.isEmpty)
        #expect(h.state.message?.text.contains("r sets one") == true)
    }

    // MARK: - u, U and a

    @Test func unfreezeOnPyTorchGivesTheUnfrozenLayersTheirOwnRate() throws {
        var h = Harness(Self.run("pytorch"))
        defer { h.cleanUp() }
        try h.press([.char("G"), .up, .up, .up, .up, .char("u")])   // block_4_conv … head
        let file = try #require(h.file)
        #expect(file.trainable == ["block_4_conv": true, "block_4_bn": true])
        #expect(file.unfreezeLRFactor == 0.1)
        #expect(file.learningRate == nil)
        #expect(h.state.message?.text.contains("at the head's rate ÷10 (0.0001)") == true)
        // A later toggle is at the head's rate: the factor is about one revision.
        try h.press([.char("g"), .down, .char(" ")])
        #expect(try #require(h.file).unfreezeLRFactor == nil)
        #expect(h.file?.trainable["block_1_conv"] == true)
    }

    @Test func unfreezeOnKerasSetsTheWholeRateInTheSameRevision() throws {
        var h = Harness(Self.run("keras", rate: 1e-4))
        defer { h.cleanUp() }
        try h.press([.char("G"), .up, .up, .up, .up, .up, .up, .up, .char("u")])
        #expect(h.writes.count == 1)
        let file = try #require(h.file)
        #expect(file.trainable == ["block_3_conv": true, "block_3_bn": true, "block_4_conv": true, "block_4_bn": true])
        #expect(file.learningRate == 1e-5)
        #expect(file.unfreezeLRFactor == nil)
        let text = try #require(h.state.message?.text)
        #expect(text.contains("set the rate 0.0001 → 1e-05 (Keras: one rate for all layers)"), "\(text)")
        #expect(text.contains("Keras applies it at the end of epoch 4 (! applies now)"), "\(text)")
        #expect(h.header.contains("lr 0.0001→1e-05 pending"))
    }

    @Test func capitalUUnfreezesWithTheRateUnchanged() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        try h.press([.char("G"), .up, .up, .up, .up, .char("U")])
        let file = try #require(h.file)
        #expect(file.trainable == ["block_4_conv": true, "block_4_bn": true])
        #expect(file.learningRate == nil && file.unfreezeLRFactor == nil)
    }

    @Test func applyingTheLowerRateSuggestionWritesFlagsAndRateInOneRevision() throws {
        for (framework, wantsRate, wantsFactor) in [("keras", 1e-4 as Double?, nil as Double?), ("transformers", nil, 0.1)] {
            var h = Harness(Self.run(framework))
            defer { h.cleanUp() }
            let flags = ["block_4_conv": true, "block_4_bn": true]
            h.state.report = DiagnosisReport(current: Diagnosis(
                label: .fit, sinceEpoch: 1, confidence: 0.8, epochs: 3, evidence: [],
                suggestions: [Suggestion(id: "unfreeze_lower_lr", text: "unfreeze the last 2 frozen layers, and recompile with a 10× smaller learning rate",
                                         action: .setTrainable(flags), rateFactor: 0.1)]), history: [])
            try h.press([.char("a")])
            #expect(h.writes.count == 1)
            let file = try #require(h.file)
            #expect(file.revision == 1)
            #expect(file.trainable == flags)
            #expect(file.learningRate == wantsRate, "\(framework)")
            #expect(file.unfreezeLRFactor == wantsFactor, "\(framework)")
        }
    }

    // MARK: - Gradual unfreezing

    @Test func planWalksBackFromTheLastBlockToTheCursorsBlock() throws {
        var h = Harness(Self.run("demo"))
        defer { h.cleanUp() }
        // The cursor on block_2_bn: the plan reaches block_2, and not block_1.
        try h.press([.char("g"), .down, .down, .down, .down, .down, .char("p")])
        guard case .planEvery(_, let groups, let blocks)? = h.state.tuning.prompt else {
            Issue.record("no plan prompt")
            return
        }
        #expect(blocks == ["block_4", "block_3", "block_2"])
        #expect(groups == [["block_4_conv", "block_4_bn"], ["block_3_conv", "block_3_bn"], ["block_2_conv", "block_2_bn"]])
        #expect(h.bottom.contains("every K epochs, K: _ · unfreeze 3 blocks (block_4 back to block_2), each at rate ÷10"), "\(h.bottom)")
        try h.type("2")
        try h.press([.enter])
        let plan = try #require(h.file?.plan)
        #expect(plan.id == "unfreeze-r1")
        #expect(plan.groups == groups)
        #expect(plan.everyEpochs == 2)
        #expect(plan.lrFactor == 0.1)
        #expect(!plan.cancel)
        #expect(h.header.contains("plan 0/3 sent"))
    }

    @Test func planProgressFollowsTheJobsControlLinesAndCancels() throws {
        var h = Harness(Self.run("demo"))
        defer { h.cleanUp() }
        try h.press([.char("p"), .enter])
        let plan = try #require(h.file?.plan)
        #expect(plan.groups.count == 4 && plan.everyEpochs == 1)
        try h.ack(1, message: "plan unfreeze-r1: 4 steps, one every 1 epoch, the first now")
        #expect(h.header.contains("plan 0/4"))
        try h.ack(1, changed: ["block_4_conv", "block_4_bn"],
                  message: "plan unfreeze-r1: step 1/4: unfroze block_4_conv, block_4_bn at rate × 0.1 from epoch 4",
                  unfreeze: ["block_4_conv", "block_4_bn"], epochRate: .some(1e-3))
        #expect(h.header.contains("plan 1/4"))
        // The step's own words, not "job applied revision 1".
        #expect(h.state.message?.text.hasPrefix("plan unfreeze-r1: step 1/4: unfroze") == true)
        // A second p while it runs does not start another.
        try h.press([.char("p")])
        #expect(h.state.tuning.prompt == nil)
        #expect(h.state.message?.text.contains("P cancels it first") == true)
        // A toggle meanwhile keeps the plan in control.json (the job would end a plan missing from it).
        try h.press([.char("g"), .down, .char(" ")])
        #expect(h.file?.plan == plan)
        try h.press([.char("P")])
        #expect(h.file?.plan?.cancel == true)
        #expect(h.file?.plan?.id == plan.id)
        #expect(h.header.contains("plan 1/4 cancelling"))
        try h.ack(3, message: "plan unfreeze-r1 cancelled after step 1/4")
        #expect(h.header.contains("plan cancelled at 1/4"))
        try h.press([.char("P")])
        #expect(h.state.message?.text == "no plan is running")
    }

    @Test func planFinishesAfterItsLastStep() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        try h.press([.char("g"), .down, .down, .down, .down, .down, .down, .down, .char("p"), .enter])
        let plan = try #require(h.file?.plan)
        #expect(plan.groups.count == 2)
        // Keras says how it moves the rate: the whole optimizer's.
        #expect(h.state.message?.text.contains("the whole rate ÷10 each step") == true)
        // The plan moves the rate itself: no stale learning_rate stays in control.json.
        #expect(h.file?.learningRate == nil)
        try h.ack(1, message: "plan unfreeze-r1 accepted: 2 steps, one group every 1 epoch, the first at the end of epoch 3")
        try h.ack(1, message: "plan unfreeze-r1: step 1/2: unfroze block_4_conv, block_4_bn at the end of epoch 3; next step at the end of epoch 4")
        try h.ack(1, message: "plan unfreeze-r1: step 2/2: unfroze block_3_conv, block_3_bn at the end of epoch 4; plan finished")
        #expect(h.header.contains("plan 2/2 done"))
        #expect(h.state.planProgress?.state == .finished)
    }

    @Test func aRejectedPlanShowsFailed() throws {
        var h = Harness(Self.run("pytorch"))
        defer { h.cleanUp() }
        try h.press([.char("p"), .char("x"), .enter])
        #expect(h.writes.isEmpty)
        #expect(h.state.message?.text.contains("not a number of epochs") == true)
        try h.press([.char("p"), .enter])
        try h.ack(1, .rejected, message: "this revision asks for \"plan\", which the PyTorch helper does not carry out yet")
        guard case .failed? = h.state.planProgress?.state else {
            Issue.record("plan not failed: \(String(describing: h.state.planProgress))")
            return
        }
        #expect(h.header.contains("plan failed at 0/4"))
    }

    // MARK: - Keras apply now

    @Test func kerasTogglesWaitForTheEpochEndUnlessAppliedNow() throws {
        var h = Harness(Self.run("keras"))
        defer { h.cleanUp() }
        #expect(KeyBindings.nothingToApplyNow(h.state) != nil)
        try h.press([.char("!")])
        #expect(h.writes.isEmpty)
        try h.press([.char("g"), .down, .char(" ")])
        #expect(h.header.contains("applying at end of epoch 4 (! now)"), "\(h.header)")
        #expect(h.file?.applyNow == false)
        try h.press([.char("!")])
        let file = try #require(h.file)
        #expect(file.applyNow)
        #expect(file.revision == 2)
        #expect(file.trainable == ["block_1_conv": true])
        // The next write does not ask again.
        try h.press([.down, .char(" ")])
        #expect(h.file?.applyNow == false)
        try h.ack(3, changed: ["block_1_conv", "block_1_bn"], message: "epoch 3 ended early after batch 5 as asked (apply_now)",
                  unfreeze: ["block_1_conv", "block_1_bn"])
        #expect(!h.header.contains("applying at end"))
    }

    @Test func applyNowIsKerasOnly() {
        let s = TestRuns.state(Self.run("pytorch"))
        let (after, effects) = TestRuns.press(s, [.char("g"), .down, .char(" "), .char("!")])
        #expect(effects.count == 1)
        #expect(after.message?.text.contains("apply now is for Keras") == true)
        #expect(!render(after).lines[0].contains("applying at end"))
    }

    @Test func readOnlyRunsRefuseEveryTuningKey() {
        let s = TestRuns.state(Self.run("keras"), readOnly: "a CSV log")
        for key in ["r", "+", "-", "u", "U", "p", "!"] {
            let (after, effects) = TestRuns.press(s, [.char(Character(key))])
            #expect(effects.isEmpty, "\(key)")
            #expect(after.message?.text.contains("a CSV log") == true, "\(key)")
            #expect(after.tuning.prompt == nil)
        }
    }

    @Test func aFailedWriteDropsThePendingRate() throws {
        var s = TestRuns.state(Self.run("keras"))
        var effects: [Effect] = []
        (s, effects) = TestRuns.press(s, [.char("-")])
        #expect(s.ratePending)
        guard case .writeControl(let change)? = effects.first else {
            Issue.record("no write")
            return
        }
        s = reduce(s, .controlFailed("disk full", change)).0
        #expect(!s.ratePending)
        #expect(s.message?.text.contains("the change was NOT sent") == true)
        #expect(render(s).lines[0].contains("lr 0.001"))
    }

    @Test func anotherDashboardsRateAndPlanShow() {
        var s = TestRuns.state(Self.run("demo"))
        let plan = ControlPlan(id: "theirs", groups: [["block_4_conv"]], everyEpochs: 1, lrFactor: 0.1)
        s = reduce(s, .controlRead(ControlFile(revision: 5, learningRate: 2e-4, plan: plan))).0
        #expect(s.tuning.rate == 2e-4 && s.ratePending)
        #expect(s.planProgress?.id == "theirs")
        // And a dashboard started later picks them up from the file.
        let t = TestRuns.state(Self.run("demo"), control: ControlFile(revision: 5, learningRate: 2e-4, plan: plan))
        #expect(t.tuning == TuningState(existing: ControlFile(revision: 5, learningRate: 2e-4, plan: plan)))
        #expect(t.ratePending)
    }
}

/// The header's rate and plan, Keras's wait for the epoch end, and the prompts, as whole screens.
@Suite struct TuningSnapshotTests {
    /// A Keras run at 1e-4 with a plan at step 1/3, the rate ÷10 pending and a toggle waiting for the epoch end.
    static func steering(width: Int, height: Int) throws -> TuningTests.Harness {
        var h = TuningTests.Harness(TuningTests.run("keras", rate: 1e-4), width: width, height: height)
        h.state.now = 1_763_900_100
        try h.press([.char("g"), .down, .down, .down, .down, .char("p"), .char("1"), .enter])
        try h.ack(1, message: "plan unfreeze-r1 accepted: 3 steps, one group every 1 epoch, the first at the end of epoch 4")
        try h.ack(1, changed: ["block_4_conv", "block_4_bn"],
                  message: "plan unfreeze-r1: step 1/3: unfroze block_4_conv, block_4_bn at the end of epoch 4; "
                      + "learning rate x 0.1: 0.0001 -> 1e-05 for the whole optimizer (Keras has one rate); next step at the end of epoch 5",
                  unfreeze: ["block_4_conv", "block_4_bn"], epochRate: .some(1e-5))
        try h.press([.char("g"), .down, .char(" "), .char("-")])
        h.state.message = nil
        // The classifier's wording is not what these screens are about.
        h.state.report = TestRuns.pinnedReport(h.state.run)
        return h
    }

    @Test(arguments: [(80, 24), (200, 60)]) func kerasRatePlanAndWait(width: Int, height: Int) throws {
        let h = try Self.steering(width: width, height: height)
        defer { h.cleanUp() }
        assertSnapshot("tuning_keras_\(width)x\(height)", h.state)
    }

    @Test func planPromptAt80x24() throws {
        var h = TuningTests.Harness(TuningTests.run("pytorch"), width: 80, height: 24)
        defer { h.cleanUp() }
        try h.press([.char("p"), .char("2")])
        assertSnapshot("tuning_plan_prompt_80x24", h.state)
    }

    @Test func ratePromptAt80x24() throws {
        var h = TuningTests.Harness(TuningTests.run("pytorch"), width: 80, height: 24)
        defer { h.cleanUp() }
        try h.press([.char("r")])
        try h.type("3e-5")
        assertSnapshot("tuning_rate_prompt_80x24", h.state)
    }
}

/// The header keeps a running job's pid unless dropping it lets the plan show.
@Suite struct TuningHeaderTests {
    @Test func pidGivesWayOnlyWhenThatShowsMore() {
        var s = TestRuns.state(TuningTests.run("keras"), width: 80, height: 24, name: "run")
        s.job = JobView(pid: 31_337, ctrlCInterruptsJob: true)
        #expect(render(s).lines[0].contains("lr 0.001 · pid 31337"))
        s.tuning.plan = ControlPlan(id: "p", groups: [["block_4_conv"], ["block_3_conv"], ["block_2_conv"]])
        s.tuning.planAt = 1
        let header = render(s).lines[0]
        #expect(header.contains("lr 0.001 · plan 0/3 sent") && !header.contains("pid"), "\(header)")
        // Without a plan, nothing more would fit without the pid: it stays.
        s.tuning.plan = nil
        #expect(render(s).lines[0].contains("pid 31337"))
        // An ended job's status never gives way.
        s.tuning.plan = ControlPlan(id: "p", groups: [["block_4_conv"], ["block_3_conv"], ["block_2_conv"]])
        s.job?.state = .exited(1)
        #expect(render(s).lines[0].contains("exited with status 1"), "\(render(s).lines[0])")
    }
}
