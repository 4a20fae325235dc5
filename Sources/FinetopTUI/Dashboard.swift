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
