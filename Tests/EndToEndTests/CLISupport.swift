import Foundation

/// Runs the built `finetop` binary the way a user would, for end-to-end tests.
enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// `FINETOP_BIN`, or the binary next to the test bundle (`swift test` builds it, the target depends on it).
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["FINETOP_BIN"] { return b }
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("finetop").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: packageRoot + "/.build")) ?? [] {
            let p = packageRoot + "/.build/" + dir + "/debug/finetop"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return packageRoot + "/.build/debug/finetop"
    }

    static func fixture(_ name: String) -> String {
        packageRoot + "/Tests/FinetopCoreTests/Fixtures/" + name
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ args: [String], environment: [String: String] = [:], executable: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        p.environment = env
        // Files, not pipes: a chatty process can never block on a full pipe.
        let base = NSTemporaryDirectory() + "finetop-cli-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        p.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        p.standardError = FileHandle(forWritingAtPath: base + ".err")
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
