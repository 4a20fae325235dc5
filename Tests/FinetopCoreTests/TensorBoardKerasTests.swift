import Foundation
import Testing
@testable import FinetopCore

/// Keras's real TensorBoard callback writes a logdir now, in the test venv (the same script that
/// made the committed fixture), and finetop reads it. Python is `<package root>/.venv/bin/python`
/// (what `.ci/run` creates) or `$FINETOP_PYTHON`; a missing one is a recorded issue, never a silent
/// pass; `FINETOP_SKIP_PYTHON=1` skips on purpose.
@Suite struct TensorBoardKerasTests {
    static let environment = ProcessInfo.processInfo.environment

    static var python: String {
        if let p = environment["FINETOP_PYTHON"], !p.isEmpty { return p }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/.venv/bin/python"
    }

    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var env = environment
        env["KERAS_BACKEND"] = "jax"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: environment["FINETOP_SKIP_PYTHON"] != "1", "FINETOP_SKIP_PYTHON=1"))
    func logdirWrittenByKerasCallbackNowLoads() throws {
        let python = Self.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("No Python at \(python): create the venv with .ci/run, set FINETOP_PYTHON, or FINETOP_SKIP_PYTHON=1")
            return
        }
        let probe = try Self.run(python, ["-c", "import keras, sklearn, tensorboard"])
        guard probe.status == 0 else {
            Issue.record("\(python) can't import keras, sklearn and tensorboard (pip install -r assets/python/requirements-test.txt):\n\(probe.output.suffix(1500))")
            return
        }
        let dir = makeTempDir("tb-keras")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try Self.run(python, [Fixture.path("tensorboard/make_tensorboard.py"), "--keras", dir])
        try #require(made.status == 0, "make_tensorboard.py --keras failed:\n\(made.output.suffix(3000))")

        #expect(try RunLoader.resolve(path: dir).format == .tensorBoard)
        let run = try RunLoader.load(path: dir)
        #expect(run.skippedLines == 0)
        #expect(run.info?.framework == "keras")
        #expect(run.epochs.map(\.epoch) == [0, 1, 2, 3, 4, 5])
        #expect(run.epochs.map(\.step) == [15, 30, 45, 60, 75, 90])
        #expect(run.hasValidation)
        #expect(run.metricNames == ["loss", "accuracy", "learning_rate"])
        #expect(run.batches.count == 18)
        // The same seeded training as the committed fixture: the same curves, up to float noise.
        let fixture = try RunLoader.load(path: Fixture.path("tensorboard/keras"))
        for (a, b) in zip(run.epochs, fixture.epochs) {
            for key in ["loss", "val_loss"] {
                #expect(abs((a.values[key] ?? .nan) - (b.values[key] ?? .nan)) < 1e-3, "epoch \(a.epoch) \(key)")
            }
        }
    }
}
