import ArgumentParser

// Commands that later issues build. Each says so and exits non-zero instead of pretending.

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the built-in fine-tuning demo in the dashboard.")
    func run() throws { notBuiltYet("finetop demo") }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Start a training job with a run directory and watch it live.")
    @Argument(parsing: .captureForPassthrough) var command: [String] = []
    func run() throws { notBuiltYet("finetop run") }
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Open the dashboard on a run directory or a log file.")
    @Argument var path: String
    func run() throws { notBuiltYet("finetop watch") }
}

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diagnose", abstract: "Print the diagnosis of a run without the dashboard.")
    @Argument var path: String
    func run() throws { notBuiltYet("finetop diagnose") }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Write the training-side helper for a framework.")
    @Argument var framework: String
    func run() throws { notBuiltYet("finetop init") }
}
