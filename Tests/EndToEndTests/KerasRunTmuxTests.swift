import Foundation
import Testing
import FinetopCore

/// Issue 6 (b) and (c) with real Keras: `finetop run` in tmux, layers toggled in the dashboard,
/// and the job really trains what was chosen (the job's own per-epoch weight checksums prove it).
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"),
       .enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: the real-Keras tests are skipped"))
struct KerasRunTmuxTests {
    /// One line of weights.jsonl, written by keras_toggle_job.py after every epoch.
    struct EpochWeights: Decodable {
        struct LayerState: Decodable {
            let trainable: Bool
            let sha1: String
        }
        let epoch: Int
        // swiftlint:disable:next identifier_name
        let trainable_params: Int
        let layers: [String: LayerState]
    }

    static func weights(_ dir: String) -> [EpochWeights] {
        guard let text = try? String(contentsOfFile: dir + "/weights.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochWeights.self, from: Data($0.utf8)) }
    }

    /// The venv's Python when it has keras, jax and scikit-learn; otherwise records why not.
    static func kerasPython() throws -> String? {
        let python = PythonHelperTests.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("No Python at \(python): the real-Keras `finetop run` test did not run. Create the venv with .ci/run, point FINETOP_PYTHON at one, or set FINETOP_SKIP_PYTHON=1.")
            return nil
        }
        let probe = Spawn.run(["env", "KERAS_BACKEND=jax", python, "-c", "import keras, jax, sklearn"])
        guard probe.status == 0 else {
            Issue.record("\(python) can't import keras, jax and scikit-learn, so the real-Keras `finetop run` test did not run:\n\(probe.output.suffix(1500))")
            return nil
        }
        return python
    }

    @Test(.timeLimit(.minutes(5)))
    func togglesInTheDashboardChangeWhatTheJobTrains() throws {
        guard let python = try Self.kerasPython() else { return }
        let dir = temporaryRunPath("finetop-keras-run")
        let script = CLI.packageRoot + "/Tests/EndToEndTests/keras_toggle_job.py"
        defer {
            for pid in processes(mentioning: dir) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let started = Date()
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("PYTHONPATH=\(CLI.packageRoot)/assets/python KERAS_BACKEND=jax \(Binary.path) run --dir \(dir) -- \(python) \(script)")

        // Epoch 1 done: the layers are on screen with dense_a frozen.
        try waitUntil("the first epoch", timeout: 150) { ((try? RunLoader.load(path: dir))?.epochs.count ?? 0) >= 1 }
        try t.waitFor("the layer table", timeout: 10) { $0.contains("dense_a") && $0.contains("Trainable params: ") }
        let before = try RunLoader.load(path: dir)
        #expect(before.model?.totals.trainable == 1_754)

        // Freeze a trainable layer and unfreeze a frozen one.
        for layer in ["dense_b", "dense_a"] {
            try t.keys("/")
            try t.tmux(["send-keys", "-t", t.name, "-l", layer])
            try t.keys("Enter", "Space")
        }
        try waitUntil("control.json with both changes") {
            (try? ControlFile.read(from: dir))?.trainable == ["dense_b": false, "dense_a": true]
        }
        let revision = try #require(try ControlFile.read(from: dir)).revision
        let epochsAtToggle = try RunLoader.load(path: dir).epochs.count

        // The job acknowledges at an epoch boundary and reports the new model.
        try waitUntil("the job's ack of revision \(revision)", timeout: 60) {
            (try? RunLoader.load(path: dir))?.acks.contains { $0.revision == revision } == true
        }
        let acked = try RunLoader.load(path: dir)
        // Within one epoch (two if the keys straddled an epoch boundary).
        #expect(acked.epochs.count <= epochsAtToggle + 2, "acked after \(acked.epochs.count - epochsAtToggle) epochs")
        #expect(acked.acks.allSatisfy { $0.status == .applied }, "acks: \(acked.acks)")
        #expect(Set(acked.acks.flatMap(\.changed)) == ["dense_a", "dense_b"])
        let model = try #require(acked.model)
        #expect(model.layers.first { $0.name == "dense_a" }?.trainable == true)
        #expect(model.layers.first { $0.name == "dense_b" }?.trainable == false)
        try t.waitFor("the applied totals on screen", timeout: 10) { !$0.contains("Y*") && !$0.contains("N*") && $0.contains("2,778") }

        // Two epochs with the new flags, so "stopped changing" means something.
        var records: [EpochWeights] = []
        var switchAt = -1
        try waitUntil("two epochs after the change", timeout: 60) {
            records = Self.weights(dir)
            switchAt = records.firstIndex { $0.layers["dense_a"]?.trainable == true && $0.layers["dense_b"]?.trainable == false } ?? -1
            return switchAt > 0 && records.count >= switchAt + 2
        }
        // Keras's own count (model.trainable_weights) is what the model line says.
        #expect(records[switchAt].trainable_params == model.totals.trainable)
        #expect(model.totals.trainable == 2_778)
        // The newly frozen layer no longer changes; the newly unfrozen one does.
        let frozenFrom = try #require(records.firstIndex { $0.layers["dense_b"]?.trainable == false })
        let trainsFrom = try #require(records.firstIndex { $0.layers["dense_a"]?.trainable == true })
        #expect(frozenFrom > 0 && trainsFrom > 0)
        let frozenHashes = Set(records[(frozenFrom - 1)...].map { $0.layers["dense_b"]?.sha1 ?? "" })
        #expect(frozenHashes.count == 1, "dense_b changed after it was frozen")
        #expect(records[trainsFrom].layers["dense_a"]?.sha1 != records[trainsFrom - 1].layers["dense_a"]?.sha1,
                "dense_a did not change after it was unfrozen")
        #expect(Set(records[..<trainsFrom].map { $0.layers["dense_a"]?.sha1 ?? "" }).count == 1,
                "dense_a changed while it was frozen")

        // `s` `y` stops the job cleanly at its next epoch boundary; the dashboard stays open.
        try t.keys("s")
        try t.waitFor(text: "Stop the job")
        try t.keys("y")
        try waitUntil("end: stopped", timeout: 60) { (try? RunLoader.load(path: dir))?.end != nil }
        let end = try #require(try RunLoader.load(path: dir).end)
        #expect(end.reason == "stopped")
        try t.waitFor("the job's exit", timeout: 30) { $0.contains("finished (stopped)") && $0.contains("exited 0") }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
        print("KerasRunTmuxTests: toggled, acked, stopped in \(Int(Date().timeIntervalSince(started))) s")
    }
}
