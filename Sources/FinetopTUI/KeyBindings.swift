/// What a key asks the dashboard to do. `reduce` carries each one out (`perform` in Reducer.swift).
public enum Action: Sendable, Equatable, CaseIterable {
    case cursorDown, cursorUp, pageDown, pageUp, firstLayer, lastLayer
    case fold, foldAll, sortByRatio
    case search, nextMatch, previousMatch
    case toggle, unfreezeFromHere, freezeToHere, applySuggestion, stop
    case output, cycleMetric, logScale, help, repaint, quit, interrupt
    /// Tuning.swift: the learning rate, an unfreeze keeping the rate, gradual unfreezing, Keras's apply now.
    case setRate, rateUp, rateDown, unfreezeKeepRate, startPlan, cancelPlan, applyNow
}

/// One row of the key table: the keys, what they do, and when they do nothing and why.
/// The reducer's dispatch, the key bar, the help overlay and the README's key table all read
/// `KeyBindings.all` (lazygit's `Binding` with `GetDisabledReason`): adding a key is one entry here.
public struct Binding: Sendable {
    /// The keys as the help and the README name them ("j k / arrows").
    public let label: String
    /// Each key and the action it triggers.
    public let keys: [(key: Key, action: Action)]
    /// The help overlay's and README's text.
    public let help: String
    /// The help text when Ctrl-C interrupts a job instead of quitting (`finetop run`); nil: same.
    public let helpWithJob: String?
    /// The short form for the key bar, with the key shown there and its rank (lower shows first
    /// and stays longest on a narrow screen); nil: help only.
    public let bar: (key: String, text: String, rank: Int)?
    /// Works in every mode (while searching, asking y/n, over an overlay).
    public let global: Bool
    /// Why the keys do nothing now (shown in the status line instead), or nil when they work.
    public let disabledReason: @Sendable (AppState) -> StatusMessage?

    init(_ label: String, _ keys: [(Key, Action)], help: String, helpWithJob: String? = nil,
         bar: (String, String, Int)? = nil, global: Bool = false,
         disabledReason: @escaping @Sendable (AppState) -> StatusMessage? = { _ in nil }) {
        self.label = label
        self.keys = keys.map { (key: $0.0, action: $0.1) }
        self.help = help
        self.helpWithJob = helpWithJob
        self.bar = bar.map { (key: $0.0, text: $0.1, rank: $0.2) }
        self.global = global
        self.disabledReason = disabledReason
    }

    /// The help text for this dashboard (it differs when Ctrl-C goes to a job).
    public func help(for s: AppState) -> String {
        if let helpWithJob, s.job?.ctrlCInterruptsJob == true { return helpWithJob }
        return help
    }
}

/// The dashboard's keys, in the order the help and the key bar show them.
public enum KeyBindings {
    public static let all: [Binding] = [
        Binding("j k / arrows", [(.char("j"), .cursorDown), (.down, .cursorDown), (.char("k"), .cursorUp), (.up, .cursorUp)],
                help: "move the cursor"),
        Binding("PgUp PgDn d", [(.pageUp, .pageUp), (.pageDown, .pageDown), (.char("d"), .pageDown)],
                help: "page through the layer table"),
        Binding("g G / Home End", [(.char("g"), .firstLayer), (.home, .firstLayer), (.char("G"), .lastLayer), (.end, .lastLayer)],
                help: "first / last layer"),
        Binding("z Z", [(.char("z"), .fold), (.char("Z"), .foldAll)],
                help: "fold / unfold the block under the cursor (a MobileNetV2 block, features.3, encoder.layer.0); Z: every block"),
        Binding("O", [(.char("O"), .sortByRatio)], help: "order the layers by latest update ratio / back to model order",
                disabledReason: noLayerStats),
        Binding("/ n N", [(.char("/"), .search), (.char("n"), .nextMatch), (.char("N"), .previousMatch)],
                help: "search layer names and classes; n N: next / previous match", bar: ("/", "search", 8)),
        Binding("space", [(.char(" "), .toggle)], help: "toggle trainable for the layer under the cursor (a folded block: all its layers)",
                bar: ("space", "toggle", 1), disabledReason: readOnly),
        Binding("u U", [(.char("u"), .unfreezeFromHere), (.char("U"), .unfreezeKeepRate)],
                help: "unfreeze from the cursor to the end (the last N) at rate ÷10: own param group (PyTorch, HF, "
                    + "Lightning), the whole rate in Keras; U: the rate unchanged",
                bar: ("u", "unfreeze from here", 2), disabledReason: readOnly),
        Binding("f", [(.char("f"), .freezeToHere)], help: "freeze from the top down to the cursor",
                bar: ("f", "freeze to here", 3), disabledReason: readOnly),
        Binding("a", [(.char("a"), .applySuggestion)], help: "apply the diagnosis's top suggestion when it is an action",
                bar: ("a", "apply fix", 4), disabledReason: noSuggestion),
        Binding("!", [(.char("!"), .applyNow)],
                help: "Keras: apply the pending change now, ending the epoch early at the next batch (apply_now)",
                disabledReason: nothingToApplyNow),
        Binding("r + -", [(.char("r"), .setRate), (.char("+"), .rateUp), (.char("="), .rateUp), (.char("-"), .rateDown)],
                help: "set the whole optimizer's learning rate (type a value, enter); + (or =) ×10, - ÷10",
                bar: ("r", "rate", 6), disabledReason: readOnly),
        Binding("p P", [(.char("p"), .startPlan), (.char("P"), .cancelPlan)],
                help: "gradual unfreezing: one more block every K epochs (type K) back to the cursor's block, rate ÷10 "
                    + "each, shown in the header; P cancels it",
                bar: ("p", "plan", 11), disabledReason: readOnly),
        Binding("s", [(.char("s"), .stop)], help: "ask the job to stop (y/n first; a second s sends Ctrl-C)",
                bar: ("s", "stop", 7), disabledReason: cannotStop),
        Binding("o", [(.char("o"), .output)], help: "the tail of the run's output.log",
                bar: ("o", "output", 0), disabledReason: noOutput),
        Binding("m", [(.char("m"), .cycleMetric)], help: "cycle the chart's metric", bar: ("m", "metric", 5)),
        Binding("l", [(.char("l"), .logScale)], help: "log scale (when every value is > 0)", bar: ("l", "log", 6),
                disabledReason: noLogScale),
        Binding("?", [(.char("?"), .help)], help: "this help: moving keys scroll it, other keys close it", bar: ("?", "help", 9)),
        Binding("Ctrl-L", [(.ctrl("l"), .repaint)], help: "repaint the screen", global: true),
        Binding("q", [(.char("q"), .quit)], help: "quit", helpWithJob: "quit (a running job keeps running)",
                bar: ("q", "quit", 10)),
        Binding("Ctrl-C", [(.ctrl("c"), .interrupt)], help: "quit (as do SIGTERM and SIGHUP)",
                helpWithJob: "interrupt the job (SIGINT) and stay open", global: true),
    ]

    /// The binding and action for a key, or nil when the key does nothing.
    public static func lookup(_ key: Key) -> (binding: Binding, action: Action)? {
        for b in all {
            for k in b.keys where k.key == key { return (b, k.action) }
        }
        return nil
    }

    /// The README's key table, generated from `all` (a test keeps README.md equal to it).
    public static var markdownTable: String {
        var rows = ["| key | does |", "|---|---|"]
        for b in all {
            // A "/" between keys means "or"; first, it is the search key.
            let keys = b.label.split(separator: " ").enumerated().map { i, part -> String in
                part == "/" && i > 0 ? "/" : "`\(part)`"
            }.joined(separator: " ")
            var text = b.help
            if let job = b.helpWithJob { text += "; under `finetop run`: " + job }
            rows.append("| \(keys) | \(text.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        return rows.joined(separator: "\n")
    }

    // MARK: - Why a key does nothing now

    @Sendable static func readOnly(_ s: AppState) -> StatusMessage? {
        s.readOnlyReason.map { StatusMessage("read-only: \($0)", .warning) }
    }

    @Sendable static func noSuggestion(_ s: AppState) -> StatusMessage? {
        guard let top = s.report.current.suggestions.first else { return StatusMessage("no suggestion to apply") }
        guard let action = top.action else { return StatusMessage("advice only, nothing to apply: \(top.text)") }
        switch action {
        case .setTrainable: return readOnly(s)
        case .stopJob: return s.readOnlyReason.map { StatusMessage("cannot stop: \($0)", .warning) }
        case .setLearningRate(let factor): return cannotSetRate(s, factor: factor)
        }
    }

    @Sendable static func cannotStop(_ s: AppState) -> StatusMessage? {
        if let why = s.readOnlyReason { return StatusMessage("cannot stop: \(why)", .warning) }
        if let job = s.job {
            if !job.isRunning { return StatusMessage("the job has already ended") }
            // A second `s` while the job is still running sends Ctrl-C, even after its end line.
            if job.stopAskedAt != nil && !job.interrupted { return nil }
        }
        return s.run.end != nil ? StatusMessage("the job has already ended") : nil
    }

    @Sendable static func noOutput(_ s: AppState) -> StatusMessage? {
        // A job started by `finetop run` has output.log even when its run is read-only (it never
        // imported finetop, so its curves come from that very output).
        s.readOnlyReason == nil || s.job != nil ? nil
            : StatusMessage("no output.log: this is a log file, not a job's run directory", .warning)
    }

    @Sendable static func noLogScale(_ s: AppState) -> StatusMessage? {
        if s.logScale || allPositive(s, s.metric) { return nil }
        return StatusMessage("log scale needs every \(s.metric) value > 0", .warning)
    }
}
