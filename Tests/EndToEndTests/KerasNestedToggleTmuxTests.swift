import Foundation
import Testing
import FinetopCore

/// Issue 16 item 6 with real Keras: the example's base is a frozen nested Functional model
/// (`digits_base`); unfreezing one layer inside it in the dashboard (`finetop run` in tmux) makes
/// the job unfreeze the base too (Keras trains nothing under a frozen ancestor). control.json's
/// desired state must then say what the user sees: the base trainable, its other layers frozen,
/// every entry equal to the job's model line, and no pending marks left on screen.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"),
       .enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: the real-Keras tests are skipped"))
struct KerasNestedToggleTmuxTests {
    @Test(.timeLimit(.minutes(10)))
    func unfreezingAnInnerLayerWritesBackWhatTheJobDid() throws {
        guard let python = try KerasRunTmuxTests.kerasPython() else { return }
        let dir = temporaryRunPath("finetop-keras-nested")
        let script = CLI.packageRoot + "/assets/examples/finetune_keras.py"
        defer {
            for pid in processes(mentioning: dir) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("JAX_PLATFORMS=cpu \(Binary.path) run --dir \(dir) -- \(python) \(script) --epochs 40 --epoch-seconds 1 --pretrain-epochs 1")
        try waitUntil("the first epoch", timeout: 300) { ((try? RunLoader.load(path: dir))?.epochs.count ?? 0) >= 1 }
        try t.waitFor("the nested base's rows", timeout: 10) { $0.contains("conv_3") && $0.contains("Trainable params: ") }
        let before = try #require(try RunLoader.load(path: dir).model)
        #expect(before.layers.first { $0.name == "digits_base" }?.trainable == false)
        #expect(before.layers.first { $0.name == "digits_base/conv_3" }?.trainable == false)

        // Unfreeze only conv_3, inside the frozen base.
        try t.keys("/")
        try t.tmux(["send-keys", "-t", t.name, "-l", "conv_3"])
        try t.keys("Enter", "Space")
        try waitUntil("control.json with the toggle") {
            (try? ControlFile.read(from: dir))?.trainable["digits_base/conv_3"] == true
        }
        let written = try #require(try ControlFile.read(from: dir))
        // What the user will see once applied: the base on, its other layers off, conv_3 on.
        #expect(written.trainable == ["digits_base/conv_3": true, "digits_base": true, "digits_base/conv_1": false,
                                      "digits_base/conv_2": false, "digits_base/features": false],
                "control.json: \(written.trainable)")

        try waitUntil("the job's answer to revision \(written.revision)", timeout: 120) {
            (try? RunLoader.load(path: dir))?.acks.contains { $0.revision == written.revision } == true
        }
        // The model line after the ack (it follows the control line).
        try waitUntil("the model line after the ack", timeout: 30) {
            (try? RunLoader.load(path: dir))?.model?.layers.first { $0.name == "digits_base/conv_3" }?.trainable == true
        }
        let run = try RunLoader.load(path: dir)
        let ack = try #require(run.acks.first { $0.revision == written.revision })
        #expect(ack.status == .applied, "\(ack)")
        let model = try #require(run.model)
        let flags = Dictionary(model.layers.map { ($0.name, $0.trainable) }, uniquingKeysWith: { a, _ in a })
        let now = try #require(try ControlFile.read(from: dir))
        for (name, want) in now.trainable {
            #expect(flags[name] == want, "control.json says \(name): \(want), the job has \(flags[name].map(String.init) ?? "no such row")")
        }
        // conv_3 (3·3·32·64 + 64) and the head (3·5 + 5): Keras's own count.
        #expect(model.totals.trainable == 18_496 + 20, "trainable \(model.totals.trainable)")
        // The dashboard shows the applied state: no pending mark, the new count.
        try t.waitFor("the applied totals", timeout: 15) { !$0.contains("Y*") && !$0.contains("N*") && $0.contains("18,516") }

        try t.keys("s")
        try t.waitFor(text: "Stop the job")
        try t.keys("y")
        try waitUntil("end: stopped", timeout: 120) { (try? RunLoader.load(path: dir))?.end != nil }
        // The stop, written to the same file, keeps the flags.
        let end = try ControlFile.read(from: dir)
        #expect(end?.trainable == now.trainable)
        // (The example evaluates after fit; on a loaded machine that can outlast the dashboard's
        // 10 s stop grace and end in its SIGINT: either way the run ended as stopped.)
        try t.waitFor("the job's end", timeout: 60) { $0.contains("finished (stopped)") }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED")
    }
}
