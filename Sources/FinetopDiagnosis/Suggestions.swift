import FinetopCore

/// What the suggestions may use besides the curves: the model, the hyper-parameters, and whether
/// the job is still there to be steered.
struct RunFacts: Sendable {
    var model: LayerTable?
    var hparams: HParams
    var numClasses: Int?
    /// The job is live and reads control.json, so "stop" can be carried out.
    var canStop: Bool

    init(_ run: Run) {
        model = run.model
        hparams = run.info?.hparams ?? HParams()
        numClasses = run.info?.task?.numClasses ?? run.model.flatMap(Self.outputWidth)
        canStop = run.format.acceptsControl && run.end == nil
    }

    /// The width of the last layer, "(None, 5)" → 5: the number of classes of a classifier head.
    static func outputWidth(_ model: LayerTable) -> Int? {
        guard let shape = model.layers.last(where: { $0.depth == 0 })?.shape else { return nil }
        let last = shape.split(whereSeparator: { ", ()".contains($0) }).last
        return last.flatMap { Int($0) }.flatMap { $0 > 1 ? $0 : nil }
    }
}

/// The ranked advice for a label, the tutorial's moves first, with the run's own numbers.
enum Suggestions {
    static func ranked(for label: FitLabel, _ s: Signals, _ facts: RunFacts, _ t: Thresholds) -> [Suggestion] {
        var out: [Suggestion]
        switch label {
        case .tooEarly: out = []
        case .diverging: out = diverging(s, facts)
        case .overfitting: out = overfitting(s, facts)
        case .underfitting: out = underfitting(s, facts, t)
        case .fit: out = fit(s, facts, t)
        }
        if !s.hasValidation && s.count > 0 { out.insert(addValidation, at: min(1, out.count)) }
        return out
    }

    static let addValidation = Suggestion(
        id: "add_validation",
        text: "add validation data to judge overfitting: model.fit(..., validation_split=0.2) or validation_data=(x_val, y_val)")

    // MARK: underfitting

    static func underfitting(_ s: Signals, _ facts: RunFacts, _ t: Thresholds) -> [Suggestion] {
        var out: [Suggestion] = []
        if let u = unfreeze(facts, lowerRate: false) { out.append(u) }
        out += softenRegularization(s, facts)
        out.append(biggerModel(facts))
        if Rules.stillFalling(s, t) { out.insert(trainLonger(facts), at: 0) }
        return out
    }

    static func unfreeze(_ facts: RunFacts, lowerRate: Bool) -> Suggestion? {
        guard let model = facts.model else { return nil }
        let n = LayerPlan.suggestedUnfreezeCount(model)
        guard let plan = LayerPlan.unfreezeLast(n, of: model) else { return nil }
        let what = plan.layers.count == 1 ? "the last frozen layer" : "the last \(plan.layers.count) frozen layers"
        var text = "unfreeze \(what) (\(plan.span)): +\(KerasFormat.count(plan.trainableDelta)) trainable params "
            + "(\(KerasFormat.count(plan.trainableBefore)) → \(KerasFormat.count(plan.trainableAfter)))"
        if lowerRate { text += ", and recompile with a 10× smaller learning rate" + rateChange(facts) }
        return Suggestion(id: lowerRate ? "unfreeze_lower_lr" : "unfreeze_more", text: text, action: .setTrainable(plan.flags))
    }

    /// " (0.001 → 0.0001)" when the run reported its rate.
    static func rateChange(_ facts: RunFacts) -> String {
        guard let lr = facts.hparams.learningRate, lr > 0 else { return "" }
        return " (\(NumberText.rate(lr)) → \(NumberText.rate(lr / 10)))"
    }

    static func softenRegularization(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        let h = facts.hparams
        if !h.augmentation.isEmpty {
            out.append(Suggestion(id: "soften_augmentation",
                                  text: "remove or soften augmentation (\(h.augmentation.joined(separator: ", "))): the model can't fit even the training data"))
        }
        if !h.dropout.isEmpty {
            let rates = h.dropout.map(NumberText.rate).joined(separator: ", ")
            out.append(Suggestion(id: "soften_regularization", text: "lower dropout (\(rates)) or remove it, and weaken weight decay"))
        }
        if out.isEmpty, let above = Evidence.trainAboveVal(s) {
            out.append(Suggestion(id: "soften_regularization", text: "soften dropout, noise or augmentation: " + above))
        }
        return out
    }

    static func biggerModel(_ facts: RunFacts) -> Suggestion {
        let size = facts.model.map { " (now \(KerasFormat.count($0.totals.trainable)) trainable params)" } ?? ""
        return Suggestion(id: "bigger_model", text: "use a bigger model or a wider head, e.g. Dense(128, relu) before the output" + size)
    }

    static func trainLonger(_ facts: RunFacts) -> Suggestion {
        let more = facts.hparams.epochs.map { " (epochs \($0) → \($0 * 2))" } ?? ""
        return Suggestion(id: "train_longer", text: "train longer while the losses still fall" + more)
    }

    // MARK: overfitting

    static func overfitting(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        if let es = earlyStopping(s, facts) { out.append(es) }
        out.append(headDropout(facts))
        out.append(moreAugmentation(facts))
        if let model = facts.model, let plan = LayerPlan.freezeEarliestTrainable(of: model) {
            out.append(Suggestion(
                id: "freeze_layers",
                text: "freeze \(plan.layers.count) of the trainable layers (\(plan.span)): \(KerasFormat.count(plan.trainableDelta)) trainable params "
                    + "(\(KerasFormat.count(plan.trainableBefore)) → \(KerasFormat.count(plan.trainableAfter))), or use a smaller model",
                action: .setTrainable(plan.flags)))
        } else {
            out.append(Suggestion(id: "smaller_model", text: "use a smaller model or fewer trainable layers"))
        }
        return out
    }

    static func earlyStopping(_ s: Signals, _ facts: RunFacts) -> Suggestion? {
        guard let val = s.val else { return nil }
        let patience = suggestedPatience(s)
        let best = s.shown(val.best.index)
        var text = "EarlyStopping(monitor=\"val_loss\", patience=\(patience), restore_best_weights=True): "
            + "best val_loss \(NumberText.value(val.best.value)) at epoch \(best); it would have stopped at epoch \(best + patience)"
        if let mine = facts.hparams.earlyStopping { text += " (yours has patience=\(mine.patience))" }
        if facts.canStop { text += "; stop now and keep the epoch \(best) weights" }
        return Suggestion(id: "early_stopping", text: text, action: facts.canStop ? .stopJob : nil)
    }

    /// The smallest patience that rides out every stall before the best epoch (so it would not
    /// have stopped too soon), and at least 2 so one noisy epoch does not stop a run.
    static func suggestedPatience(_ s: Signals) -> Int {
        max(2, s.longestValStallBeforeBest + 1)
    }

    static func headDropout(_ facts: RunFacts) -> Suggestion {
        let classes = facts.numClasses.map(String.init) ?? "classes"
        let now = facts.hparams.dropout.isEmpty ? "" : " (now \(facts.hparams.dropout.map(NumberText.rate).joined(separator: ", ")))"
        return Suggestion(id: "head_dropout",
                          text: "add Dropout(0.5) in the head\(now): GlobalAveragePooling2D → Dropout(0.5) → Dense(128, relu) → Dropout(0.5) → Dense(\(classes), softmax)")
    }

    static func moreAugmentation(_ facts: RunFacts) -> Suggestion {
        let aug = facts.hparams.augmentation
        let now = aug.isEmpty ? "" : " (now \(aug.joined(separator: ", ")))"
        return Suggestion(id: "more_augmentation",
                          text: "add more data augmentation\(now), e.g. RandomFlip(\"horizontal\"), RandomRotation(0.1), RandomZoom(0.1)")
    }

    // MARK: fit

    static func fit(_ s: Signals, _ facts: RunFacts, _ t: Thresholds) -> [Suggestion] {
        var out: [Suggestion] = []
        if Rules.stillFalling(s, t) {
            out.append(Suggestion(id: "keep_going", text: "keep going: both losses still fall"))
        } else if let val = s.val {
            out.append(Suggestion(id: "keep_going",
                                  text: "keep going, or keep the epoch \(s.shown(val.best.index)) weights: val_loss has levelled off at its best"))
        } else {
            out.append(Suggestion(id: "keep_going", text: "keep going: the train loss has levelled off"))
        }
        if let u = unfreeze(facts, lowerRate: true) { out.append(u) }
        return out
    }

    // MARK: diverging

    /// The Keras class name for a reported optimizer ("sgd" → "SGD"); Adam when unknown.
    static func kerasOptimizer(_ name: String?) -> String {
        let known = ["adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
                     "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "lion": "Lion"]
        guard let name, !name.isEmpty else { return "Adam" }
        return known[name.lowercased()] ?? name
    }

    static func diverging(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        if let lr = facts.hparams.learningRate, lr > 0 {
            out.append(Suggestion(id: "lower_learning_rate",
                                  text: "lower the learning rate 10×: \(NumberText.rate(lr)) → \(NumberText.rate(lr / 10))"))
        } else {
            out.append(Suggestion(id: "lower_learning_rate",
                                  text: "lower the learning rate 10× (for Adam, the Keras default 0.001 → 0.0001)"))
        }
        out.append(Suggestion(id: "clip_gradients",
                              text: "clip gradients: optimizer=keras.optimizers.\(kerasOptimizer(facts.hparams.optimizer))(learning_rate, clipnorm=1.0)"))
        out.append(Suggestion(id: "check_inputs", text: "check inputs and targets for NaN/Inf and standardize them (large raw targets blow up MSE)"))
        if facts.canStop {
            out.append(Suggestion(id: "stop_job", text: "stop the job: nothing more will be learned from here", action: .stopJob))
        }
        return out
    }
}
