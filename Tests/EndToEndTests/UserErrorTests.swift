import Foundation
import Testing

/// One error form for the user: `finetop: <file>: <what was expected>` on stderr, once, exit status 2.
@Suite struct UserErrorTests {
    static func expectOneLine(_ r: CLI.Result, mentioning file: String, _ comment: Comment? = nil) {
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("finetop: " + file), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!r.stderr.contains("Error:"))
    }

    @Test func demoWithAnImpossibleDirectory() throws {
        let r = try CLI.run(["demo", "--dir", "/proc/nope/run"])
        Self.expectOneLine(r, mentioning: "/proc/nope")
        #expect(r.stdout.isEmpty)
    }

    /// `finetop run` wants a terminal, so it runs under `script` (a real pty).
    @Test func runWithAnImpossibleDirectory() throws {
        let finetop = CLI.binary
        let r = try CLI.run(["-qec", "\(finetop) run --dir /proc/nope/run -- true", "/dev/null"], executable: "/usr/bin/script")
        #expect(r.status == 2, "\(r.stdout)")
        let lines = r.stdout.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
        #expect(lines.count == 1 && lines[0].hasPrefix("finetop: /proc/nope"), "\(r.stdout)")
    }

    @Test func demoInADirectoryThatHoldsARun() throws {
        let dir = NSTemporaryDirectory() + "held-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/events.jsonl", contents: Data())
        Self.expectOneLine(try CLI.run(["demo", "--dir", dir]), mentioning: dir + ": already holds a run")
    }

    @Test func initRefusesToOverwrite() throws {
        let dir = NSTemporaryDirectory() + "init-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/train.py", contents: Data("mine".utf8))
        Self.expectOneLine(try CLI.run(["init", "keras", "-o", dir + "/train.py"]), mentioning: dir + "/train.py: exists")
        #expect(FileManager.default.contents(atPath: dir + "/train.py") == Data("mine".utf8))
    }

    @Test func unknownFrameworkAndLabelAreUsageErrorsWithTheChoices() throws {
        let fw = try CLI.run(["init", "tensorflow2"])
        #expect(fw.status == 2 && fw.stderr.hasPrefix("finetop: ") && fw.stderr.contains("'keras', 'torch', 'transformers' or 'lightning'"))
        let label = try CLI.run(["diagnose", "--fail-on", "overfitting,bogus", CLI.fixture("keras_csvlogger_example.csv")])
        #expect(label.status == 2 && label.stderr.hasPrefix("finetop: ") && label.stderr.contains("'overfitting'"))
    }

    @Test func frameworkAliasesAndLabelListsParse() throws {
        let out = NSTemporaryDirectory() + "alias-\(UUID().uuidString).py"
        let r = try CLI.run(["init", "pytorch", "-o", out])
        #expect(r.status == 0 && r.stdout.contains("PyTorch"), "\(r.stderr)")
        let csv = CLI.fixture("keras_csvlogger_example.csv")
        let label = try CLI.run(["diagnose", "--json", csv])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(label.stdout.utf8)) as? [String: Any])
        let name = try #require(report["label"] as? String)
        #expect(try CLI.run(["diagnose", "--fail-on", "diverging, \(name)", csv]).status == 1)
        #expect(try CLI.run(["diagnose", "--fail-on", "diverging", "--fail-on", name, csv]).status == 1)
        #expect(try CLI.run(["diagnose", "--fail-on", "diverging", csv]).status == (name == "diverging" ? 1 : 0))
    }

    @Test func sharedOptionsAreAcceptedByEveryCommandThatHasThem() throws {
        for args in [["demo", "--help"], ["run", "--help"], ["watch", "--help"]] {
            let r = try CLI.run(args)
            #expect(r.status == 0 && r.stdout.contains("--no-color"), "\(args)")
        }
        let trainer = try CLI.run(["demo-trainer", "--help"])
        let demo = try CLI.run(["demo", "--help"])
        for option in ["--scenario", "--seed", "--epochs-per-second", "--epochs", "--early-stopping"] {
            #expect(trainer.stdout.contains(option) && demo.stdout.contains(option), "\(option)")
        }
        let bad = try CLI.run(["demo", "--epochs", "0", "--dir", "/tmp/never-\(UUID().uuidString)"])
        #expect(bad.status == 2 && bad.stderr.contains("--epochs must be at least 1"))
    }
}
