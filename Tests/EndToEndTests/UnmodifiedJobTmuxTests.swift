import Foundation
import Testing
import FinetopCore

/// Issue 12: a training script that was never changed for finetop. Plain Keras `fit()` (verbose=1,
/// progress redrawn with `\b` and `\r`) under `finetop run --dir D`: the dashboard shows its
/// curves live from output.log, says it is read-only and which line to add, and `finetop diagnose
/// D --json` reports every epoch.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"),
       .enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: the real-Keras tests are skipped"))
struct UnmodifiedJobTmuxTests {
    static let script = #"""
    import os, time
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    from sklearn.datasets import load_digits
    keras.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # A pause after each epoch, so the test sees the dashboard while the job still trains.
    pause = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(1.5))
    model.fit(x / 16.0, y, epochs=6, batch_size=32, validation_split=0.2, callbacks=[pause])
    """#

    @Test(.timeLimit(.minutes(5)))
    func plainKerasScriptGivesLiveCurvesAndADiagnosisFromItsOutput() throws {
        guard let python = try KerasRunTmuxTests.kerasPython() else { return }
        let dir = temporaryRunPath("finetop-unmodified")
        let script = try JobPython.script(Self.script, name: "train")
        defer {
            for pid in processes(mentioning: script) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: script)
        }
        let t = try TmuxSession(width: 160, height: 40)
        // No PYTHONPATH to the helpers: the script cannot import finetop.
        try t.run("KERAS_BACKEND=jax \(Binary.path) run --dir \(dir) -- \(python) \(script)")

        // Curves while it trains: the epoch counter moves before the job ends.
        let live = try t.waitFor("epochs on screen while the job runs", timeout: 150) { screen in
            (1...5).contains { screen.contains("epoch \($0)/6") } && screen.contains("live")
        }
        #expect(!live.contains("no end line"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + RunFiles.events))
        // Read-only, with the one line to add.
        try t.keys("Space")
        let said = try t.waitFor("the read-only message", timeout: 10) { $0.contains("read-only") }
        #expect(said.contains("finetop.keras"))

        _ = try t.waitFor("the job's end", timeout: 150) { $0.contains("epoch 6/6") && ($0.contains("exited") || $0.contains("ended") || $0.contains("finished")) }
        try t.keys("q")
        _ = try t.waitFor(text: "FINETOP-EXITED", timeout: 20)

        let result = try CLI.run(["diagnose", "--json", dir])
        #expect(result.status == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["epochs"] as? Int == 6)
        #expect((report["history"] as? [Any])?.count == 6)
        let run = try RunLoader.load(path: dir)
        #expect(run.format == .printedLog)
        #expect(run.epochs.map(\.epoch) == Array(0..<6))
        #expect(run.hasValidation)
    }
}
