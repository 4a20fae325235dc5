import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The demo's training job: fine-tunes the pretrained model on digits 5–9, writes the run format to
/// its directory and obeys control.json at every epoch boundary, as any helper-instrumented job does.
/// Drive it with `run()` (paced, for the demo) or `start()` then `step()` until it returns an end.
public final class DemoTrainer {
    public let directory: String
    public let plan: TrainingPlan
    public let model: DemoModel
    public let scenarioName: String
    public let seed: UInt64
    public private(set) var end: RunEnd?
    /// Epochs finished so far.
    public private(set) var epoch = 0

    private let writer: RunWriter
    private var follower: ControlFollower
    /// control.json's revision when this job started: a stop without `stop_run_id` must be newer.
    private var revisionAtStart = -1
    private var rng: PCG32
    private let training: Digits
    private let validation: Digits
    private let log: (String) -> Void
    private var globalStep = 0
    private var modelRevision = 0
    private var bestValidation: (loss: Double, epoch: Int)?
    private var epochsWithoutImprovement = 0
    /// The optimizer's rate now (the head's): the plan's until control.json sets `learning_rate`.
    public private(set) var learningRate: Double
    /// The `learning_rate` of the last control.json revision applied.
    private var lastControlRate: Double?
    /// The gradual-unfreezing plan being carried out, if any.
    private var activePlan: PlanProgress?
    /// Plans that finished or were cancelled: a later revision carrying the same id does not restart them.
    private var endedPlans: Set<String> = []

    /// Splits the data, pre-trains the base on digits 0–4 and opens the run directory.
    public init(directory: String, digits: Digits, plan: TrainingPlan, seed: UInt64, scenarioName: String,
                log: @escaping (String) -> Void = { _ in }) throws(DemoError) {
        self.directory = directory
        self.plan = plan
        self.seed = seed
        self.scenarioName = scenarioName
        self.log = log
        guard plan.batchSize > 0, plan.epochs > 0, plan.trainSamples > 0, plan.validationSamples > 0 else {
            throw DemoError("the training plan needs a positive batch size, epochs and sample counts")
        }
        rng = PCG32(seed: seed)
        learningRate = plan.optimizer.learningRate
        let pretraining = digits.subset(where: { $0 < 5 })
        (training, validation) = try Self.split(digits.subset(where: { $0 >= 5 }, relabel: { $0 - 5 }), plan, &rng)
        guard pretraining.count >= 100 else {
            throw DemoError("the digits data is too small for the demo (\(pretraining.count) images of 0-4)")
        }
        do { writer = try RunWriter(directory: directory) } catch { throw DemoError(error.description) }
        follower = ControlFollower(directory: directory)
        revisionAtStart = (try? ControlFile.read(from: directory))?.revision ?? -1
        log("pre-training the base on digits 0-4 (\(pretraining.count) images, \(TrainingPlan.pretrainEpochs) epochs)")
        model = DemoModel.pretrained(plan: plan, pretraining: pretraining, rng: &rng)
        log("fine-tuning on digits 5-9: \(training.count) training and \(validation.count) validation images")
    }

    /// A seeded shuffle of the fine-tuning images cut into the training subset and the validation
    /// set; the training subset leaves at least 100 images for validation.
    private static func split(_ images: Digits, _ plan: TrainingPlan,
                              _ rng: inout PCG32) throws(DemoError) -> (Digits, Digits) {
        var order = Array(0..<images.count)
        rng.shuffle(&order)
        let trainCount = min(plan.trainSamples, images.count - 100)
        guard trainCount > 0 else {
            throw DemoError("the digits data is too small for the demo (\(images.count) images of 5-9)")
        }
        let validationCount = min(plan.validationSamples, images.count - trainCount)
        return (images.rows(order[0..<trainCount]), images.rows(order[trainCount..<trainCount + validationCount]))
    }

    /// A trainer for one of the built-in scenarios.
    public convenience init(directory: String, digits: Digits, scenario: Scenario, seed: UInt64,
                            log: @escaping (String) -> Void = { _ in }) throws(DemoError) {
        try self.init(directory: directory, digits: digits, plan: scenario.plan, seed: seed,
                      scenarioName: scenario.rawValue, log: log)
    }

    // MARK: - Driving the run

    /// Writes the `run` and `model` lines and applies a control file that is already there.
    public func start() {
        writer.run(runInfo)
        writer.model(model.layerTable(revision: modelRevision))
        _ = atSafePoint()
    }

    /// Trains one epoch, writes its lines, then handles control.json; returns the end once the run ended.
    @discardableResult
    public func step() -> RunEnd? {
        if let end { return end }
        trainOneEpoch()
        if let stopped = atSafePoint() { return stopped }
        if let stopped = earlyStoppingEnd() { return finish(stopped) }
        if epoch >= plan.epochs {
            return finish(RunEnd(reason: "completed", message: "trained \(epoch) epochs"))
        }
        return nil
    }

    /// The whole run, `epochsPerSecond` epochs a second (0: as fast as it goes). Between epochs it is
    /// at a safe point, so it keeps checking control.json while it waits. `interrupted` says why the
    /// job should stop now (a signal, whoever started it is gone), checked at every safe point.
    public func run(epochsPerSecond: Double, interrupted: () -> String? = { nil }) -> RunEnd {
        start()
        if let end { return end }
        let interval = epochsPerSecond > 0 ? 1 / epochsPerSecond : 0
        var next = Clock.monotonic()
        while true {
            if let end = step() { return end }
            if let reason = interrupted() { return finish(RunEnd(reason: "stopped", message: reason)) }
            next += interval
            while Clock.monotonic() < next {
                Clock.sleep(min(0.05, next - Clock.monotonic()))
                if let end = atSafePoint() { return end }
                if let reason = interrupted() { return finish(RunEnd(reason: "stopped", message: reason)) }
            }
            // After a stall (a suspended process), keep the pace instead of catching up in a burst.
            if Clock.monotonic() > next + 1 { next = Clock.monotonic() }
        }
    }

    // MARK: - One epoch

    private func trainOneEpoch() {
        let started = Clock.monotonic()
        let epochIndex = epoch
        let stepsPerEpoch = (training.count + plan.batchSize - 1) / plan.batchSize
        let reportEvery = max(1, (stepsPerEpoch + 1) / 2)
        let before = model.network.denseLayers.map { ($0.weights, $0.bias) }
        let optimizer = plan.optimizer.with(learningRate: learningRate)
        let result = model.network.trainEpoch(on: training, batchSize: plan.batchSize, optimizer: optimizer,
                                                  rng: &rng) {
            stepInEpoch, running in
            globalStep += 1
            guard stepInEpoch % reportEvery == 0 || stepInEpoch == stepsPerEpoch else { return }
            writer.batch(epoch: epochIndex, step: globalStep, loss: running.loss, metrics: [("accuracy", running.accuracy)])
        }
        let checked = model.network.evaluate(validation.images, labels: validation.labels)
        noteValidationLoss(checked.loss)
        writer.epoch(EpochRecord(epoch: epochIndex, step: globalStep, values: [
            "loss": result.loss, "val_loss": checked.loss, "accuracy": result.accuracy,
            "val_accuracy": checked.accuracy, "learning_rate": learningRate,
        ], time: Clock.monotonic() - started))
        writer.layerStats(epoch: epochIndex, updateRatio: zip(model.network.denseLayers, before).map { layer, start in
            (layer.name, Self.updateRatio(from: start, to: (layer.weights, layer.bias)))
        })
        epoch += 1
    }

    /// `‖w_end − w_start‖ / ‖w_start‖` over all of a layer's weights (kernel and bias): exactly 0
    /// when nothing changed (a frozen layer), as every helper reports it.
    static func updateRatio(from start: ([Double], [Double]), to end: ([Double], [Double])) -> Double {
        var moved = 0.0, size = 0.0
        for (a, b) in [(start.0, end.0), (start.1, end.1)] {
            for i in a.indices {
                let d = b[i] - a[i]
                moved += d * d
                size += a[i] * a[i]
            }
        }
        if moved == 0 { return 0 }
        return (moved / size).squareRoot()
    }

    // MARK: - EarlyStopping, as Keras counts it

    private func noteValidationLoss(_ loss: Double) {
        guard let rule = plan.earlyStopping else { return }
        if let best = bestValidation, !(loss < best.loss - rule.minDelta) {
            epochsWithoutImprovement += 1
        } else if !loss.isNaN {
            bestValidation = (loss, epoch)
            epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
    }

    private func earlyStoppingEnd() -> RunEnd? {
        guard let rule = plan.earlyStopping, epochsWithoutImprovement >= max(1, rule.patience) else { return nil }
        let best = bestValidation.map { " (best \(Self.format($0.loss)) at epoch \($0.epoch))" } ?? ""
        return RunEnd(reason: "early_stopping",
                      message: "val_loss did not improve for \(epochsWithoutImprovement) epochs\(best)")
    }

    // MARK: - control.json

    /// Handles a new control file, if any; the end when it asked the job to stop. Answers the way
    /// the Python helpers do (assets/python/finetop/keras.py), so the dashboard sees one behaviour.
    private func atSafePoint() -> RunEnd? {
        if let end { return end }
        switch follower.read() {
        case .nothingNew:
            advancePlan()
            return nil
        case .malformed(let revision, let message):
            acknowledge(revision, .rejected, message: message + "; training goes on unchanged")
            advancePlan()
            return nil
        case .newRevision(let control):
            // A stop is for one job: ours by run id, or (unaddressed) written after we started.
            let forUs = control.stopRunID.map { $0 == runInfo.runID } ?? (control.revision > revisionAtStart)
            guard control.stop, forUs else {
                apply(control)
                advancePlan()
                return nil
            }
            // As in the helpers, a stop wins over toggles in the same revision: nothing more will train.
            acknowledge(control.revision, .applied, message: "stopping at the end of epoch \(epoch) as asked")
            return finish(RunEnd(reason: "stopped",
                                 message: "stopped after epoch \(epoch) as asked (control revision \(control.revision))"))
        }
    }

    /// Applies one revision whole or not at all: flags, `learning_rate` (every layer's rate, from
    /// the next step), `unfreeze_lr_factor` (the rate of the layers this revision unfreezes, as a
    /// factor of the head's) and `plan`.
    private func apply(_ control: ControlFile) {
        let names = model.layerNames
        let planNames = control.plan.map { $0.groups.flatMap { $0 } } ?? []
        let unknown = Set(control.trainable.keys.filter { !names.contains($0) } + planNames.filter { !names.contains($0) })
            .sorted()
        guard unknown.isEmpty else {
            acknowledge(control.revision, .rejected, message: "unknown layer name\(unknown.count > 1 ? "s" : ""): "
                + unknown.joined(separator: ", ")
                + " (names are those of the latest model line); nothing changed, training goes on")
            return
        }
        var notes: [String] = []
        // control.json keeps its learning_rate in later revisions: apply it only when it changes,
        // so a toggle revision does not undo the factors of layers unfrozen earlier.
        if let rate = control.learningRate, rate != lastControlRate {
            lastControlRate = rate
            learningRate = rate
            for layer in model.network.denseLayers { layer.rateFactor = 1 }
            notes.append("learning rate \(JSONText.number(rate)) from epoch \(epoch + 1)")
        }
        let changed = names.filter { name in
            guard let flag = control.trainable[name] else { return false }
            let changed = model.setTrainable(name, flag)
            if changed, flag { setRateFactor(name, control.unfreezeLRFactor ?? 1) }
            return changed
        }
        if let factor = control.unfreezeLRFactor, factor != 1, changed.contains(where: { model.isTrainable($0) == true }) {
            notes.append("unfrozen layers at rate × \(JSONText.number(factor)) (\(JSONText.number(learningRate * factor)))")
        }
        notes.append(contentsOf: takePlan(control))
        if !changed.isEmpty {
            modelRevision += 1
            let table = model.layerTable(revision: modelRevision)
            writer.model(table)
            let totals = table.totals
            notes.insert("\(KerasFormat.count(totals.trainable)) of \(KerasFormat.count(totals.total)) params trainable from epoch \(epoch)",
                         at: 0)
        }
        acknowledge(control.revision, .applied, changed: changed,
                    message: notes.isEmpty ? "the layers already had these flags" : notes.joined(separator: "; "))
    }

    private func setRateFactor(_ name: String, _ factor: Double) {
        model.network.denseLayers.first { $0.name == name }?.rateFactor = factor
    }

    // MARK: - Gradual unfreezing

    /// A plan being carried out: which group comes next, and at which epoch boundary.
    private struct PlanProgress {
        var plan: ControlPlan
        var revision: Int
        var nextGroup = 0
        var nextEpoch: Int
    }

    /// Starts, keeps, replaces or cancels the plan as this revision says; returns notes for its acknowledgement.
    private func takePlan(_ control: ControlFile) -> [String] {
        guard let plan = control.plan else {
            guard let active = activePlan else { return [] }
            endedPlans.insert(active.plan.id)
            activePlan = nil
            return ["plan \(active.plan.id) ended: this revision has no plan"]
        }
        if plan.cancel {
            guard let active = activePlan, active.plan.id == plan.id else { return [] }
            endedPlans.insert(plan.id)
            activePlan = nil
            return ["plan \(plan.id) cancelled after step \(active.nextGroup)/\(active.plan.groups.count)"]
        }
        if activePlan?.plan.id == plan.id || endedPlans.contains(plan.id) { return [] }
        var notes: [String] = []
        if let old = activePlan {
            endedPlans.insert(old.plan.id)
            notes.append("plan \(old.plan.id) replaced")
        }
        activePlan = PlanProgress(plan: plan, revision: control.revision, nextEpoch: epoch)
        notes.append("plan \(plan.id): \(plan.groups.count) steps, one every \(plan.everyEpochs) epoch"
            + (plan.everyEpochs == 1 ? "" : "s") + ", the first now")
        return notes
    }

    /// At an epoch boundary: carries out the plan's next step when it is due.
    private func advancePlan() {
        guard var progress = activePlan, epoch >= progress.nextEpoch else { return }
        let plan = progress.plan
        let group = plan.groups[progress.nextGroup]
        let factor = plan.lrFactor ?? 1
        var unfrozen: [String] = []
        for name in group where model.setTrainable(name, true) {
            setRateFactor(name, factor)
            unfrozen.append(name)
        }
        progress.nextGroup += 1
        progress.nextEpoch = epoch + plan.everyEpochs
        let step = "plan \(plan.id): step \(progress.nextGroup)/\(plan.groups.count): "
        var message = unfrozen.isEmpty ? step + group.joined(separator: ", ") + " already trainable"
            : step + "unfroze " + unfrozen.joined(separator: ", ")
        if !unfrozen.isEmpty && factor != 1 { message += " at rate × \(JSONText.number(factor))" }
        message += " from epoch \(epoch + 1)"
        if !unfrozen.isEmpty {
            modelRevision += 1
            writer.model(model.layerTable(revision: modelRevision))
        }
        if progress.nextGroup >= plan.groups.count {
            endedPlans.insert(plan.id)
            activePlan = nil
            message += "; plan done"
        } else {
            activePlan = progress
        }
        acknowledge(progress.revision, .applied, changed: unfrozen, message: message)
    }

    private func acknowledge(_ revision: Int, _ status: ControlAck.Status, changed: [String] = [], message: String) {
        writer.control(ControlAck(revision: revision, status: status, changed: changed, message: message))
        let names = changed.isEmpty ? "" : " " + changed.joined(separator: ", ")
        log("control.json revision \(revision) \(status.rawValue)\(names): \(message)")
    }

    private func finish(_ reason: RunEnd) -> RunEnd {
        if let end { return end }
        writer.end(reason)
        end = reason
        log("end: \(reason.reason)\(reason.message.map { " (\($0))" } ?? "")")
        return reason
    }

    // MARK: - The run line

    private var runInfo: RunInfo {
        var hparams = HParams(optimizer: plan.optimizer.name, learningRate: plan.optimizer.learningRate, batchSize: plan.batchSize,
                              epochs: plan.epochs, dropout: plan.dropout > 0 ? [plan.dropout] : [],
                              earlyStopping: plan.earlyStopping)
        hparams.extra = [
            ("scenario", .string(scenarioName)), ("seed", .number(Double(seed))),
            ("train_samples", .number(Double(training.count))),
            ("validation_samples", .number(Double(validation.count))),
            ("pretrained_on", .string("digits 0-4")), ("fine_tuned_on", .string("digits 5-9")),
        ]
        return RunInfo(framework: "demo", frameworkVersion: "1", runID: "demo-\(scenarioName)-\(seed)",
                       started: Clock.unixTime(),
                       task: TaskInfo(kind: "classification", numClasses: DemoModel.classes,
                                      loss: "sparse_categorical_crossentropy"),
                       hparams: hparams)
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return JSONText.number(value) }
        return String(Double(Int((value * 10_000).rounded())) / 10_000)
    }
}

/// Wall-clock and monotonic time without Foundation.
enum Clock {
    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func unixTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ((Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9) * 1000).rounded() / 1000
    }

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&ts, &remaining) != 0 && errno == EINTR { ts = remaining }
    }
}
