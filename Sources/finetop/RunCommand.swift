import ArgumentParser

// Not built yet: says so and exits non-zero instead of pretending.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Start a training job with a run directory and watch it live.")
    @Argument(parsing: .captureForPassthrough) var command: [String] = []
    func run() throws { notBuiltYet("finetop run") }
}
