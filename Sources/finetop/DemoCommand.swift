import ArgumentParser

// Not built yet: says so and exits non-zero instead of pretending.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the built-in fine-tuning demo in the dashboard.")
    func run() throws { notBuiltYet("finetop demo") }
}
