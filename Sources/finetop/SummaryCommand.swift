import ArgumentParser
import FinetopCore

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print the layer table and parameter totals, Keras style.")

    @Argument(help: "A run directory, an events.jsonl, or any log finetop reads.") var path: String
    @Option(name: .customLong("run"), help: "Which run of a log holding several (1 = the first; default: the last).")
    var runNumber: Int?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let run: Run
        do { run = try RunLoader.load(path: path, options: ReadOptions(run: runNumber)) } catch { fail(error.description) }
        print(json ? LayerSummary.json(run, source: path) : LayerSummary.text(run))
        if run.runsInFile > 1 {
            var err = StandardError()
            print("finetop: \(path) holds \(run.runsInFile) runs; this is run \(run.runNumber) (--run K for another)", to: &err)
        }
        if run.skippedLines > 0 {
            var err = StandardError()
            print("finetop: note: \(run.skippedLines) line(s) of \(path) were skipped (last: \(run.lastSkipReason ?? "?"))", to: &err)
        }
    }
}

/// The layer table printed the way Keras's `model.summary(show_trainable=True)` reads.
enum LayerSummary {
    static func text(_ run: Run) -> String {
        var lines: [String] = []
        let name = DisplayText.neutralize(run.info?.runID ?? "run")
        guard let model = run.model else {
            lines.append("Model: none recorded (\(run.format.rawValue): metrics only, no layers)")
            lines.append("Epochs: \(run.epochs.count)   Metrics: \(run.metricNames.map(DisplayText.neutralize).joined(separator: ", "))")
            return lines.joined(separator: "\n")
        }
        var title = "Model: \"\(name)\""
        if let info = run.info { title += "  (\(DisplayText.neutralize(info.framework))\(info.frameworkVersion.map { " " + DisplayText.neutralize($0) } ?? ""), revision \(model.revision))" }
        lines.append(title)
        let rows = model.layers.map { layer -> (String, String, String, String) in
            let indent = String(repeating: "  ", count: layer.depth)
            let label = indent + DisplayText.neutralize(layer.name) + " (" + DisplayText.neutralize(layer.className) + ")"
            let flag = layer.hasWeights ? (layer.trainable ? "Y" : "N") : "-"
            return (label, DisplayText.neutralize(layer.shape), KerasFormat.count(layer.params), flag)
        }
        let w0 = max(12, rows.map { $0.0.count }.max() ?? 0)
        let w1 = max(12, rows.map { $0.1.count }.max() ?? 0)
        let w2 = max(7, rows.map { $0.2.count }.max() ?? 0)
        func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
        func lpad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        let header = pad("Layer (type)", w0) + "  " + pad("Output Shape", w1) + "  " + lpad("Param #", w2) + "  Trainable"
        let rule = String(repeating: "─", count: header.count)
        lines.append(rule)
        lines.append(header)
        lines.append(rule)
        for r in rows {
            lines.append(pad(r.0, w0) + "  " + pad(r.1, w1) + "  " + lpad(r.2, w2) + "  " + r.3)
        }
        lines.append(rule)
        lines.append(contentsOf: model.totals.kerasLines.map { " " + $0 })
        return lines.joined(separator: "\n")
    }

    static func json(_ run: Run, source: String) -> String {
        var fields: [(String, JSONValue)] = [
            ("source", .string(source)), ("format", .string(run.format.rawValue)),
            ("epochs", .number(Double(run.epochs.count))),
            ("skipped_lines", .number(Double(run.skippedLines))),
        ]
        if let model = run.model {
            let t = model.totals
            fields.append(("revision", .number(Double(model.revision))))
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
                ("text", .array(t.kerasLines.map { .string($0) })),
            ])))
        } else {
            fields.append(("layers", .null))
            fields.append(("totals", .null))
        }
        return JSONText.render(.object(fields))
    }
}
