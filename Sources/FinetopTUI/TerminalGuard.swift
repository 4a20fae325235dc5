#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
