import FinetopCore
import FinetopDiagnosis

// The fine-tuning moves beyond trainable flags (issue 13): the learning rate, an unfreeze that
// carries a rate for what it unfreezes, gradual unfreezing as a plan the job carries out, and
// Keras's "apply now". Everything goes through the one write path (`setTrainable` in Reducer.swift).

/// How a job's framework gives a rate to the layers being unfrozen.
public enum RateScope: Sendable, Equatable {
    /// Each param group has its own rate (PyTorch, Hugging Face, Lightning, the demo): the layers
    /// being unfrozen get the head's rate × `unfreeze_lr_factor`.
    case perGroup
    /// One rate for the whole optimizer (Keras): the rate of everything changes.
    case wholeOptimizer
    /// A framework finetop's helpers do not steer: flags only.
    case unknown

    static func of(_ run: Run) -> RateScope {
        switch run.info?.framework.lowercased() {
        case "keras": return .wholeOptimizer
        case "pytorch", "transformers", "lightning", "demo": return .perGroup
        default: return .unknown
        }
    }
}

/// A value being typed in the status line.
public enum TuningPrompt: Sendable, Equatable {
    /// The learning rate for the whole optimizer.
    case learningRate(String)
    /// Gradual unfreezing: epochs between two steps, for these groups (unfrozen in this order)
    /// named by their blocks.
    case planEvery(String, groups: [[String]], blocks: [String])

    var text: String {
        switch self {
        case .learningRate(let t), .planEvery(let t, _, _): return t
        }
    }
}

/// What a write sends besides trainable flags.
struct TuningChange: Sendable, Equatable {
    /// nil leaves control.json's rate, `.some(nil)` removes it.
    var learningRate: Double?? = nil
    /// Every write says it anew (the factor is about what *this* revision unfreezes): removed unless set.
    var unfreezeLRFactor: Double?? = .some(nil)
    var plan: ControlPlan?? = nil
    var applyNow = false

    func apply(to change: inout ControlChange) {
        change.learningRate = learningRate
        change.unfreezeLRFactor = unfreezeLRFactor
        change.plan = plan
        change.applyNow = applyNow
    }
}

/// A rate the job applied from control.json, and how many epoch lines the run had then.
struct AppliedRate: Sendable, Equatable {
    var rate: Double
    var epochs: Int
}

/// Where a plan stands, from control.json and the job's `control` lines.
public struct PlanProgress: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Written; the job has not answered yet.
        case sent
        case running
        /// The cancel is written; the job has not answered yet.
        case cancelling
        case finished
        case cancelled
        /// The job refused the plan or a step failed; the job's words.
        case failed(String)
    }
    public var id: String
    public var steps: Int
    public var done: Int
    public var state: State
}

/// The learning rate and plan this dashboard (or another) put in control.json, and what the job
/// answered.
public struct TuningState: Sendable, Equatable {
    /// control.json's `learning_rate`; nil: the job keeps its own.
    public var rate: Double?
    /// The revision that set `rate`; the rate is pending until the job answers a revision ≥ it.
    public var rateAt: Int?
    /// Whether the job has answered `rate` (applied or not).
    var rateAnswered = false
    /// The rate the job last applied from control.json and the number of epoch lines then: the
    /// header shows it until a later epoch line reports the job's rate itself.
    var applied: AppliedRate?
    /// control.json's plan, the revision that first wrote it (its id), and the one that cancelled it.
    public var plan: ControlPlan?
    public var planAt: Int?
    public var planCancelAt: Int?
    /// A value being typed (`r`, `p`); keys go to it until enter or esc.
    public var prompt: TuningPrompt?

    public init(existing file: ControlFile? = nil) {
        guard let file else { return }
        rate = file.learningRate
        rateAt = file.learningRate == nil ? nil : file.revision
        takePlan(file.plan, at: file.revision)
    }

    /// A plan from control.json or this dashboard: a new id starts its progress anew; the same
    /// id (a later revision, a cancel) keeps it.
    private mutating func takePlan(_ next: ControlPlan?, at revision: Int) {
        guard next != plan else { return }
        if next?.id != plan?.id || planAt == nil {
            planAt = next == nil ? nil : revision
            planCancelAt = nil
        }
        if next?.cancel == true && plan?.cancel != true { planCancelAt = revision }
        plan = next
    }

    /// Follows what is on disk (another dashboard's write, a re-read after a failed write).
    mutating func adopt(_ file: ControlFile?) {
        let f = file ?? ControlFile()
        if f.learningRate != rate {
            rate = f.learningRate
            rateAt = f.learningRate == nil ? nil : f.revision
            rateAnswered = false
        }
        takePlan(f.plan, at: f.revision)
    }

    /// What this dashboard just asked for, in `revision`.
    mutating func record(_ change: TuningChange, at revision: Int) {
        if let rate = change.learningRate {
            self.rate = rate
            rateAt = rate == nil ? nil : revision
            rateAnswered = false
        }
        if let plan = change.plan { takePlan(plan, at: revision) }
    }

    /// The write landed in `file` (at a higher revision than asked when another dashboard wrote meanwhile).
    mutating func written(_ file: ControlFile, _ change: ControlChange) {
        if case .some(let r) = change.learningRate {
            rate = file.learningRate
            rateAt = r == nil ? nil : file.revision
        } else {
            adopt(ControlFile(revision: file.revision, learningRate: file.learningRate, plan: plan))
        }
        if change.plan != nil && file.revision != change.atLeast {
            // Another dashboard wrote meanwhile: this plan's revision is the file's.
            if planAt == change.atLeast { planAt = file.revision }
            if planCancelAt == change.atLeast { planCancelAt = file.revision }
        }
        takePlan(file.plan, at: file.revision)
    }

    /// The write failed: what it asked for is not in control.json (the loop re-reads the file).
    mutating func failed(_ change: ControlChange) {
        if change.learningRate != nil {
            rate = nil
            rateAt = nil
        }
        if change.plan != nil {
            plan = nil
            planAt = nil
            planCancelAt = nil
        }
    }
}

extension AppState {
    /// How this job's framework rates the layers being unfrozen.
    public var rateScope: RateScope { RateScope.of(run) }

    /// The rate the job last reported: the latest epoch line's `learning_rate` (or `lr`), else
    /// the run line's hyper-parameters.
    public var reportedRate: Double? {
        if let last = run.epochs.last, let v = last.values["learning_rate"] ?? last.values["lr"], v.isFinite, v > 0 {
            return v
        }
        return run.info?.hparams.learningRate
    }

    /// control.json's rate waits for the job's answer.
    public var ratePending: Bool {
        guard tuning.rate != nil, let at = tuning.rateAt else { return false }
        return at > lastAckedRevision && !jobHasEnded
    }

    /// The rate to show: the one the job applied from control.json until an epoch line after it
    /// reports the rate itself, else the reported one.
    public var currentRate: Double? {
        if let a = tuning.applied, run.epochs.count <= a.epochs { return a.rate }
        return reportedRate
    }

    /// The rate ×10 and ÷10 start from: the one asked for while pending, else the current one.
    var baseRate: Double? { ratePending ? tuning.rate : currentRate }

    /// The plan's progress, read from the job's `control` lines ("plan <id>: step i/n …").
    public var planProgress: PlanProgress? {
        guard let plan = tuning.plan, let at = tuning.planAt else { return nil }
        var p = PlanProgress(id: plan.id, steps: plan.groups.count, done: 0, state: .sent)
        let tag = "plan \(plan.id)"
        var answered = false
        for ack in run.acks where ack.revision >= at {
            let text = ack.message ?? ""
            if !answered {
                answered = true
                if ack.status == .rejected && (ack.revision == at || text.contains(tag)) {
                    p.state = .failed(text)
                    break
                }
                p.state = .running
            }
            guard let r = text.range(of: tag) else { continue }
            let rest = text[r.upperBound...]
            // "plan p1" is not "plan p10".
            guard rest.first.map({ $0 == ":" || $0 == " " }) ?? true else { continue }
            if rest.hasPrefix(": step "), let slash = rest.firstIndex(of: "/"),
               let i = Int(rest[rest.index(rest.startIndex, offsetBy: 7)..<slash]) {
                p.done = max(p.done, i)
            }
            if ack.status == .rejected || rest.contains("failed") {
                p.state = .failed(text)
            } else if rest.contains("cancelled") || rest.contains("nothing to cancel") {
                p.state = .cancelled
                if let n = Self.stepsDone(rest) { p.done = n }
            } else if text.contains("plan finished") || text.contains("plan done") || (p.steps > 0 && p.done >= p.steps) {
                p.state = .finished
            }
        }
        if plan.cancel {
            switch p.state {
            case .sent, .running: p.state = lastAckedRevision >= (tuning.planCancelAt ?? at) ? .cancelled : .cancelling
            case .cancelling, .finished, .cancelled, .failed: break
            }
        } else if p.done >= p.steps && p.steps > 0, case .running = p.state {
            p.state = .finished
        }
        if case .sent = p.state, jobHasEnded { p.state = .failed("the job ended before it answered") }
        return p
    }

    /// "cancelled after step 2/3" → 2.
    private static func stepsDone(_ text: Substring) -> Int? {
        guard let r = text.range(of: "after step ") else { return nil }
        return Int(text[r.upperBound...].prefix { $0.isNumber })
    }

    /// A plan is carried out now (or about to be).
    var planActive: Bool {
        guard let p = planProgress else { return false }
        switch p.state {
        case .sent, .running, .cancelling: return true
        case .finished, .cancelled, .failed: return false
        }
    }

    /// Keras applies a trainable change at the epoch's end: the epoch it waits for, while it waits.
    public var kerasAppliesAtEpoch: Int? {
        guard rateScope == .wholeOptimizer, pendingCount > 0, !jobHasEnded, readOnlyReason == nil else { return nil }
        // The epoch running now: the batches' latest, else the one after the last epoch line
        // (the job reads control.json right after writing an epoch line, so that one is past).
        let done = (run.epochs.last?.epoch).map { $0 + 1 } ?? 0
        if let b = run.batches.epochs.last, Int(b) + 1 > done { return Int(b) + 1 }
        return done + 1
    }

    /// The groups of a gradual-unfreezing plan: the model's blocks (`LayerBlocks`) walking back
    /// from the last one to the cursor's, each the rows with weights still frozen there; blocks
    /// with nothing frozen are skipped. Returns the groups and their blocks' names.
    func planGroups() -> (groups: [[String]], blocks: [String]) {
        let ls = layers
        guard !ls.isEmpty, let model = run.model else { return ([], []) }
        let cursorRow = min(max(0, cursor), ls.count - 1)
        var groups: [[String]] = [], names: [String] = []
        var taken = Set<String>()
        for block in LayerBlocks.group(ls).reversed() {
            var flags: [String: Bool] = [:]
            for i in block.rows where ls[i].hasWeights && !shownFlag(ls[i]) && !taken.contains(ls[i].name) {
                flags[ls[i].name] = true
            }
            if !flags.isEmpty {
                // A child of a frozen nested model trains only with its parent: the same rule as a toggle.
                let change = model.consistentChange(flags, desired: control.desired, shown: { shownFlag($0) })
                let group = change.filter { $0.value && !taken.contains($0.key) }.map(\.key)
                    .sorted { (model.index(named: $0) ?? 0) < (model.index(named: $1) ?? 0) }
                if !group.isEmpty {
                    groups.append(group)
                    names.append(block.name)
                    taken.formUnion(group)
                }
            }
            if block.rows.contains(cursorRow) || block.rows.lowerBound < cursorRow { break }
        }
        return (groups, names)
    }
}

/// A learning rate as people write it: 0.001, 0.0001, 1e-05.
func rateText(_ x: Double) -> String { NumberFormat.cFormat("%g", x) }

/// Text without the spaces around it.
private func trimmed(_ text: String) -> String {
    String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
}

// MARK: - Carrying out the keys

/// The tuning keys' actions (`KeyBindings.all` says which key does which).
func performTuning(_ action: Action, _ s: inout AppState) -> [Effect] {
    switch action {
    case .setRate:
        s.tuning.prompt = .learningRate("")
    case .rateUp: return scaleRate(&s, by: 10)
    case .rateDown: return scaleRate(&s, by: 0.1)
    case .unfreezeKeepRate: return unfreezeFromCursor(&s, rateFactor: nil)
    case .startPlan: return askPlan(&s)
    case .cancelPlan: return cancelPlan(&s)
    case .applyNow: return applyNow(&s)
    case .cursorDown, .cursorUp, .pageDown, .pageUp, .firstLayer, .lastLayer, .fold, .foldAll, .sortByRatio,
         .search, .nextMatch, .previousMatch,
         .toggle, .unfreezeFromHere, .freezeToHere, .applySuggestion, .stop, .output, .cycleMetric, .logScale,
         .help, .repaint, .quit, .interrupt:
        break
    }
    return []
}

/// A key while a value is being typed: enter sends it, esc drops it.
func tuningPromptKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    guard let prompt = s.tuning.prompt else { return [] }
    var text = prompt.text
    switch key {
    case .escape:
        s.tuning.prompt = nil
        s.message = StatusMessage("nothing changed")
        return []
    case .enter:
        s.tuning.prompt = nil
        switch prompt {
        case .learningRate:
            let t = trimmed(text)
            guard let v = Double(t), ControlFile.isPositiveRate(v) else {
                s.message = StatusMessage("\"\(t)\" is not a learning rate: type a positive number such as 1e-5 or 0.0001", .warning)
                return []
            }
            return setRate(&s, v)
        case .planEvery(_, let groups, let blocks):
            let t = trimmed(text)
            guard let k = t.isEmpty ? 1 : Int(t), (1...10_000).contains(k) else {
                s.message = StatusMessage("\"\(t)\" is not a number of epochs: type a whole number ≥ 1", .warning)
                return []
            }
            return startPlan(&s, groups: groups, blocks: blocks, every: k)
        }
    case .backspace:
        if !text.isEmpty { text.removeLast() }
    case .char(let c):
        if text.count < 24 { text.append(c) }
    case .up, .down, .left, .right, .pageUp, .pageDown, .home, .end, .tab, .ctrl:
        return []
    }
    switch prompt {
    case .learningRate: s.tuning.prompt = .learningRate(text)
    case .planEvery(_, let groups, let blocks): s.tuning.prompt = .planEvery(text, groups: groups, blocks: blocks)
    }
    return []
}

private func setRate(_ s: inout AppState, _ rate: Double) -> [Effect] {
    let from = s.baseRate.map { rateText($0) + " → " } ?? ""
    return setTrainable(&s, [:], describe: "learning rate \(from)\(rateText(rate))",
                        tuning: TuningChange(learningRate: .some(rate)))
}

private func scaleRate(_ s: inout AppState, by factor: Double) -> [Effect] {
    guard let base = s.baseRate else {
        s.message = StatusMessage("the job has not reported its learning rate yet: r sets one", .warning)
        return []
    }
    let next = base * factor
    guard ControlFile.isPositiveRate(next) else {
        s.message = StatusMessage("\(rateText(base)) × \(rateText(factor)) is not a usable learning rate", .warning)
        return []
    }
    return setRate(&s, next)
}

/// `a` on "raise / lower the learning rate 10×": the job's current rate × `factor`, through the
/// same write as `r`/`+`/`-` (one revision with `learning_rate`, pending until the job answers).
/// It starts from the current rate, not from one still pending, so the rate the diagnosis named
/// is the one written and a second `a` before the job answers does not multiply it again.
func applyRateSuggestion(_ s: inout AppState, factor: Double) -> [Effect] {
    if let why = KeyBindings.cannotSetRate(s, factor: factor) {
        s.message = why
        return []
    }
    guard let now = s.currentRate else { return [] }
    // 1e-05 × 10 is 0.00010000000000000002 in binary: write the rate the text named, 0.0001.
    let target = Double(NumberFormat.cFormat("%.12g", now * factor)) ?? now * factor
    guard ControlFile.isPositiveRate(target) else {
        s.message = StatusMessage("\(rateText(now)) × \(rateText(factor)) is not a usable learning rate", .warning)
        return []
    }
    if s.ratePending, s.tuning.rate == target, let at = s.tuning.rateAt {
        s.message = StatusMessage("learning rate \(rateText(target)) is already asked for (revision \(at)); waiting for the job")
        return []
    }
    let times = factor >= 1 ? "×\(rateText(factor))" : "÷\(rateText((1 / factor).rounded()))"
    return setTrainable(&s, [:], describe: "learning rate \(rateText(now)) → \(rateText(target)) (the current \(times), as the diagnosis suggests)",
                        tuning: TuningChange(learningRate: .some(target)))
}

/// An unfreeze that also lowers the rate for what it unfreezes, in one revision: PyTorch-like
/// jobs give the unfrozen layers their own param group at the head's rate × `rateFactor`; Keras
/// has one rate per optimizer, so the whole rate becomes the current one × `rateFactor`.
func unfreezeWithRate(_ s: inout AppState, _ change: [String: Bool], describe: String, rateFactor: Double?) -> [Effect] {
    guard let factor = rateFactor, change.values.contains(true) else {
        return setTrainable(&s, change, describe: describe)
    }
    let times = factor < 1 ? "÷\(rateText(1 / factor))" : "×\(rateText(factor))"
    switch s.rateScope {
    case .perGroup:
        let at = s.currentRate.map { " (\(rateText($0 * factor)))" } ?? ""
        return setTrainable(&s, change, describe: describe + ", at the head's rate \(times)\(at)",
                            tuning: TuningChange(unfreezeLRFactor: .some(factor)))
    case .wholeOptimizer:
        guard let base = s.baseRate else {
            return setTrainable(&s, change, describe: describe + "; the rate is unknown, so unchanged (r sets it)")
        }
        return setTrainable(&s, change,
                            describe: describe + " and set the rate \(rateText(base)) → \(rateText(base * factor)) "
                                + "(Keras: one rate for all layers)",
                            tuning: TuningChange(learningRate: .some(base * factor)))
    case .unknown:
        return setTrainable(&s, change, describe: describe + "; the rate unchanged (this job takes no rate from finetop)")
    }
}

private func askPlan(_ s: inout AppState) -> [Effect] {
    if let p = s.planProgress, s.planActive {
        s.message = StatusMessage("plan \(p.id) is running (\(p.done)/\(p.steps)): P cancels it first")
        return []
    }
    let (groups, blocks) = s.planGroups()
    guard !groups.isEmpty else {
        s.message = StatusMessage("nothing frozen from the cursor's block to the end: move the cursor up to where the plan should stop")
        return []
    }
    s.tuning.prompt = .planEvery("", groups: groups, blocks: blocks)
    return []
}

/// The plan's question in the status line: how many blocks, which, and the rate.
func planPromptText(_ s: AppState, _ blocks: [String], _ typed: String) -> String {
    let span = blocks.count == 1 ? blocks[0] : "\(blocks[0]) back to \(blocks[blocks.count - 1])"
    let rate = s.rateScope == .wholeOptimizer ? "whole rate ÷10 each step" : "each at rate ÷10"
    return "every K epochs, K: \(typed)_ \(Glyphs(ascii: s.options.ascii).dot) unfreeze \(blocks.count) block\(blocks.count == 1 ? "" : "s") (\(span)), \(rate)"
}

private func startPlan(_ s: inout AppState, groups: [[String]], blocks: [String], every k: Int) -> [Effect] {
    let revision = max(s.control.revision, s.lastAckedRevision) + 1
    let plan = ControlPlan(id: "unfreeze-r\(revision)", groups: groups, everyEpochs: k, lrFactor: 0.1)
    let rate = s.rateScope == .wholeOptimizer ? "the whole rate ÷10 each step" : "each block at the head's rate ÷10"
    // The plan moves the rate itself: a rate left in control.json would be applied again by a later revision.
    return setTrainable(&s, [:], describe: "plan \(plan.id): unfreeze \(groups.count) block\(groups.count == 1 ? "" : "s"), "
                            + "one every \(k) epoch\(k == 1 ? "" : "s"), \(rate)",
                        tuning: TuningChange(learningRate: .some(nil), plan: .some(plan)))
}

private func cancelPlan(_ s: inout AppState) -> [Effect] {
    guard var plan = s.tuning.plan, s.planActive, !plan.cancel else {
        s.message = StatusMessage("no plan is running")
        return []
    }
    plan.cancel = true
    let done = s.planProgress.map { " after step \($0.done)/\($0.steps)" } ?? ""
    return setTrainable(&s, [:], describe: "cancel plan \(plan.id)\(done); what it unfroze stays trainable",
                        tuning: TuningChange(plan: .some(plan)))
}

/// Keras: the pending change at the next batch boundary, ending the epoch early (`apply_now`).
private func applyNow(_ s: inout AppState) -> [Effect] {
    guard let epoch = s.kerasAppliesAtEpoch else { return [] }
    return setTrainable(&s, [:], describe: "apply now: the job ends epoch \(epoch) at the next batch and applies the pending changes",
                        tuning: TuningChange(applyNow: true))
}

/// After a trainable change on Keras: the epoch end it waits for, and the key that does not wait.
/// Added only when the note still fits the bottom line (a longer one would open a box over the screen).
func kerasWaitNote(_ s: AppState, _ change: [String: Bool]) -> String {
    guard !change.isEmpty, let epoch = s.kerasAppliesAtEpoch, let text = s.message?.text else { return "" }
    let room = s.width - 6
    let full = "; Keras applies it at the end of epoch \(epoch) (! applies now)"
    // A note already too long for the line opens in a box anyway: there the whole sentence fits.
    if TextWidth.of(text) > room { return full }
    return [full, "; at end of epoch \(epoch), ! now"].first { TextWidth.of(text + $0) <= room } ?? ""
}

// MARK: - Following the job

/// After a new snapshot of the run: notes when the job applied the rate, and shows a plan
/// step's own words instead of the generic ack note.
func followTuning(_ s: inout AppState, newAcks: ArraySlice<ControlAck>) {
    if let at = s.tuning.rateAt, let rate = s.tuning.rate, !s.tuning.rateAnswered,
       let ack = s.run.acks.first(where: { $0.revision >= at }) {
        s.tuning.rateAnswered = true
        if ack.status == .applied { s.tuning.applied = AppliedRate(rate: rate, epochs: s.run.epochs.count) }
    }
    // The job's own words for what it did with a rate ("learning rate 0.0005 from epoch 11").
    if let ack = newAcks.last, ack.status == .applied, let text = ack.message, text.contains("rate") {
        s.message = StatusMessage("job applied revision \(ack.revision): \(text)")
    }
    guard let plan = s.tuning.plan, let ack = newAcks.last(where: { $0.message?.contains("plan \(plan.id)") == true }),
          let text = ack.message else { return }
    s.message = StatusMessage(text, ack.status == .rejected ? .error : .info)
}

extension KeyBindings {
    /// Why `a` cannot set the learning rate the diagnosis suggests: a read-only run, or a job
    /// that has not reported its rate (nothing to multiply).
    static func cannotSetRate(_ s: AppState, factor: Double) -> StatusMessage? {
        let verb = factor >= 1 ? "raise" : "lower"
        if let why = s.readOnlyReason { return StatusMessage("cannot \(verb) the learning rate: read-only: \(why)", .warning) }
        if s.currentRate == nil {
            return StatusMessage("cannot \(verb) the learning rate: the job has not reported its rate yet (r sets one)", .warning)
        }
        return nil
    }

    @Sendable static func nothingToApplyNow(_ s: AppState) -> StatusMessage? {
        if let why = readOnly(s) { return why }
        if s.rateScope != .wholeOptimizer {
            return StatusMessage("apply now is for Keras, which waits for the epoch's end; this job applies changes at its next step")
        }
        return s.kerasAppliesAtEpoch == nil ? StatusMessage("no pending change waits for the epoch's end") : nil
    }
}
