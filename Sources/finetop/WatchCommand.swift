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
    @OptionGroup var which: RunChoiceOptions
    @OptionGroup var color: ColorOptions

    func run() throws {
        // A bad path is the more useful thing to hear about, terminal or not.
        let source = try Self.source(for: path, options: which.readOptions)
        guard isatty(1) == 1, isatty(0) == 1 else {
            throw UserError("the dashboard needs a terminal; for a text report use `finetop diagnose \(path)`")
        }
        let options = DashboardOptions.detect(environment: Self.environment, noColorFlag: color.noColor)
        let exit: DashboardExit
        do {
            exit = try Dashboard.run(source: source, options: options)
        } catch {
            throw UserError("\(error.message); try `finetop diagnose \(path)`")
        }
        switch exit {
        case .quit: return
        case .signal(let sig): throw ExitCode(128 + sig)   // as a shell reports a signalled job
        }
    }

    /// Picks the reader for a path: a run directory or an events.jsonl is live and steerable;
    /// other logs are read-only. A run directory the job has not written to yet is watched empty.
    static func source(for path: String, options: ReadOptions = ReadOptions()) throws(UserError) -> DashboardSource {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        do {
            let source = try RunSource(path: p, options: options)
            try source.poll()
            return source
        } catch {
            let events = p + "/" + RunFiles.events
            if FileSystem.isDirectory(p) && !FileSystem.exists(events) && isEmptyDirectory(p) {
                return EventsFileSource(eventsPath: events, runDirectory: p)
            }
            throw UserError(error)
        }
    }

    static func isEmptyDirectory(_ path: String) -> Bool {
        guard let d = opendir(path) else { return false }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." && name != RunFiles.control { return false }
        }
        return true
    }

    static var environment: [String: String] {
        var env: [String: String] = [:]
        for key in ["NO_COLOR", "LC_ALL", "LC_CTYPE", "LANG"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return env
    }
}
