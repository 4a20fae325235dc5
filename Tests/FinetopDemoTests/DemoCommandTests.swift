import FinetopCore
import Foundation
import Testing

/// The `finetop` binary next to the test bundle (`swift test` builds it), if there is one.
private let builtFinetop: String? = {
    let bundle = Bundle.main.bundlePath
    let candidates = [URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("finetop").path,
                      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                        .appendingPathComponent("finetop").path]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

@Suite(.enabled(if: builtFinetop != nil, "needs the finetop binary that `swift test` builds"))
struct DemoCommandTests {
    private func finetop(_ arguments: [String], cwd: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(builtFinetop))
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func demoStartsTheTrainerAsAChildJobAndFollowsItToTheEnd() throws {
        let base = temporaryDirectory()
        defer { removeDirectory(base) }
        let dir = base + "/run"
        let (status, output) = try finetop(["demo", "--dir", dir, "--epochs", "3", "--epochs-per-second", "0"], cwd: "/")
        #expect(status == 0, "\(output)")
        #expect(output.contains("finetop watch \(dir)"))
        #expect(output.contains("3/3"))
        #expect(output.contains("end: completed"))
        let run = try readRun(dir)
        #expect(run.info?.framework == "demo")
        #expect(run.epochs.count == 3)
        let log = try String(contentsOfFile: dir + "/" + RunFiles.output, encoding: .utf8)
        #expect(log.contains("pre-training the base"))
    }

    @Test func demoRefusesADirectoryThatAlreadyHoldsARun() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/" + RunFiles.events, contents: Data())
        let (status, output) = try finetop(["demo", "--dir", dir], cwd: dir)
        #expect(status != 0)
        #expect(output.contains("already holds a run"))
    }

    @Test func trainerCommandIsHiddenButRuns() throws {
        let help = try finetop(["--help"], cwd: "/")
        #expect(!help.output.contains("demo-trainer"))
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (status, _) = try finetop(["demo-trainer", "--dir", dir, "--scenario", "diverge", "--epochs", "2",
                                       "--epochs-per-second", "0"], cwd: "/")
        #expect(status == 0)
        #expect(try readRun(dir).end?.reason == "completed")
    }
}
