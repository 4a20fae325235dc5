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
            python, ["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "Tests/PythonHelperTests"],
            timeout: 3600)
        let seconds = Int(Date().timeIntervalSince(started))
        let summary = result.output.split(separator: "\n").last { $0.contains(" in ") } ?? ""
        print("PythonHelperTests: keras \(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)), pytest exit \(result.status) after \(seconds) s: \(summary)")
        #expect(result.status == 0, "pytest Tests/PythonHelperTests failed (exit \(result.status)):\n\(result.output.suffix(6000))")
    }

    /// The built `finetop` next to the test bundle (`.build/<triple>/debug/`).
    static var finetopBinary: String? {
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        return candidates.map { $0.appendingPathComponent("finetop").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func initWritesARunnableScriptForEachFramework() throws {
        guard let finetop = Self.finetopBinary else {
            Issue.record("the built finetop executable was not found next to the test bundle")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-init-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let helpers = Self.packageRoot + "/assets/python"
        for (framework, marker) in [("keras", "finetop.keras.fit("), ("torch", "Tracker("),
                                    ("transformers", "FinetopTrainerCallback("), ("lightning", "FinetopCallback(")] {
            let path = dir.appendingPathComponent("train_\(framework).py").path
            let r = try Self.run(finetop, ["init", framework, "--output", path], timeout: 60)
            #expect(r.status == 0, "finetop init \(framework): \(r.output)")
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            #expect(text.contains(marker), "the \(framework) script uses \(marker)")
            #expect(text.contains("_HELPERS = \"\(helpers)\""), "the \(framework) script points at \(helpers)")
            #expect(r.output.contains("finetop run -- python \(path)"))
            #expect(r.output.contains("import") && r.output.contains(marker))
            if FileManager.default.isExecutableFile(atPath: Self.python) {
                let c = try Self.run(Self.python, ["-m", "py_compile", path], timeout: 60)
                #expect(c.status == 0, "\(framework) script compiles: \(c.output)")
            }
            // A second write does not clobber the file without --force.
            let again = try Self.run(finetop, ["init", framework, "--output", path], timeout: 60)
            #expect(again.status == 2 && again.output.contains("--force"))
        }
        let unknown = try Self.run(finetop, ["init", "caffe"], timeout: 60)
        #expect(unknown.status == 2)
        #expect(unknown.output.contains("keras, torch, transformers"))
    }

    /// The Lightning example imports the PyTorch example's model: written elsewhere by `init`, it
    /// must still find it (and the helpers) and train.
    @Test(.enabled(if: !skipped, "FINETOP_SKIP_PYTHON=1"))
    func initLightningScriptRunsOutsideTheCheckout() throws {
        guard let finetop = Self.finetopBinary else {
            Issue.record("the built finetop executable was not found next to the test bundle")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            Issue.record("No Python at \(Self.python): run Tests/test.sh to create .venv")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-init-pl-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("train.py").path
        let w = try Self.run(finetop, ["init", "lightning", "--output", script], timeout: 60)
        #expect(w.status == 0, "finetop init lightning: \(w.output)")
        let runDir = dir.appendingPathComponent("run").path
        let r = try Self.run(Self.python, [script, "--epochs", "2", "--val", "60", "--run-dir", runDir], timeout: 600)
        #expect(r.status == 0, "the written Lightning script runs: \(r.output.suffix(3000))")
        let events = (try? String(contentsOfFile: runDir + "/events.jsonl", encoding: .utf8)) ?? ""
        let epochs = events.split(separator: "\n").filter { $0.contains("\"type\": \"epoch\"") || $0.contains("\"type\":\"epoch\"") }
        #expect(epochs.count == 2, "two epoch lines in \(runDir)/events.jsonl:\n\(events.suffix(2000))")
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
        // .venv has this checkout's package installed (Tests/test.sh: `pip install -e assets/python`),
        // and the tests import it as users do. A Python named by FINETOP_PYTHON was not set up by
        // test.sh: it gets this checkout's package on PYTHONPATH (conftest.py refuses any other copy).
        if let p = environment["FINETOP_PYTHON"], !p.isEmpty {
            env["PYTHONPATH"] = packageRoot + "/assets/python"
        }
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
