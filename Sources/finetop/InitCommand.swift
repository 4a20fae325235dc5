import ArgumentParser

// Not built yet: says so and exits non-zero instead of pretending.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Write the training-side helper for a framework.")
    @Argument var framework: String
    func run() throws { notBuiltYet("finetop init") }
}
