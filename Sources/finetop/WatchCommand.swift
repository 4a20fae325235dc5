import ArgumentParser
import FinetopCore
import FinetopTUI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `finetop watch PATH`: the full-screen dashboard on a live run directory or a log file.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Open the dashboard on a run directory or a log file.")
    @Argument(help: "A run directory, its events.jsonl, or any log finetop reads.") var path: String
    @Flag(help: "No colors (also when NO_COLOR is set); selection stays visible.") var noColor = false

    func run() throws {
        guard isatty(1) == 1, isatty(0) == 1 else {
            fail("the dashboard needs a terminal; for a text report use `finetop diagnose \(path)`")
        }
        let source = try Self.source(for: path)
        let options = DashboardOptions.detect(environment: Self.environment, noColorFlag: noColor)
        do {
            try Dashboard.run(source: source, options: options)
        } catch {
            fail("\(error.message); try `finetop diagnose \(path)`")
        }
    }

    /// Picks the reader for a path: a run directory or an events.jsonl is live and steerable.
    static func source(for path: String) throws -> DashboardSource {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard FileSystem.exists(p) else { fail("\(path): no such file or directory") }
        if FileSystem.isDirectory(p) {
            let events = p + "/" + RunFiles.events
            return EventsFileSource(eventsPath: events, runDirectory: p)
        }
        if p.hasSuffix(".jsonl") {
            let dir = p.lastIndex(of: "/").map { String(p[..<$0]) } ?? "."
            return EventsFileSource(eventsPath: p, runDirectory: dir.isEmpty ? "/" : dir)
        }
        fail("\(path): only run directories and events.jsonl files can be watched in this build; try `finetop diagnose \(path)`")
    }

    static var environment: [String: String] {
        var env: [String: String] = [:]
        for key in ["NO_COLOR", "LC_ALL", "LC_CTYPE", "LANG"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return env
    }
}
