import Foundation
import Testing
import FinetopCore

/// `finetop init keras` writes an example that tells the tutorial's story for real (Keras 3, JAX,
/// CPU, no download): a base pre-trained in the script, frozen → finetop says underfitting once the
/// head has plateaued; the toggle its docstring names, written to control.json as the dashboard
/// writes it (`ControlFile.update` with the dashboard's consistent change) → fit; training on →
/// the few fine-tuning examples are learned by heart and finetop says overfitting. The per-epoch
/// history of `finetop diagnose --json` must hold the three, in that order (issue 16 item 5).
@Suite struct KerasExampleTests {
    @Test(.enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: real-Keras tests skipped"),
          .timeLimit(.minutes(20)))
    func exampleGoesFromUnderfittingThroughFitToOverfitting() throws {
        let python = PythonHelperTests.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("No Python at \(python): set FINETOP_PYTHON to a Python with keras, jax and scikit-learn (or FINETOP_SKIP_PYTHON=1)")
            return
        }
        let dir = NSTemporaryDirectory() + "keras-example-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = dir + "/train.py"
        let written = try CLI.run(["init", "keras", "-o", script])
        try #require(written.status == 0, "\(written.stderr)")
        let text = try String(contentsOfFile: script, encoding: .utf8)
        // The docstring names the toggle; this test makes exactly that one.
        let toggle = #"{"version": 1, "revision": 1, "trainable": {"digits_base": true}}"#
        #expect(text.contains(toggle))
        #expect(text.contains("cursor on the `digits_base` row and press space"))

        let run = dir + "/run"
        let job = Process()
        job.executableURL = URL(fileURLWithPath: python)
        job.arguments = [script, "--epochs", "60", "--epoch-seconds", "0.25"]
        var env = ProcessInfo.processInfo.environment
        env["FINETOP_RUN_DIR"] = run
        env["JAX_PLATFORMS"] = "cpu"
        job.environment = env
        FileManager.default.createFile(atPath: dir + "/output.txt", contents: nil)
        job.standardOutput = FileHandle(forWritingAtPath: dir + "/output.txt")
        job.standardError = job.standardOutput
        let started = Date()
        try job.run()
        defer { if job.isRunning { job.terminate() } }

        // Poll the diagnosis as the dashboard would; toggle once it says underfitting.
        var toggled = false
        var toggledAt: TimeInterval = 0
        let deadline = Date().addingTimeInterval(900)
        while job.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            if !toggled, FileManager.default.fileExists(atPath: run + "/events.jsonl"),
               try Self.diagnosis(run)?["label"] as? String == "underfitting" {
                // Space on the digits_base row, as the dashboard writes it.
                let model = try RunLoader.load(path: run).model
                let change = model?.consistentChange(["digits_base": true], desired: [:], shown: \.trainable) ?? ["digits_base": true]
                let written = try ControlFile.update(in: run, ControlChange(trainable: change))
                #expect(written.revision == 1 && written.trainable == ["digits_base": true])
                toggled = true
                toggledAt = Date().timeIntervalSince(started)
            }
        }
        job.waitUntilExit()
        let output = (try? String(contentsOfFile: dir + "/output.txt", encoding: .utf8)) ?? ""
        try #require(job.terminationStatus == 0, "the example failed:\n\(output.suffix(3000))")
        #expect(toggled, "finetop never said underfitting while the base was frozen:\n\(output.suffix(2000))")
        let report = try #require(try Self.diagnosis(run))
        let history = (report["history"] as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
        var stages: [String] = []
        for label in history where label != "too_early" && stages.last != label { stages.append(label) }
        // The story in order: the frozen head still improving (fit), then underfitting once it has
        // plateaued, then fit after the toggle, then overfitting.
        #expect(stages.contains("underfitting"), "labels by epoch: \(history)")
        var rest = stages[...]
        for stage in ["underfitting", "fit", "overfitting"] {
            guard let k = rest.firstIndex(of: stage) else {
                Issue.record("no \(stage) after the stages before it; labels by epoch: \(history)")
                break
            }
            rest = rest[(k + 1)...]
        }
        let wall = Date().timeIntervalSince(started)
        let epochOf = { (label: String) in history.firstIndex(of: label).map { $0 + 1 } ?? 0 }
        print("KerasExampleTests: \(history.count) epochs in \(Int(wall)) s (toggled at \(Int(toggledAt)) s); "
              + "first underfitting at epoch \(epochOf("underfitting")), first overfitting at epoch \(epochOf("overfitting")); "
              + "stages \(stages)")
        let events = try String(contentsOfFile: run + "/events.jsonl", encoding: .utf8)
        #expect(events.contains(#""type": "control", "revision": 1, "status": "applied""#))
        #expect(output.contains("pre-trained digits_base on digits 0-4"))
    }

    static func diagnosis(_ run: String) throws -> [String: Any]? {
        let r = try CLI.run(["diagnose", "--json", run])
        guard r.status == 0 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    }
}
