import ArgumentParser
import FinetopCore

@main
struct Finetop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetop",
        abstract: "A terminal dashboard for fine-tuning: layers you can freeze, parameter counts, live curves, a diagnosis.",
        discussion: """
            With no command, finetop runs its built-in demo (a real small fine-tuning, no Python needed).
            Watch a real job with `finetop watch DIR` or start one with `finetop run -- python train.py`.
            """,
        subcommands: [
            DemoCommand.self, DemoTrainerCommand.self, RunCommand.self, WatchCommand.self, DiagnoseCommand.self,
            SummaryCommand.self, InitCommand.self,
        ],
        defaultSubcommand: DemoCommand.self)

    /// The one place errors reach the user: a `UserError` is printed once as
    /// `finetop: <file>: <what was expected>` with exit status 2; usage errors, `--help` and
    /// `ExitCode`s go through ArgumentParser as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as UserError {
            report(error)
            Self.exit(withError: ExitCode(UserError.exitStatus))
        } catch {
            // Usage errors read like every other error and exit 2 too ("bad input").
            if exitCode(for: error) == .validationFailure {
                var err = StandardError()
                var text = fullMessage(for: error)
                if text.hasPrefix("Error: ") { text = "finetop: " + text.dropFirst("Error: ".count) }
                print(text, to: &err)
                Self.exit(withError: ExitCode(UserError.exitStatus))
            }
            Self.exit(withError: error)
        }
    }

    static func report(_ error: UserError) {
        var err = StandardError()
        print("finetop: \(error.description)", to: &err)
    }
}

/// The one error type for the user: what went wrong, and with which file when there is one.
/// Commands and helpers throw it; only `Finetop.main` prints it and exits (status 2).
struct UserError: Error, CustomStringConvertible {
    static let exitStatus: Int32 = 2
    /// The file or directory concerned, when there is one.
    let file: String?
    /// What was expected of it, or what to do instead.
    let message: String
    var description: String { file.map { "\($0): \(message)" } ?? message }
    init(_ message: String) {
        self.file = nil
        self.message = message
    }
    init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    init(_ e: ReadError) {
        self.file = e.path
        self.message = e.problem
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleStderr.write(string)
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}


#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
