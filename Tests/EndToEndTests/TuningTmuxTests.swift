import Foundation
import Testing
import FinetopCore

/// Issue 13 in the real binary: the learning rate and gradual unfreezing steered from the
/// dashboard in tmux, checked from the job's side (its events.jsonl and, for Keras, the
/// optimizer's own rate).
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"))
struct TuningTmuxTests {
    /// The pane's first line: the header.
    static func header(_ screen: String) -> String { String(screen.split(separator: "\n").first ?? "") }

    static func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= b * 1e-6 } ?? false }

    @Test(.timeLimit(.minutes(3)))
    func demoRateChangeAndAGradualPlanThatRunsThreeStepsUnattended() throws {
        let dir = temporaryRunPath("finetop-tuning-demo")
        defer {
            for pid in processes(mentioning: dir) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("\(Binary.path) demo --epochs-per-second 4 --dir \(dir)")
        // The underfit scenario trains its head at Adam(5e-3); the header shows it.
        try t.waitFor("the rate in the header", timeout: 30) { Self.header($0).contains("lr 0.005") }

        // `-`: ÷10, pending until the job's control line, then applied; the next epoch line reports it.
        var pressed = Date()
        try t.keys("-")
        try waitUntil("control.json with learning_rate 0.0005") { Self.close((try? ControlFile.read(from: dir))?.learningRate, 5e-4) }
        try t.waitFor("the pending rate", timeout: 5) { Self.header($0).contains("→0.0005 pending") || Self.header($0).contains("lr 0.0005") }
        try t.waitFor("the applied rate", timeout: 20) { Self.header($0).contains("lr 0.0005") && !Self.header($0).contains("pending") }
        let rateLatency = Date().timeIntervalSince(pressed)
        let first = try #require(try ControlFile.read(from: dir)).revision
        try waitUntil("an epoch line at 0.0005", timeout: 20) {
            Self.close((try? RunLoader.load(path: dir))?.epochs.last?.values["learning_rate"], 5e-4)
        }
        var run = try RunLoader.load(path: dir)
        #expect(run.acks.first { $0.revision == first }?.status == .applied)

        // `r` and a typed value.
        try t.keys("r")
        try t.waitFor(text: "learning rate: _")
        try t.tmux(["send-keys", "-t", t.name, "-l", "0.002"])
        try t.keys("Enter")
        try t.waitFor("the typed rate applied", timeout: 20) { Self.header($0).contains("lr 0.002") && !Self.header($0).contains("pending") }
        try waitUntil("an epoch line at 0.002", timeout: 20) {
            Self.close((try? RunLoader.load(path: dir))?.epochs.last?.values["learning_rate"], 2e-3)
        }

        // `p` from the top: the three frozen base layers, one every epoch, each at rate ÷10.
        try t.keys("g", "p")
        try t.waitFor(text: "every K epochs, K: _")
        try t.tmux(["send-keys", "-t", t.name, "-l", "1"])
        pressed = Date()
        try t.keys("Enter")
        try waitUntil("control.json with the plan") { (try? ControlFile.read(from: dir))?.plan != nil }
        let plan = try #require(try ControlFile.read(from: dir)?.plan)
        #expect(plan.groups == [["dense_3"], ["dense_2"], ["dense_1"]])
        #expect(plan.everyEpochs == 1 && plan.lrFactor == 0.1)
        // Nobody touches a key from here: the job carries out the three steps.
        let done = try t.waitFor("the plan's three steps", timeout: 30) { Self.header($0).contains("plan 3/3 done") }
        let planSeconds = Date().timeIntervalSince(pressed)
        #expect(done.contains("plan 3/3 done"))
        run = try RunLoader.load(path: dir)
        let steps = run.acks.compactMap(\.message).filter { $0.hasPrefix("plan \(plan.id): step ") }
        #expect(steps.count == 3, "\(steps)")
        #expect(steps.last?.contains("step 3/3") == true)
        let model = try #require(run.model)
        for name in ["dense_1", "dense_2", "dense_3"] {
            #expect(model.layers.first { $0.name == name }?.trainable == true, "\(name) not trainable")
        }
        // The screen shows what the job's model line says: no pending marks, every base layer `Y`.
        for name in ["dense_1", "dense_2", "dense_3"] {
            let row = try #require(DemoTmuxTests.row(try t.screen(), name))
            #expect(row.contains(" Y ") && !row.contains("Y*"), "\(row)")
        }
        print("TuningTmuxTests: demo rate ÷10 applied on screen \(Int(rateLatency * 1000)) ms after the key; "
              + "3-step plan done \(String(format: "%.1f", planSeconds)) s after enter (4 epochs/s)")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    /// The recipe's move (unfreeze the last N and train them at 1e-5) as ONE action on a real
    /// Keras job: `u` on Keras writes the flags and the whole rate ÷10 in one revision.
    @Test(.timeLimit(.minutes(5)), .enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: the real-Keras tests are skipped"))
    func kerasOneActionUnfreezesTheLastLayersAndSetsTheRate() throws {
        guard let python = try KerasRunTmuxTests.kerasPython() else { return }
        let dir = temporaryRunPath("finetop-keras-rate")
        let script = CLI.packageRoot + "/Tests/EndToEndTests/keras_toggle_job.py"
        defer {
            for pid in processes(mentioning: dir) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("PYTHONPATH=\(CLI.packageRoot)/assets/python KERAS_BACKEND=jax JOB_FROZEN=dense_a,dense_b JOB_LR=1e-4 "
                  + "JOB_EPOCHS=40 \(Binary.path) run --dir \(dir) -- \(python) \(script)")
        try waitUntil("the first epoch", timeout: 150) { ((try? RunLoader.load(path: dir))?.epochs.count ?? 0) >= 1 }
        try t.waitFor("the rate and the layers", timeout: 10) { Self.header($0).contains("lr 0.0001") && $0.contains("dense_a") }

        // The cursor on dense_a, then the one action.
        try t.keys("/")
        try t.tmux(["send-keys", "-t", t.name, "-l", "dense_a"])
        try t.keys("Enter")
        let pressed = Date()
        try t.keys("u")
        // The dashboard's note first: on an idle machine the job's ack (at its next epoch end,
        // under a second away) replaces it, so it is read right after the key.
        // (The note box wraps at its own width: its words are read whole.)
        let shown = try t.waitFor("what the screen says it did", timeout: 5) {
            noteText($0)?.contains("set the rate 0.0001 → 1e-05") == true || $0.contains("set the rate 0.0001 → 1e-05")
        }
        let note = noteText(shown) ?? shown
        #expect(note.contains("Keras: one rate for all layers"), "\(note)")
        try waitUntil("control.json with the flags and the rate") {
            let c = try? ControlFile.read(from: dir)
            return c?.trainable == ["dense_a": true, "dense_b": true] && c?.learningRate == 1e-5
        }
        let file = try #require(try ControlFile.read(from: dir))
        #expect(file.revision == 1, "one action, one revision")
        #expect(file.unfreezeLRFactor == nil, "Keras has one rate: no factor")

        // The job's side: the ack of that revision, the model line, then an epoch at 1e-5.
        try waitUntil("the job's ack of revision 1", timeout: 60) {
            (try? RunLoader.load(path: dir))?.acks.contains { $0.revision == 1 } == true
        }
        let ackSeconds = Date().timeIntervalSince(pressed)
        var run = try RunLoader.load(path: dir)
        let ack = try #require(run.acks.first { $0.revision == 1 })
        #expect(ack.status == .applied, "\(ack)")
        #expect(Set(ack.changed) == ["dense_a", "dense_b"])
        let model = try #require(run.model)
        #expect(model.layers.filter(\.trainable).map(\.name).sorted() == ["dense_a", "dense_b", "dense_c", "head"])
        let epochsAtAck = run.epochs.count
        try waitUntil("an epoch line after the ack", timeout: 60) { ((try? RunLoader.load(path: dir))?.epochs.count ?? 0) > epochsAtAck }
        run = try RunLoader.load(path: dir)
        #expect(Self.close(run.epochs.last?.values["learning_rate"], 1e-5), "\(String(describing: run.epochs.last?.values))")
        // The optimizer's own rate and Keras's own flags, written by the job after each epoch.
        let records = KerasRunTmuxTests.weightsWithRate(dir)
        let last = try #require(records.last)
        #expect(Self.close(last.optimizer_lr, 1e-5))
        #expect(last.layers["dense_a"]?.trainable == true && last.layers["dense_b"]?.trainable == true)

        // The screen agrees: the applied rate, no pending marks, dense_a and dense_b `Y`.
        let screen = try t.waitFor("the applied state on screen", timeout: 15) { s in
            Self.header(s).contains("lr 1e-05") && !Self.header(s).contains("pending") && !s.contains("Y*")
        }
        for name in ["dense_a", "dense_b"] {
            let row = try #require(DemoTmuxTests.row(screen, name))
            #expect(row.contains(" Y "), "\(row)")
        }
        print("TuningTmuxTests: Keras u (flags + rate 1e-5) acked \(String(format: "%.1f", ackSeconds)) s after the key")

        try t.keys("s")
        try t.waitFor(text: "Stop the job")
        try t.keys("y")
        try waitUntil("end: stopped", timeout: 60) { (try? RunLoader.load(path: dir))?.end != nil }
        try t.waitFor("the job's exit", timeout: 30) { $0.contains("exited 0") }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }
}

extension KerasRunTmuxTests {
    /// One line of weights.jsonl with the optimizer's rate (keras_toggle_job.py writes it).
    struct EpochRate: Decodable {
        struct LayerState: Decodable {
            let trainable: Bool
        }
        let epoch: Int
        // swiftlint:disable:next identifier_name
        let optimizer_lr: Double
        let layers: [String: LayerState]
    }

    static func weightsWithRate(_ dir: String) -> [EpochRate] {
        guard let text = try? String(contentsOfFile: dir + "/weights.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochRate.self, from: Data($0.utf8)) }
    }
}
