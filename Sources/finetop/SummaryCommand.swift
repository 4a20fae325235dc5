import ArgumentParser
import FinetopCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print the layer table and parameter totals exactly as Keras 3's model.summary() does.",
        discussion: """
            The box table of `model.summary()`: the model's own name, nested models as one row (their \
            layers with --expand-nested), the Trainable column with --show-trainable, and the total \
            lines, with "Optimizer params" once the job's optimizer is built (Total counts them, as \
            in Keras). Columns fit the terminal's width (COLUMNS, else the terminal, else 80) like Keras.
            """)

    @Argument(help: "A run directory, an events.jsonl, or any log finetop reads.") var path: String
    @Flag(help: "The Trainable column (Keras's show_trainable=True).") var showTrainable = false
    @Flag(help: "The layers inside nested models (Keras's expand_nested=True).") var expandNested = false
    @Option(help: "The table's width (Keras's line_length; default: Keras's, capped at the terminal's width - 4).")
    var lineLength: Int?
    @OptionGroup var which: RunChoiceOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        if let lineLength, lineLength < 1 { throw ValidationError("--line-length must be at least 1") }
    }

    func run() throws {
        let run: Run
        do { run = try RunLoader.load(path: path, options: which.readOptions) } catch { throw UserError(error) }
        let details: KerasModelDetails
        do { details = try Self.details(of: run, path: path) } catch { throw UserError(error) }
        let options = KerasSummaryOptions(lineLength: lineLength, consoleWidth: TerminalWidth.current(),
                                          expandNested: expandNested, showTrainable: showTrainable)
        print(json ? LayerSummary.json(run, details: details, source: path) : LayerSummary.text(run, details: details, options: options))
        noteRunsInFile(run, path: path)
        if run.skippedLines > 0 {
            var err = StandardError()
            print("finetop: note: \(run.skippedLines) line(s) of \(path) were skipped (last: \(run.lastSkipReason ?? "?"))", to: &err)
        }
    }

    /// The name, optimizer size and connections from the run's latest `model` line.
    static func details(of run: Run, path: String) throws(ReadError) -> KerasModelDetails {
        guard let model = run.model else { return KerasModelDetails() }
        let resolved = try RunLoader.resolve(path: path)
        // Only finetop's own events.jsonl records the model line these come from.
        guard resolved.format.acceptsControl else { return KerasModelDetails() }
        return try KerasModelDetails.latest(inEventsFile: resolved.file, revision: model.revision) ?? KerasModelDetails()
    }
}

/// The terminal's width the way Keras and rich find it: COLUMNS, else the terminal on stdout,
/// stderr or stdin, else 80.
enum TerminalWidth {
    static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let c = environment["COLUMNS"], let n = Int(c), n > 0 { return n }
        for fd in [Int32(1), 2, 0] {
            var size = winsize()
            if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        }
        return 80
    }
}

/// The layer table printed the way Keras's `model.summary(show_trainable=True)` reads.
enum LayerSummary {
    static func text(_ run: Run, details: KerasModelDetails, options: KerasSummaryOptions) -> String {
        guard let model = run.model else {
            return [
                "Model: none recorded (\(run.format.rawValue): metrics only, no layers)",
                "Epochs: \(run.epochs.count)   Metrics: \(run.metricNames.map(DisplayText.neutralize).joined(separator: ", "))",
            ].joined(separator: "\n")
        }
        return KerasSummary.lines(model, details: details, fallbackName: run.info?.runID ?? "model", options: options)
            .joined(separator: "\n")
    }

    static func json(_ run: Run, details: KerasModelDetails, source: String) -> String {
        var fields: [(String, JSONValue)] = [
            ("source", .string(source)), ("format", .string(run.format.rawValue)),
            ("epochs", .number(Double(run.epochs.count))),
            ("skipped_lines", .number(Double(run.skippedLines))),
        ]
        if let model = run.model {
            let t = model.totals
            fields.append(("revision", .number(Double(model.revision))))
            fields.append(("name", details.name.map { .string($0) } ?? .null))
            fields.append(("optimizer_params", details.optimizerParams.map { .number(Double($0)) } ?? .null))
            fields.append(("layers", .array(model.layers.map { l in
                .object([
                    ("name", .string(l.name)), ("class", .string(l.className)), ("shape", .string(l.shape)),
                    ("params", .number(Double(l.params))), ("trainable_params", .number(Double(l.trainableParams))),
                    ("trainable", l.hasWeights ? .bool(l.trainable) : .null), ("depth", .number(Double(l.depth))),
                ])
            })))
            fields.append(("totals", .object([
                ("total", .number(Double(t.total))), ("trainable", .number(Double(t.trainable))),
                ("non_trainable", .number(Double(t.nonTrainable))),
                ("total_bytes", .number(Double(t.total) * 4)), ("trainable_bytes", .number(Double(t.trainable) * 4)),
                ("non_trainable_bytes", .number(Double(t.nonTrainable) * 4)),
                ("total_with_optimizer", .number(Double(t.total + (details.optimizerParams ?? 0)))),
                ("text", .array(KerasSummary.totalLines(t, details: details).map { .string(String($0.dropFirst())) })),
            ])))
        } else {
            fields.append(("layers", .null))
            fields.append(("totals", .null))
        }
        return JSONText.render(.object(fields))
    }
}
