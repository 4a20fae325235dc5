import Foundation
import Testing

/// A private tmux server (own socket, no user config) driving the built `finetop` binary.
final class TmuxSession {
    let socket = "finetop-test-\(UInt32.random(in: 0...UInt32.max))"
    let name = "dash"

    init(width: Int, height: Int) throws {
        // The server this starts would inherit an output pipe and keep it open forever.
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)",
                  "-e", "LANG=C.UTF-8", "-e", "LC_ALL=C.UTF-8", "-e", "PS1=$ ", "sh"])
    }

    deinit {
        let pid = Int32((try? tmux(["display-message", "-p", "#{pid}"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        _ = try? tmux(["kill-server"])
        if let pid, pid > 0 { kill(pid, SIGKILL) }
    }

    /// Runs a tmux command and returns its output.
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        Spawn.run(["tmux", "-L", socket] + args).output
    }

    func type(_ line: String) throws {
        try tmux(["send-keys", "-t", name, "-l", line])
        try tmux(["send-keys", "-t", name, "Enter"])
    }

    func keys(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }

    func screen() throws -> String { try tmux(["capture-pane", "-p", "-t", name]) }

    /// Polls the pane until `condition` holds; never a fixed sleep.
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 10, _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try screen()
            if condition(last) { return last }
            usleep(20_000)
        }
        throw WaitTimeout(description: "timed out waiting for \(what); the pane shows:\n\(last)")
    }

    @discardableResult
    func waitFor(text: String, timeout: Double = 10) throws -> String {
        try waitFor("\"\(text)\"", timeout: timeout) { $0.contains(text) }
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    let description: String
}

/// Waits for a file condition with a deadline.
func waitUntil(_ what: String, timeout: Double = 10, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return }
        usleep(20_000)
    }
    throw WaitTimeout(description: "timed out waiting for \(what)")
}

/// posix_spawn + waitpid: Foundation's Process can miss a child's exit under the test runner,
/// and a tmux server started by a command would hold an output pipe open forever, so output
/// goes through a file.
enum Spawn {
    static func run(_ argv: [String]) -> (status: Int32, output: String) {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString)").path
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return (-1, "") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, output)
    }
}

enum Binary {
    /// The built `finetop` (see `CLI.binary`: FINETOP_BIN or the one `swift test` built).
    static var path: String { CLI.binary }

    static var tmuxAvailable: Bool {
        ["/usr/bin/tmux", "/usr/local/bin/tmux", "/opt/homebrew/bin/tmux"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension TmuxSession {
    /// The pane's rows (capture-pane drops trailing blanks).
    func rows() throws -> [Substring] { try screen().split(separator: "\n", omittingEmptySubsequences: false) }

    /// Types a command line that echoes `FINETOP-EXITED <status>` when it ends.
    func run(_ commandLine: String) throws { try type(commandLine + "; echo FINETOP-EXITED $?") }
}

/// Processes whose command line mentions `text` (to prove a job is gone).
func processes(mentioning text: String) -> [Int32] {
    let me = getpid()
    var found: [Int32] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), pid != me,
              let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmd.contains(text) && !cmd.hasPrefix("tmux") { found.append(pid) }
    }
    return found
}

/// A temporary directory name (not created) for a run.
func temporaryRunPath(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}

/// The words of the note box on a screen (`┌─ note` … `└`), its lines joined with spaces, so a
/// test reads a message whatever the box's width wrapped; nil when no note shows.
func noteText(_ screen: String) -> String? {
    let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
    guard let top = lines.firstIndex(where: { String($0).contains("┌─ note") }),
          let left = lines[top].firstIndex(of: "┌") else { return nil }
    var words: [String] = []
    for line in lines[(top + 1)...] {
        guard line.count > left, line[left] == "│" else { break }
        let inner = line[(left + 1)...].prefix { $0 != "│" }
        words += String(inner).split(separator: " ").map(String.init)
    }
    return words.joined(separator: " ")
}
