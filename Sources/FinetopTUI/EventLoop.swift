import FinetopCore
import FinetopDiagnosis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One decoded input from a terminal.
enum TerminalInput: Equatable {
    case key(Key)
    case resize
    /// A function key the dashboard does not use.
    case ignored
}

/// What the event loop needs from a terminal (ratatui's `Backend`): ncurses in the binary
/// (`CursesTerminal`), a plain buffer in tests, so the whole loop runs without a tty.
protocol Terminal: AnyObject {
    var size: (width: Int, height: Int) { get }
    /// Draws a frame; a backend writes only the cells that changed since the last one.
    func draw(_ buf: ScreenBuffer)
    /// Forgets what is on screen, so the next draw repaints everything.
    func invalidate()
    /// The next input, or nil when nothing is waiting. Never blocks.
    func read() -> TerminalInput?
    /// A descriptor that turns readable when input waits (stdin); nil when `read` alone says.
    var inputDescriptor: Int32? { get }
    /// Input already decoded and waiting, so the loop must not sleep.
    var hasBufferedInput: Bool { get }
}

/// The dashboard's one loop (bottom's event loop, Bubble Tea's runtime): every input becomes an
/// `Event`, `reduce` is the only thing that changes `state`, and `carryOut` is the only place that
/// does what the reducer asked (merge into control.json, signal the job or its process group,
/// read output.log, repaint).
final class EventLoop {
    private(set) var state: AppState
    let terminal: Terminal
    let source: DashboardSource
    let job: DashboardJob?
    let watcher: FileWatcher?
    /// The signal that arrived since the last call (0: none), and the descriptor that wakes the
    /// wait when one does. The binary's come from `TerminalGuard`'s self-pipe.
    let takeSignal: () -> Int32
    let signalDescriptor: Int32?
    let clock: () -> Double
    private var dirty = true
    private var lastTick: Double
    /// What control.json looked like when last read: a change on disk (another dashboard) is re-read.
    private var controlSeen: ControlStamp?
    /// When the run was last read, and whether a change since then waits for `pollInterval`.
    private var lastPoll = -Double.infinity
    private var pollDeferred = false
    /// Why the loop ended, once it has.
    private(set) var exit: DashboardExit?

    init(state: AppState, terminal: Terminal, source: DashboardSource, job: DashboardJob?, watcher: FileWatcher?,
         takeSignal: @escaping () -> Int32 = { 0 }, signalDescriptor: Int32? = nil, clock: @escaping () -> Double = { Clock.now },
         controlSeen: ControlStamp? = nil) {
        self.state = state
        self.terminal = terminal
        self.source = source
        self.job = job
        self.watcher = watcher
        self.takeSignal = takeSignal
        self.signalDescriptor = signalDescriptor
        self.clock = clock
        lastTick = clock()
        // The caller stamps control.json before it reads it, so a write in between is not missed.
        self.controlSeen = controlSeen ?? source.runDirectory.map { ControlStamp(ControlFile.path(in: $0)) }
    }

    /// Runs until the user quits or a signal asks us to stop.
    func run() -> DashboardExit {
        while exit == nil { step() }
        return exit ?? .quit
    }

    /// One turn: draw if anything changed, wait for input, a file change, a signal or the clock
    /// (at most `timeoutMs`), then turn what happened into events.
    func step(timeoutMs: Int32? = nil) {
        if dirty {
            terminal.draw(render(state))
            dirty = false
        }
        // Wake once a second for the clock (every 100 ms when inotify is unavailable and the
        // files must be polled); at once when input is already waiting.
        let active = watcher?.isActive ?? false
        var timeout = terminal.hasBufferedInput ? 0 : (timeoutMs ?? (active ? 1000 : 100))
        // A log written thousands of lines a second is read at most every `pollInterval`; a change
        // that arrives sooner is picked up when the interval ends.
        if pollDeferred {
            timeout = min(timeout, Int32(max(1, (lastPoll + Dashboard.pollInterval - clock()) * 1000)))
        }
        // While a read waits for the interval to end, further file events cannot bring it sooner:
        // leave them queued instead of waking for each write (a log written every 10 ms woke the
        // loop, and redrew, 100 times a second).
        let watching = pollDeferred ? nil : watcher.flatMap { $0.isActive ? $0.fd : nil }
        let fds = [terminal.inputDescriptor, watching, signalDescriptor].compactMap { $0 }
        let woke = Waiter.wait(fds: fds, timeoutMs: timeout)
        let sig = takeSignal()
        if sig != 0 {
            // Ctrl-C may be meant for the job (`finetop run`); the reducer decides.
            send(sig == SIGINT ? .interrupt : .signal(sig))
            if state.shouldQuit { return finish() }
        }
        // Always drain input: a resize arrives as KEY_RESIZE after SIGWINCH interrupts the wait.
        while let input = terminal.read() {
            switch input {
            case .key(let k): send(.key(k))
            case .resize:
                terminal.invalidate()
                let s = terminal.size
                send(.resize(width: s.width, height: s.height))
            case .ignored: break
            }
            if state.shouldQuit { return finish() }
        }
        let filesChanged = watcher.map { woke.contains($0.fd) } ?? false
        if filesChanged { watcher?.drain() }
        var polled = false
        if filesChanged || !active || woke.isEmpty || pollDeferred {
            pollControl()
            if clock() - lastPoll < Dashboard.pollInterval {
                pollDeferred = true
            } else {
                pollDeferred = false
                lastPoll = clock()
                pollSource()
                polled = true
            }
        }
        pollJob()
        let now = clock()
        if (filesChanged && polled) || now - lastTick >= 1 {
            lastTick = now
            send(.tick(now: now))
        }
        if state.shouldQuit { finish() }
    }

    private func finish() {
        exit = state.quitSignal.map { .signal($0) } ?? .quit
    }

    /// The reducer's step: the next state, then its effects carried out (which may send more events).
    func send(_ event: Event) {
        let (next, effects) = reduce(state, event)
        state = next
        dirty = true
        for effect in effects { carryOut(effect) }
    }

    /// The one place that does what the reducer asks.
    private func carryOut(_ effect: Effect) {
        switch effect {
        case .writeControl(let change):
            writeControl(change)
        case .quit:
            break   // `reduce` already set `shouldQuit`; the loop ends after this turn.
        case .interruptJob:
            job?.interrupt()
        case .signalJobGroup(let sig):
            job?.signalGroup(sig)
        case .readOutput:
            guard let dir = source.runDirectory else { return }
            let lines = OutputFile.tail(dir + "/" + RunFiles.output)
            if lines != state.outputLines { send(.outputRead(lines)) }
        case .repaint:
            terminal.invalidate()
        }
    }

    /// Merges this dashboard's change into control.json under the lock, with whatever another
    /// dashboard wrote and a fresh revision (never going backwards).
    private func writeControl(_ change: ControlChange) {
        guard let dir = source.runDirectory else { return }
        do {
            let file = try ControlFile.update(in: dir, change)
            send(.controlWritten(file, change))
        } catch {
            send(.controlFailed(error.problem, change))
            // Show what really is on disk, not what could not be written (when it can be read).
            do { send(.controlRead(try ControlFile.read(from: dir))) } catch {}
        }
    }

    /// The job's process state, as an event when it changed; once its leader has ended, whether
    /// processes it started still run in its process group.
    private func pollJob() {
        guard let job, let shown = state.job?.state else { return }
        let now = job.currentState()
        if now != shown { send(.jobChanged(now)) }
        if state.job?.isRunning == false {
            let alive = job.groupAlive
            if alive != state.job?.groupAlive { send(.jobGroupChanged(alive: alive)) }
        }
    }

    /// Re-reads control.json when it changed on disk (another dashboard wrote, or it was replaced).
    private func pollControl() {
        guard let dir = source.runDirectory else { return }
        let stamp = ControlStamp(ControlFile.path(in: dir))
        guard stamp != controlSeen else { return }
        controlSeen = stamp
        do {
            send(.controlRead(try ControlFile.read(from: dir)))
        } catch {
            send(.controlUnreadable(error.description))
        }
    }

    /// New data from the run, or why it could not be read.
    private func pollSource() {
        do {
            if try source.poll() {
                // A job may start writing events.jsonl after its output.log gave read-only curves.
                if source.readOnlyReason != state.readOnlyReason { send(.readOnlyChanged(source.readOnlyReason)) }
                send(.runUpdated(source.run, lastWrite: Clock.modified(source.watchedPath)))
            }
        } catch {
            send(.readFailed(error.description))
        }
    }
}
