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
}

/// An error the user can act on: one line on stderr, exit status 2, no stack trace.
struct UserError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
    init(_ e: ReadError) { self.message = e.description }
}

/// Prints `finetop: message` and exits with `code`. The only way our commands fail.
func fail(_ message: String, code: Int32 = 2) -> Never {
    var err = StandardError()
    print("finetop: \(message)", to: &err)
    Finetop.exit(withError: ExitCode(code))
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
