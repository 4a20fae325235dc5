import FinetopCore

extension SuggestedAction {
    /// `{"kind": "set_trainable", "trainable": {...}}`, `{"kind": "stop"}` or
    /// `{"kind": "set_learning_rate", "factor": 10}`.
    public var json: JSONValue {
        switch self {
        case .setTrainable(let flags):
            let sorted = flags.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.bool($0.value)) }
            return .object([("kind", "set_trainable"), ("trainable", .object(sorted))])
        case .stopJob:
            return .object([("kind", "stop")])
        case .setLearningRate(let factor):
            return .object([("kind", "set_learning_rate"), ("factor", .number(factor))])
        }
    }
}

extension DiagnosisReport {
    /// The one object `finetop diagnose --json` prints.
    public var json: String {
        let d = current
        let suggestions: [JSONValue] = d.suggestions.map { s in
            .object([("id", .string(s.id)), ("text", .string(s.text)), ("action", s.action?.json ?? .null)])
        }
        let history: [JSONValue] = self.history.map { h in
            .object([("epoch", JSONValue(h.epoch)), ("label", .string(h.label.rawValue))])
        }
        var fields: [(String, JSONValue)] = [
            ("label", .string(d.label.rawValue)),
            ("since_epoch", JSONValue(d.sinceEpoch)),
            ("confidence", .number(Self.rounded(d.confidence))),
            ("epochs", JSONValue(d.epochs)),
            ("evidence", .array(d.evidence.map { .string($0) })),
            ("suggestions", .array(suggestions)),
            ("history", .array(history)),
        ]
        // Only for runs with layer_stats: the fields above keep their shape for every run.
        if let learning = d.learning { fields.append(("learning", learning.json)) }
        let object: JSONValue = .object(fields)
        return JSONText.render(object)
    }

    /// The human-readable diagnosis: label line, evidence, numbered suggestions. Epochs are 1-based
    /// here, as Keras prints them.
    public var text: String {
        let d = current
        var lines = ["\(d.label.rawValue.uppercased()) since epoch \(d.sinceEpoch + 1) "
            + "(confidence \(NumberText.percent(d.confidence)), \(d.epochs) epochs)"]
        lines += d.evidence.map { "  - " + $0 }
        if !d.suggestions.isEmpty {
            lines.append("Suggestions:")
            for (k, s) in d.suggestions.enumerated() {
                lines.append("  \(k + 1). \(s.text)" + (s.action.map { " [\(Self.actionWord($0))]" } ?? ""))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func actionWord(_ a: SuggestedAction) -> String {
        switch a {
        case .setTrainable(let flags): return "dashboard can apply: \(flags.count) layer flags"
        case .stopJob: return "dashboard can apply: stop the job"
        case .setLearningRate(let factor): return "dashboard can apply: learning rate \(NumberText.rateFactor(factor))"
        }
    }

    static func rounded(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}
