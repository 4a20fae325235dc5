import FinetopCore
import FinetopDiagnosis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Anything the dashboard can watch: polled for new data, optionally steerable via control.json.
public protocol DashboardSource: AnyObject {
    /// Reads what is new; true when the run changed.
    func poll() throws(ReadError) -> Bool
    var run: Run { get }
    /// Where control.json goes; nil when the run cannot be steered (an imported log).
    var runDirectory: String? { get }
    /// The file whose changes mean new data: watched for changes and for staleness.
    var watchedPath: String { get }
    /// Every file the source reads (a TensorBoard logdir has several, in sub-directories);
    /// the folders holding them are watched so an append wakes the dashboard at once.
    var watchedPaths: [String] { get }
    /// Why layers cannot be steered (read-only), nil when they can; may change as the job starts.
    var readOnlyReason: String? { get }
}

extension DashboardSource {
    public var watchedPaths: [String] { [watchedPath] }
    public var readOnlyReason: String? {
        runDirectory == nil ? "\(run.format.rawValue) is read-only; " + LogFormats.helperHint : nil
    }
}

/// A run directory (or its events.jsonl) read incrementally. A directory without events.jsonl
/// yet is an empty run that fills in when the job starts writing.
/// Without events.jsonl, the job's printed output.log gives read-only curves (`RunDirectoryReader`).
public final class EventsFileSource: DashboardSource {
    private let reader: EventsReader?
    private let directoryReader: RunDirectoryReader?
    public let runDirectory: String?
    public let watchedPath: String

    public init(eventsPath: String, runDirectory: String?) {
        if let runDirectory {
            reader = nil
            directoryReader = RunDirectoryReader(directory: runDirectory)
        } else {
            reader = EventsReader(path: eventsPath, format: .eventsFile)
            directoryReader = nil
        }
        self.runDirectory = runDirectory
        watchedPath = eventsPath
    }

    public func poll() throws(ReadError) -> Bool {
        if let directoryReader { return try directoryReader.poll() }
        return try reader?.poll() ?? false
    }

    public var run: Run { directoryReader?.run ?? reader?.run ?? Run(format: .eventsFile) }
    public var readOnlyReason: String? { directoryReader?.readOnlyReason }
    public var watchedPaths: [String] {
        guard let runDirectory else { return [watchedPath] }
        return [watchedPath, runDirectory + "/" + RunFiles.output]
    }
}

extension RunSource: DashboardSource {
    public var watchedPath: String { watchedFile }
    public var readOnlyReason: String? { readOnlyText }
    public var watchedPaths: [String] { [watchedFile] + watchedFiles }
}

/// A process the dashboard started and owns (`finetop run`, the demo's trainer).
public protocol DashboardJob: AnyObject {
    var pid: Int32 { get }
    /// The job's state now (reaps it once it has ended; later calls give the same answer).
    func currentState() -> JobState
    /// What Ctrl-C does in a shell: SIGINT to the job's process group.
    func interrupt()
    /// The escalation after SIGINT: SIGTERM or SIGKILL to the job's whole process group.
    func signalGroup(_ signal: JobSignal)
    /// Whether anything still runs in the job's process group (children outliving the leader).
    var groupAlive: Bool { get }
}

/// Why the dashboard returned.
public enum DashboardExit: Sendable, Equatable {
    /// The user quit (`q`).
    case quit
    /// A signal asked us to stop (SIGINT, SIGTERM, SIGHUP); the terminal is already restored.
    case signal(Int32)
}

/// The full-screen dashboard: `finetop watch`, the demo and `finetop run`.
public enum Dashboard {
    /// The shortest time between two reads of a log that keeps changing: each read rebuilds the
    /// run, its diagnosis and the chart (issue 12: ~95% of a core at 10,000 lines/s otherwise).
    static let pollInterval = 0.2

    /// Runs until the user quits or a signal arrives; the terminal is restored on every path.
    /// - Parameter runName: shown in the header; by default the run id, else the path's last part.
    @discardableResult
    /// - Parameter job: the process this dashboard started; its state shows in the header.
    /// - Parameter ctrlCInterruptsJob: Ctrl-C sends SIGINT to a running `job` instead of quitting.
    /// - Parameter hint: one line on where to go next (the header when it fits, else the help).
    public static func run(source: DashboardSource, options: DashboardOptions, runName: String? = nil,
                           job: DashboardJob? = nil, ctrlCInterruptsJob: Bool = false,
                           hint: String? = nil) throws(TerminalError) -> DashboardExit {
        do {
            _ = try source.poll()
        } catch {
            throw TerminalError(message: error.description)
        }
        var controlMessage: StatusMessage?
        var existing: ControlFile?
        // What control.json looked like when last read: a change on disk (another dashboard) is re-read.
        let controlSeen = source.runDirectory.map { ControlStamp(ControlFile.path(in: $0)) }
        if let dir = source.runDirectory {
            do {
                existing = try ControlFile.read(from: dir)
            } catch {
                controlMessage = StatusMessage("ignoring \(error.description); the next change replaces it", .warning)
            }
        }
        let readOnly = source.readOnlyReason

        TerminalGuard.installSignalPipe()
        defer { TerminalGuard.uninstall() }
        let term = try CursesTerminal(options: options)
        defer { term.restore() }
        var options = options
        if !term.utf8 { options.ascii = true }
        let size = term.size
        var state = AppState(run: source.run, runName: runName, pathName: pathName(source), readOnlyReason: readOnly, control: existing,
                             options: options, width: size.width, height: size.height, now: Clock.now,
                             lastWrite: Clock.modified(source.watchedPath))
        state.message = controlMessage
        state.hint = hint
        if let job { state.job = JobView(pid: job.pid, state: job.currentState(), ctrlCInterruptsJob: ctrlCInterruptsJob) }
        if let c = existing, c.revision > state.lastAckedRevision, !c.trainable.isEmpty {
            state.message = StatusMessage("control.json revision \(c.revision) not yet applied by the job")
        }
        let loop = EventLoop(state: state, terminal: term, source: source, job: job,
                             watcher: FileWatcher(paths: source.watchedPaths),
                             takeSignal: TerminalGuard.takeSignal, signalDescriptor: TerminalGuard.pipeRead,
                             controlSeen: controlSeen)
        return loop.run()
    }

    static func pathName(_ source: DashboardSource) -> String {
        let path = source.runDirectory ?? source.watchedPath
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }
}

/// Reads the end of output.log for the overlay.
enum OutputFile {
    static func tail(_ path: String) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ["(no output.log yet in this run directory)"] }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return [] }
        let start = max(0, size - off_t(OutputTail.maxBytes))
        var bytes = [UInt8](repeating: 0, count: Int(size - start))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, start) }
        guard n > 0 else { return [] }
        return OutputTail.lines(Array(bytes.prefix(n)), fromStart: start == 0)
    }
}

/// Identity and version of a file as `lstat` sees it (never following a link): equal stamps mean
/// nothing was written or replaced.
struct ControlStamp: Equatable {
    var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = -1, mtime: Int = 0, mtimeNs: Int = 0, ctimeNs: Int = 0

    init(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtime = Int(st.st_mtim.tv_sec)
        mtimeNs = Int(st.st_mtim.tv_nsec)
        ctimeNs = Int(st.st_ctim.tv_nsec)
    }
}

/// Wall clock and file times, kept out of the reducer.
enum Clock {
    static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func modified(_ path: String) -> Double? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }
}

/// poll(2) over a few descriptors; returns the ones that are readable.
enum Waiter {
    static func wait(fds: [Int32], timeoutMs: Int32) -> [Int32] {
        var p = fds.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let n = poll(&p, nfds_t(p.count), timeoutMs)
        guard n > 0 else { return [] }
        return p.filter { $0.revents != 0 }.map(\.fd)
    }
}

/// inotify on the directory holding the watched file (so replacement and creation are seen too).
final class FileWatcher {
    let fd: Int32
    var isActive: Bool { fd >= 0 }

    init(paths: [String]) {
        #if os(Linux)
        let dirs = Set(paths.map { path in
            FileSystem.isDirectory(path) ? path : (path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".")
        }).sorted().prefix(256)
        let f = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if f >= 0 {
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB)
            let added = dirs.filter { inotify_add_watch(f, $0.isEmpty ? "/" : $0, mask) >= 0 }.count
            if added == 0 {
                close(f)
                fd = -1
                return
            }
        }
        fd = f
        #else
        fd = -1
        #endif
    }

    deinit { if fd >= 0 { close(fd) } }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
        }
    }
}

/// Signals only write a byte to a pipe (Ctrl-C, SIGTERM, SIGHUP → quit in the loop); a crash
/// restores the terminal with async-signal-safe calls, then dies with the same signal.
enum TerminalGuard {
    nonisolated(unsafe) static var pipeRead: Int32 = -1
    nonisolated(unsafe) static var pipeWrite: Int32 = -1
    nonisolated(unsafe) static var savedModes = termios()
    nonisolated(unsafe) static var haveModes = false

    static func installSignalPipe() {
        if pipeRead < 0 {
            var fds: [Int32] = [-1, -1]
            if pipe(&fds) == 0 {
                for fd in fds {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                }
                pipeRead = fds[0]
                pipeWrite = fds[1]
            }
        }
        for sig in quitSignals {
            signal(sig) { s in
                var b = UInt8(truncatingIfNeeded: s)
                _ = write(TerminalGuard.pipeWrite, &b, 1)
            }
        }
        // A write past `ulimit -f` must fail with EFBIG (shown as a failed toggle), not kill us
        // with the terminal raw; a closed pipe is an error return too.
        for sig in ignoredSignals { signal(sig, SIG_IGN) }
    }

    /// Signals whose default would kill the dashboard with the terminal raw: they quit through
    /// the loop instead, which restores the terminal (the shell then sees the exit status 128 + signal).
    static let quitSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU]
    static let ignoredSignals: [Int32] = [SIGXFSZ, SIGPIPE]
    /// Signals that end the process at once: restore the terminal, then die of the same signal.
    /// SIGQUIT is among them so Swift's interactive backtracer never runs with the terminal raw.
    static let crashSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGQUIT]

    /// Gives every signal back its default action once the dashboard is gone (the caller, e.g.
    /// `finetop run`, may go on running).
    static func uninstall() {
        for sig in quitSignals + ignoredSignals + crashSignals {
            signal(sig, SIG_DFL)
        }
        _ = takeSignal()
    }

    /// The signal that asked us to quit, or 0.
    static func takeSignal() -> Int32 {
        guard pipeRead >= 0 else { return 0 }
        var b: UInt8 = 0
        var got: Int32 = 0
        while read(pipeRead, &b, 1) == 1 { got = Int32(b) }
        return got
    }

    static func saveTerminalModes() {
        haveModes = tcgetattr(0, &savedModes) == 0
    }

    static func installCrashRestore() {
        for sig in crashSignals {
            signal(sig) { s in
                // Leave the alternate screen, show the cursor, reset colors; then the saved tty modes.
                let seq: StaticString = "\u{1b}[0m\u{1b}[?25h\u{1b}[?1049l\r\n"
                _ = write(1, seq.utf8Start, seq.utf8CodeUnitCount)
                if TerminalGuard.haveModes { _ = tcsetattr(0, TCSANOW, &TerminalGuard.savedModes) }
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }
}
