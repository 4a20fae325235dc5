import ArgumentParser

// Not built yet: says so and exits non-zero instead of pretending.
struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diagnose", abstract: "Print the diagnosis of a run without the dashboard.")
    @Argument var path: String
    func run() throws { notBuiltYet("finetop diagnose") }
}
