import ArgumentParser

// Not built yet: says so and exits non-zero instead of pretending.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Open the dashboard on a run directory or a log file.")
    @Argument var path: String
    func run() throws { notBuiltYet("finetop watch") }
}
