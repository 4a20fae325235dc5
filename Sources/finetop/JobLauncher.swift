#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FinetopCore
import FinetopTUI

/// Starts a training job as a child process the way every finetop command does (`finetop demo`,
/// `finetop run`): stdout and stderr appended to the run directory's `output.log`, stdin from
/// /dev/null, `FINETOP_RUN_DIR` set so the training-side helper knows where to write, and its own
/// process group, so Ctrl-C in the dashboard reaches the job only when finetop forwards it.
enum JobLauncher {
    static let runDirectoryVariable = "FINETOP_RUN_DIR"

    /// Spawns `arguments` (the first is looked up in `PATH` unless it contains a slash).
    static func start(_ arguments: [String], runDirectory: String, environment: [String: String]) throws(UserError) -> Job {
        guard let program = arguments.first else { throw UserError("no command to run") }
        do { try FileSystem.makeDirectory(runDirectory) } catch { throw UserError(error) }
        var env = environment
        env[runDirectoryVariable] = runDirectory
        // Rich (Lightning's default progress bar) prints only its final state to a file; told the
        // output is terminal-like it redraws live, which the printed-log reader follows.
        if env["TTY_COMPATIBLE"] == nil { env["TTY_COMPATIBLE"] = "1" }
        let logPath = runDirectory + "/" + RunFiles.output

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Never through a link planted at output.log (run directories may be shared).
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NOCTTY, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The job starts with default signal handling, whatever the dashboard had installed.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGXFSZ, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU] {
            sigaddset(&defaults, sig)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = CStrings(arguments)
        let envp = CStrings(env.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value })
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, &actions, &attributes, argv.pointers, envp.pointers)
        guard status == 0 else {
            throw UserError("cannot start \(program): \(String(cString: strerror(status)))")
        }
        return Job(pid: pid, outputLog: logPath)
    }
}

/// A started training job, the leader of its own process group.
final class Job: DashboardJob {
    /// How a finished job ended.
    enum Exit: Equatable {
        case exited(Int32)
        case signalled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signalled(let signal): return "was killed by \(signalName(signal))"
            }
        }
    }

    let pid: pid_t
    let outputLog: String
    /// Kept once reaped: the pid is not ours to ask about afterwards.
    private var exit: Exit?

    init(pid: pid_t, outputLog: String) {
        self.pid = pid
        self.outputLog = outputLog
    }

    /// The exit once the job has finished; nil while it runs. Reaps the child.
    func finished() -> Exit? {
        if let exit { return exit }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return nil }
        exit = Self.decode(status)
        return exit
    }

    /// Blocks until the job ends.
    func wait() -> Exit {
        if let exit { return exit }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(-1) }
        }
        let e = Self.decode(status)
        exit = e
        return e
    }

    /// Waits up to `seconds` for the job to end; nil if it is still running.
    func wait(seconds: Double) -> Exit? {
        var left = Int(seconds * 100)
        while left > 0 {
            if let e = finished() { return e }
            usleep(10_000)
            left -= 1
        }
        return finished()
    }

    /// SIGTERM to the job's process group (the demo's trainer writes `end` stopped on it).
    func terminate() { sendToGroup(SIGTERM) }

    func interrupt() { sendToGroup(SIGINT) }

    func signalGroup(_ signal: JobSignal) {
        switch signal {
        case .terminate: sendToGroup(SIGTERM)
        case .kill: sendToGroup(SIGKILL)
        }
    }

    /// Whether any process is left in the job's process group. Asked once the leader has been
    /// reaped: its pid cannot be reused while the group it leads has members.
    var groupAlive: Bool {
        if kill(-pid, 0) == 0 { return true }
        return errno == EPERM
    }

    /// After the leader ended: SIGTERM to the processes left in its group, SIGKILL after
    /// `killDelay` seconds if any remain. Returns what it did, for the user; nil when none were left.
    func endLeftovers(killDelay: Double) -> String? {
        guard finished() != nil, groupAlive else { return nil }
        sendToGroup(SIGTERM)
        var left = Int(killDelay * 100)
        while left > 0, groupAlive {
            usleep(10_000)
            left -= 1
        }
        guard groupAlive else { return "sent SIGTERM to the processes the job left running (process group \(pid)); they ended" }
        sendToGroup(SIGKILL)
        return "sent SIGTERM to the processes the job left running (process group \(pid)), then SIGKILL after \(Int(killDelay)) s"
    }

    func currentState() -> JobState {
        switch finished() {
        case nil: return .running
        case .exited(let code): return .exited(code)
        case .signalled(let sig): return .signalled(sig)
        }
    }

    /// Signals the whole process group, also after the leader ended (its children may remain).
    private func sendToGroup(_ sig: Int32) {
        if exit != nil && !groupAlive { return }
        if kill(-pid, sig) != 0 && exit == nil { kill(pid, sig) }
    }

    /// The status a shell would report for the job: its exit code, or 128 + the signal.
    var shellStatus: Int32? {
        switch finished() {
        case nil: return nil
        case .exited(let code): return code
        case .signalled(let sig): return 128 + sig
        }
    }

    // The W* macros are not imported into Swift; this is their glibc definition.
    private static func decode(_ status: Int32) -> Exit {
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
    }
}

/// NUL-terminated C strings for `argv`/`envp`, freed when this goes away.
private final class CStrings {
    let pointers: [UnsafeMutablePointer<CChar>?]
    init(_ strings: [String]) { pointers = strings.map { strdup($0) } + [nil] }
    deinit { for p in pointers { free(p) } }
}
