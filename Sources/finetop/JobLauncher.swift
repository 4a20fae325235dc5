#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FinetopCore

/// Starts a training job as a child process the way every finetop command does (`finetop demo`,
/// `finetop run`): stdout and stderr appended to the run directory's `output.log`, stdin from
/// /dev/null, and `FINETOP_RUN_DIR` set so the training-side helper knows where to write.
enum JobLauncher {
    static let runDirectoryVariable = "FINETOP_RUN_DIR"

    /// Spawns `arguments` (the first is looked up in `PATH` unless it contains a slash).
    static func start(_ arguments: [String], runDirectory: String, environment: [String: String]) throws(UserError) -> Job {
        guard let program = arguments.first else { throw UserError("no command to run") }
        do { try FileSystem.makeDirectory(runDirectory) } catch { throw UserError(error) }
        var env = environment
        env[runDirectoryVariable] = runDirectory
        let logPath = runDirectory + "/" + RunFiles.output

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = CStrings(arguments)
        let envp = CStrings(env.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value })
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, &actions, nil, argv.pointers, envp.pointers)
        guard status == 0 else {
            throw UserError("cannot start \(program): \(String(cString: strerror(status)))")
        }
        return Job(pid: pid, outputLog: logPath)
    }
}

/// A started training job.
struct Job {
    /// How a finished job ended.
    enum Exit: Equatable {
        case exited(Int32)
        case signalled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signalled(let signal): return "was killed by signal \(signal)"
            }
        }
    }

    let pid: pid_t
    let outputLog: String

    /// The exit once the job has finished; nil while it runs. Reaps the child.
    func finished() -> Exit? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return nil }
        return Self.decode(status)
    }

    /// Blocks until the job ends.
    func wait() -> Exit {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return .exited(-1) }
        }
        return Self.decode(status)
    }

    func terminate() { kill(pid, SIGTERM) }

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
