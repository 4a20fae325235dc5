import FinetopCore
import FinetopDiagnosis

/// The dashboard's behaviour: the next state and the work to do, from the current state and one event.
/// Pure: no files, no terminal, no clock.
public func reduce(_ state: AppState, _ event: Event) -> (AppState, [Effect]) {
    var s = state
    var effects: [Effect] = []
    switch event {
    case .key(let key):
        s.message = nil
        effects = handleKey(&s, key)
    case .resize(let w, let h):
        s.width = max(0, w)
        s.height = max(0, h)
        keepCursorVisible(&s)
    case .runUpdated(let run, let lastWrite):
        let endedNow = state.run.end == nil && run.end != nil
        s.run = run
        s.report = Diagnoser.diagnose(run)
        if let lastWrite { s.lastWrite = lastWrite }
        s.logGrew = true
        s.cursor = min(s.cursor, max(0, s.layers.count - 1))
        keepCursorVisible(&s)
        if run.acks.count < s.acksSeen { s.acksSeen = 0 }
        if let ack = run.acks.dropFirst(s.acksSeen).last {
            switch ack.status {
            case .applied:
                let what = ack.changed.isEmpty ? "" : ": " + summarize(ack.changed)
                s.message = StatusMessage("job applied revision \(ack.revision)\(what)")
            case .rejected:
                s.message = StatusMessage("job rejected revision \(ack.revision): \(ack.message ?? "no reason given")", .error)
            }
        }
        followTuning(&s, newAcks: run.acks.dropFirst(s.acksSeen))
        s.acksSeen = run.acks.count
        if endedNow { effects += clearStopOfEndedJob(&s) }
    case .tick(let now):
        s.now = now
        // Notes fade after a while so the key bar comes back; questions wait for their answer.
        if let m = s.message, let at = m.shownAt, now - at >= StatusMessage.lifetime { s.message = nil }
        // A stop asked through control.json that the job has not honoured in time: Ctrl-C it.
        if let job = s.job, job.isRunning, !job.interrupted, let at = job.stopAskedAt, now - at >= JobView.stopGrace {
            effects = interruptJob(&s, why: "the job did not stop within \(Int(JobView.stopGrace)) s")
        }
        effects += escalate(&s)
        // The output overlay follows the file while it is open.
        if s.showOutput { effects.append(.readOutput) }
    case .quit:
        s.shouldQuit = true
        effects = [.quit]
    case .interrupt:
        effects = interrupt(&s)
        if s.shouldQuit { s.quitSignal = 2 }   // SIGINT
    case .signal(let sig):
        s.quitSignal = sig
        effects = quit(&s)
    case .readFailed(let why):
        s.message = StatusMessage(why, .error)
    case .jobChanged(let state):
        guard var job = s.job, job.state != state else { break }
        let wasRunning = job.isRunning
        job.state = state
        s.job = job
        switch state {
        case .running: break
        case .exited(0): s.message = StatusMessage("the job exited with status 0 \u{b7} q quits")
        case .exited(let code):
            s.message = StatusMessage("the job exited with status \(code) \u{b7} o shows its output \u{b7} q quits", .error)
        case .signalled(let sig):
            s.message = StatusMessage("the job was killed by \(signalName(sig)) \u{b7} o shows its output \u{b7} q quits", .error)
        }
        if s.confirm == .stopJob { s.confirm = nil }
        if wasRunning && !job.isRunning { effects += clearStopOfEndedJob(&s) }
    case .jobGroupChanged(let alive):
        guard var job = s.job, job.groupAlive != alive else { break }
        job.groupAlive = alive
        s.job = job
        // The leader is gone but processes it started still run: nobody else will stop them.
        if alive && !job.isRunning && job.ctrlCInterruptsJob {
            s.job?.lastSignal = SentSignal(signal: .terminate, at: s.now)
            s.message = StatusMessage("the job's main process ended but processes it started still run: sent SIGTERM "
                + "to its process group (pid \(job.pid)); SIGKILL in \(Int(JobView.killDelay)) s if they remain", .warning)
            effects = [.signalJobGroup(.terminate)]
        }
    case .outputRead(let lines):
        s.outputLines = lines
    case .readOnlyChanged(let why):
        s.readOnlyReason = why
    case .controlWritten(let file, let change):
        // The file on disk holds this change merged with every other dashboard's: follow it.
        s.control.adopt(file)
        s.control.revision = file.revision
        for name in change.trainable.keys {
            s.control.changedAt[name] = file.revision
            s.control.failed[name] = nil
        }
        if change.stop == true { s.control.stopAt = file.revision }
        s.tuning.written(file, change)
        if file.revision != change.atLeast, let m = s.message {
            s.message?.text = m.text.replacing("revision \(change.atLeast)", with: "revision \(file.revision)")
        }
    case .controlFailed(let why, let change):
        // Back to what control.json held before: the failed flags are not there (the loop also
        // re-reads the file when it can).
        for (name, want) in change.trainable {
            s.control.failed[name] = FailedToggle(want: want, reason: why)
            s.control.desired[name] = change.known[name]
            s.control.changedAt[name] = change.known[name] == nil ? nil : change.atLeast - 1
        }
        if change.stop == true {
            s.control.stop = false
            s.control.stopAt = nil
            s.control.stopRunID = nil
        }
        s.tuning.failed(change)
        let what: String
        if change.trainable.isEmpty {
            what = change.stop == true ? "the stop was not sent" : change.stop == false ? "the stop was not cleared"
                : "the change was NOT sent, the job trains as before"
            if change.stop == true { s.job?.stopAskedAt = nil }
        } else {
            let n = change.trainable.count
            what = "\(n) toggle\(n == 1 ? "" : "s") NOT sent, the job trains as before"
        }
        s.message = StatusMessage("could not write control.json: \(why) · \(what)", .error)
    case .controlRead(let file):
        let changed = s.control.adopt(file)
        s.tuning.adopt(file)
        if !changed.isEmpty, let file {
            s.message = StatusMessage("control.json revision \(file.revision) from elsewhere (another dashboard?): "
                + summarize(changed) + " changed")
        }
    case .controlUnreadable(let why):
        s.message = StatusMessage("ignoring \(why); the next change replaces it", .warning)
    }
    if s.message != nil && s.message?.shownAt == nil { s.message?.shownAt = s.now }
    return (s, effects)
}

private func handleKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    let found = KeyBindings.lookup(key)
    // Ctrl-C and Ctrl-L work in every mode.
    if let (binding, action) = found, binding.global { return perform(action, &s) }
    if s.searching { return searchKey(&s, key) }
    if s.tuning.prompt != nil { return tuningPromptKey(&s, key) }
    if let confirm = s.confirm {
        s.confirm = nil
        switch confirm {
        case .stopJob:
            if key == .char("y") || key == .char("Y") { return stopJob(&s) }
            s.message = StatusMessage("not stopped")
            return []
        }
    }
    if s.showHelp || s.showOutput {
        // The moving keys scroll a help taller than the screen; any other key closes an overlay; `q` still quits.
        if s.showHelp, let action = found?.action, HelpOverlay.scroll(&s, action) { return [] }
        s.showHelp = false
        s.showOutput = false
        if found?.action == .quit { return quit(&s) }
        return []
    }
    guard let (binding, action) = found else { return [] }
    if let why = binding.disabledReason(s) {
        s.message = why
        return []
    }
    return perform(action, &s)
}

/// Carries out what a key binding asks; `KeyBindings.all` says which key triggers which action.
private func perform(_ action: Action, _ s: inout AppState) -> [Effect] {
    let page = Layout(for: s).tableRows
    switch action {
    case .quit: return quit(&s)
    case .interrupt: return interrupt(&s)
    case .repaint: return [.repaint]
    // Rows as shown (folded blocks, sorted order): LayerRows.swift.
    case .cursorDown: moveRow(&s, by: 1)
    case .cursorUp: moveRow(&s, by: -1)
    case .pageDown: moveRow(&s, by: page)
    case .pageUp: moveRow(&s, by: -page)
    case .firstLayer: moveRow(&s, to: 0)
    case .lastLayer: moveRow(&s, to: Int.max)
    case .fold: foldUnderCursor(&s)
    case .foldAll: foldAll(&s)
    case .sortByRatio: toggleRatioOrder(&s)
    case .search:
        s.searching = true
        s.searchQuery = ""
    case .nextMatch: findNext(&s, forward: true, includingCursor: false)
    case .previousMatch: findNext(&s, forward: false, includingCursor: false)
    case .toggle: return toggleUnderCursor(&s)
    case .unfreezeFromHere: return unfreezeFromCursor(&s)
    case .freezeToHere: return freezeToCursor(&s)
    case .applySuggestion: return applyTopSuggestion(&s)
    case .output:
        s.showOutput = true
        return [.readOutput]
    case .stop:
        if let job = s.job, job.isRunning, job.stopAskedAt != nil, !job.interrupted {
            // A second `s`: the job did not stop at a safe point yet; Ctrl-C it now.
            return interruptJob(&s, why: "second s")
        }
        s.confirm = .stopJob
    case .cycleMetric:
        s.metricIndex = (s.metricIndex + 1) % max(1, s.metrics.count)
        s.logScale = s.logScale && allPositive(s, s.metric)
    case .logScale: s.logScale.toggle()
    case .help:
        s.showHelp = true
        s.helpScroll = 0
    case .setRate, .rateUp, .rateDown, .unfreezeKeepRate, .startPlan, .cancelPlan, .applyNow:
        return performTuning(action, &s)
    }
    return []
}

/// Ctrl-C: interrupts a job started by `finetop run`, otherwise quits.
private func interrupt(_ s: inout AppState) -> [Effect] {
    if let job = s.job, job.isRunning, job.ctrlCInterruptsJob {
        s.confirm = nil
        return interruptJob(&s, why: "Ctrl-C")
    }
    return quit(&s)
}

private func quit(_ s: inout AppState) -> [Effect] {
    s.shouldQuit = true
    return [.quit]
}

private func searchKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    switch key {
    case .enter:
        s.searching = false
        findNext(&s, forward: true, includingCursor: true)
    case .escape:
        s.searching = false
        s.searchQuery = ""
    case .backspace:
        if s.searchQuery.isEmpty { s.searching = false } else { s.searchQuery.removeLast() }
    case .char(let c):
        s.searchQuery.append(c)
        // Jump as you type, like vim's incsearch.
        findNext(&s, forward: true, includingCursor: true, quiet: true)
    case .up, .down, .left, .right, .pageUp, .pageDown, .home, .end, .tab, .ctrl: break
    }
    return []
}

private func findNext(_ s: inout AppState, forward: Bool, includingCursor: Bool, quiet: Bool = false) {
    let q = s.searchQuery.lowercased()
    let ls = s.layers
    guard !q.isEmpty, !ls.isEmpty else {
        if !quiet { s.message = StatusMessage("no search yet: press / and type part of a layer name") }
        return
    }
    let n = ls.count
    let start = includingCursor ? 0 : 1
    for k in start..<(n + start) {
        let i = ((s.cursor + (forward ? k : -k)) % n + n) % n
        if ls[i].name.lowercased().contains(q) || ls[i].className.lowercased().contains(q) {
            moveCursor(&s, to: i)
            return
        }
    }
    if !quiet { s.message = StatusMessage("no layer matches \"\(s.searchQuery)\"", .warning) }
}

func moveCursor(_ s: inout AppState, to i: Int) {
    s.cursor = max(0, min(i, s.layers.count - 1))
    reveal(&s, layer: s.cursor)
    keepCursorVisible(&s)
}

func keepCursorVisible(_ s: inout AppState) {
    let rows = Layout(for: s).tableRows
    // `scroll` and the cursor's row count rows as shown (folded blocks, sorted order).
    let cursor = s.cursorRow
    if cursor < s.scroll { s.scroll = cursor }
    if cursor >= s.scroll + rows { s.scroll = cursor - rows + 1 }
    s.scroll = max(0, min(s.scroll, max(0, s.layerRows.count - rows)))
}

func allPositive(_ s: AppState, _ metric: String) -> Bool {
    var any = false
    for v in s.run.epochValues(metric) + s.run.epochValues("val_" + metric) where v.isFinite {
        if v <= 0 { return false }
        any = true
    }
    if let b = s.run.batches.values(of: metric) {
        for v in b where v.isFinite {
            if v <= 0 { return false }
            any = true
        }
    }
    return any
}

// MARK: - Changes sent to the job

private func toggleUnderCursor(_ s: inout AppState) -> [Effect] {
    let ls = s.layers
    guard s.cursor < ls.count else { return [] }
    if let block = s.foldedBlockUnderCursor { return toggleBlock(&s, block) }
    let layer = ls[s.cursor]
    guard layer.hasWeights else {
        s.message = StatusMessage("\(layer.name) has no weights: nothing to freeze or train", .warning)
        return []
    }
    let want = !s.shownFlag(layer)
    return setTrainable(&s, [layer.name: want], describe: "\(want ? "unfreeze" : "freeze") \(layer.name)")
}

/// `u` (the layers it unfreezes at the rate × `rateFactor`, see `unfreezeWithRate`) and `U` (nil: the rate unchanged).
func unfreezeFromCursor(_ s: inout AppState, rateFactor: Double? = 0.1) -> [Effect] {
    let ls = s.layers
    guard s.cursor < ls.count else { return [] }
    var change: [String: Bool] = [:]
    for l in ls[s.cursor...] where l.hasWeights && !s.shownFlag(l) { change[l.name] = true }
    let n = ls.count - s.cursor
    guard !change.isEmpty else {
        s.message = StatusMessage("the last \(n) layers are already trainable")
        return []
    }
    return unfreezeWithRate(&s, change, describe: "unfreeze the last \(n) layers (\(change.count) with weights)", rateFactor: rateFactor)
}

private func freezeToCursor(_ s: inout AppState) -> [Effect] {
    let ls = s.layers
    guard s.cursor < ls.count else { return [] }
    // On a folded block: down to its last layer.
    let last = s.foldedBlockUnderCursor.map { $0.rows.upperBound - 1 } ?? s.cursor
    var change: [String: Bool] = [:]
    for l in ls[...last] where l.hasWeights && s.shownFlag(l) { change[l.name] = false }
    guard !change.isEmpty else {
        s.message = StatusMessage("the first \(last + 1) layers are already frozen")
        return []
    }
    return setTrainable(&s, change, describe: "freeze the first \(last + 1) layers (\(change.count) changed)")
}

/// The one path every trainable change takes: toggles, `u`, `f` and an applied suggestion.
func setTrainable(_ s: inout AppState, _ change: [String: Bool], describe: String,
                  tuning: TuningChange = TuningChange()) -> [Effect] {
    // control.json says what the user will see: a frozen nested model around an unfrozen layer is unfrozen too.
    let change = s.run.model.map { m in m.consistentChange(change, desired: s.control.desired, shown: { s.shownFlag($0) }) } ?? change
    if let why = s.readOnlyReason {
        s.message = StatusMessage("read-only: \(why)", .warning)
        return []
    }
    let revision = max(s.control.revision, s.lastAckedRevision) + 1
    let known = s.control.desired
    for (name, flag) in change {
        s.control.desired[name] = flag
        s.control.changedAt[name] = revision
    }
    s.control.revision = revision
    s.tuning.record(tuning, at: revision)
    if s.jobHasEnded {
        // Nothing reads control.json until a job starts again here; it applies the flags at its start.
        s.message = StatusMessage("\(describe) · written (revision \(revision)); the job has ended: "
            + "applied when a job is restarted in this directory")
    } else {
        s.message = StatusMessage("\(describe) · pending (revision \(revision))")
        let note = kerasWaitNote(s, change)
        s.message?.text += note
    }
    var write = ControlChange(trainable: change, atLeast: revision, known: known, actual: s.modelFlags,
                              acknowledged: s.lastAckedRevision)
    tuning.apply(to: &write)
    return [.writeControl(write)]
}

/// A stop is meant for one job: once that job has ended, take it back so it cannot stop the
/// next job started in the same directory (helpers also check `stop_run_id`).
private func clearStopOfEndedJob(_ s: inout AppState) -> [Effect] {
    guard s.readOnlyReason == nil, s.control.stop else { return [] }
    let ended = s.run.info?.runID
    if let id = s.control.stopRunID, let ended, id != ended { return [] }
    let revision = max(s.control.revision, s.lastAckedRevision) + 1
    s.control.stop = false
    s.control.stopAt = nil
    s.control.stopRunID = nil
    s.control.revision = revision
    return [.writeControl(ControlChange(stop: false, atLeast: revision, known: s.control.desired, actual: s.modelFlags,
                                        acknowledged: s.lastAckedRevision))]
}

private func stopJob(_ s: inout AppState) -> [Effect] {
    if let why = s.readOnlyReason {
        s.message = StatusMessage("cannot stop: \(why)", .warning)
        return []
    }
    let revision = max(s.control.revision, s.lastAckedRevision) + 1
    let runID = s.run.info?.runID.flatMap { $0.isEmpty ? nil : $0 }
    s.control.stop = true
    s.control.stopAt = revision
    s.control.stopRunID = runID
    s.control.revision = revision
    s.message = StatusMessage("asked the job to stop (revision \(revision)); it stops at its next safe point")
    if s.job?.isRunning == true {
        s.job?.stopAskedAt = s.now
        s.message?.text += "; s again sends Ctrl-C"
    }
    return [.writeControl(ControlChange(stop: true, stopRunID: runID, atLeast: revision, known: s.control.desired,
                                        actual: s.modelFlags, acknowledged: s.lastAckedRevision))]
}

/// Ctrl-C for the job the dashboard started: SIGINT to its process group, once.
private func interruptJob(_ s: inout AppState, why: String) -> [Effect] {
    guard let job = s.job, job.isRunning else { return [] }
    s.job?.interrupted = true
    s.job?.lastSignal = SentSignal(signal: nil, at: s.now)
    s.message = StatusMessage("\(why): sent SIGINT to the job (pid \(job.pid)); SIGTERM to its process group if it "
        + "still runs in \(Int(JobView.termDelay)) s, SIGKILL \(Int(JobView.killDelay)) s later; q quits the dashboard", .warning)
    return [.interruptJob]
}

/// SIGINT → SIGTERM → SIGKILL to the job's process group while anything of it still runs, with
/// the delays the messages state.
private func escalate(_ s: inout AppState) -> [Effect] {
    guard let job = s.job, let last = job.lastSignal, job.isRunning || job.groupAlive else { return [] }
    let next: JobSignal
    let waited: Double
    switch last.signal {
    case nil: (next, waited) = (.terminate, JobView.termDelay)
    case .terminate: (next, waited) = (.kill, JobView.killDelay)
    case .kill: return []
    }
    guard s.now - last.at >= waited else { return [] }
    s.job?.lastSignal = SentSignal(signal: next, at: s.now)
    let was = last.signal?.name ?? "SIGINT"
    var text = "the job still runs \(Int(waited)) s after \(was): sent \(next.name) to its process group (pid \(job.pid))"
    if next == .terminate { text += "; SIGKILL in \(Int(JobView.killDelay)) s if it remains" }
    s.message = StatusMessage(text, .warning)
    return [.signalJobGroup(next)]
}

/// The usual name of a signal number (Linux numbering), for the header.
public func signalName(_ sig: Int32) -> String {
    let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS",
                                  8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM"]
    return names[sig] ?? "signal \(sig)"
}

private func applyTopSuggestion(_ s: inout AppState) -> [Effect] {
    guard let top = s.report.current.suggestions.first else {
        s.message = StatusMessage("no suggestion to apply")
        return []
    }
    guard let action = top.action else {
        s.message = StatusMessage("advice only, nothing to apply: \(top.text)")
        return []
    }
    switch action {
    case .setTrainable(let flags):
        let known = flags.filter { s.run.model?.index(named: $0.key) != nil }
        guard !known.isEmpty else {
            s.message = StatusMessage("the suggestion names no layer of this model", .warning)
            return []
        }
        return unfreezeWithRate(&s, known, describe: top.text, rateFactor: top.rateFactor)
    case .stopJob:
        if let why = s.readOnlyReason {
            s.message = StatusMessage("cannot stop: \(why)", .warning)
            return []
        }
        s.confirm = .stopJob
        return []
    case .setLearningRate(let factor):
        return applyRateSuggestion(&s, factor: factor)
    }
}

private func summarize(_ names: [String]) -> String {
    names.count <= 2 ? names.joined(separator: ", ") : "\(names[0]) and \(names.count - 1) more"
}
