import Foundation
import Testing

/// Runs the Python helpers' pytest suite (Tests/PythonHelperTests: real Keras on JAX, CPU) so it is
/// part of `swift test`. Python is `<package root>/.venv/bin/python` (what `.ci/run` creates), or
/// `$FINETOP_PYTHON`. A missing venv or library is a recorded issue, never a silent pass;
/// `FINETOP_SKIP_PYTHON=1` skips on purpose.
@Suite struct PythonHelperTests {
    static let environment = ProcessInfo.processInfo.environment
    static let skipped = environment["FINETOP_SKIP_PYTHON"] == "1"

    /// The package root: three levels up from this file (Tests/EndToEndTests/this.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var python: String {
        if let p = environment["FINETOP_PYTHON"], !p.isEmpty { return p }
        return packageRoot + "/.venv/bin/python"
    }

    @Test(.enabled(if: !skipped, "FINETOP_SKIP_PYTHON=1: the Python helper tests (real Keras) are skipped"))
    func pytestSuitePasses() throws {
        let python = Self.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("""
                No Python at \(python): the Python helper tests (real Keras) did not run. \
                Create the venv with .ci/run (or `python3 -m venv .venv && .venv/bin/pip install \
                -r assets/python/requirements-test.txt`), point FINETOP_PYTHON at a Python that has \
                keras, jax and pytest, or set FINETOP_SKIP_PYTHON=1 to skip on purpose.
                """)
            return
        }
        let probe = try Self.run(python, ["-c", "import keras, jax, numpy, pytest; print(keras.__version__)"],
                                 timeout: 300)
        guard probe.status == 0 else {
            Issue.record("""
                \(python) can't import keras, jax, numpy and pytest, so the Python helper tests did \
                not run. Install them with `\(python) -m pip install -r assets/python/requirements-test.txt` \
                (or set FINETOP_SKIP_PYTHON=1 to skip on purpose). Python said:
                \(probe.output.suffix(2000))
                """)
            return
        }
        let started = Date()
        let result = try Self.run(
            python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "Tests/PythonHelperTests"],
            timeout: 1200)
        let seconds = Int(Date().timeIntervalSince(started))
        print("PythonHelperTests: keras \(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)), pytest exit \(result.status) after \(seconds) s")
        #expect(result.status == 0, "pytest Tests/PythonHelperTests failed (exit \(result.status)):\n\(result.output.suffix(6000))")
    }

    struct Output { var status: Int32; var output: String }

    /// Runs `executable args` in the package root with stdout and stderr together; kills it after `timeout` s.
    static func run(_ executable: String, _ args: [String], timeout: TimeInterval) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
        var env = environment
        env["KERAS_BACKEND"] = env["KERAS_BACKEND"] ?? "jax"
        env["JAX_PLATFORMS"] = env["JAX_PLATFORMS"] ?? "cpu"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.removeValue(forKey: "FINETOP_RUN_DIR")
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        deadline.cancel()
        return Output(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
