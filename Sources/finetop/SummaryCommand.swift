import ArgumentParser
import FinetopCore

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Print the layer table and parameter totals, Keras style.")
    @Argument(help: "A run directory, an events.jsonl, or any log finetop reads.") var path: String
    @Flag(help: "Print JSON instead of a table.") var json = false
    func run() throws { notBuiltYet("finetop summary") }
}
