import FinetopCore

/// What the suggestions may use besides the curves: the model, the hyper-parameters, the
/// framework, the kind of input, and whether the job is still there to be steered.
struct RunFacts: Sendable {
    var model: LayerTable?
    var hparams: HParams
    var numClasses: Int?
    /// The job is live and reads control.json, so "stop" can be carried out.
    var canStop: Bool
    var framework: Framework
    var input: InputKind
    /// What the run's `layer_stats` say (nil without them).
    var learning: LearningSummary?
    /// The job's learning rate now, as the dashboard reads it (`RateAdvice.currentRate`).
    var currentRate: Double?

    init(_ run: Run) {
        model = run.model
        hparams = run.info?.hparams ?? HParams()
        numClasses = run.info?.task?.numClasses ?? run.model.flatMap(Self.outputWidth)
        canStop = run.format.acceptsControl && run.end == nil
        framework = Framework(run)
        input = InputKind(model: run.model, augmentation: hparams.augmentation, framework: framework)
        currentRate = RateAdvice.currentRate(run)
    }

    /// The width of the last layer, "(None, 5)" → 5: the number of classes of a classifier head.
    static func outputWidth(_ model: LayerTable) -> Int? {
        guard let shape = model.layers.last(where: { $0.depth == 0 })?.shape else { return nil }
        let last = shape.split(whereSeparator: { ", ()[]".contains($0) }).last
        return last.flatMap { Int($0) }.flatMap { $0 > 1 ? $0 : nil }
    }

    /// A number the run reported among its other hparams (`weight_decay`, `clipnorm`, …).
    func extra(_ name: String) -> Double? { hparams.extra.first { $0.0 == name }?.1.double }

    var weightDecay: Double? { extra("weight_decay").flatMap { $0 > 0 ? $0 : nil } }

    /// The model's dropout rates: the hparams' list, else Dropout layers found by class name.
    var dropoutLayers: Int { model?.layers.filter { $0.className.contains("Dropout") }.count ?? 0 }
    var hasDropout: Bool { !hparams.dropout.isEmpty || dropoutLayers > 0 }
}

/// Which API the fixes are named in.
enum Framework: Sendable, Equatable {
    case keras, pytorch, lightning, huggingFace, unknown

    init(_ run: Run) {
        let name = (run.format.framework ?? run.info?.framework ?? "").lowercased()
        if name.contains("keras") || name.contains("tensorflow") { self = .keras }
        else if name.contains("lightning") { self = .lightning }
        else if name.contains("transformers") || name.contains("hugging") { self = .huggingFace }
        else if name.contains("torch") { self = .pytorch }
        else { self = .unknown }
    }
}

/// What the model reads, as far as its layers and augmentation tell: flips, rotations and
/// GlobalAveragePooling2D are advice for images only.
enum InputKind: Sendable, Equatable {
    case image, text, audio, tabular, unknown

    init(model: LayerTable?, augmentation: [String], framework: Framework) {
        let classes = model?.layers.map(\.className) ?? []
        func has(_ names: [String]) -> Bool { classes.contains { c in names.contains { c.contains($0) } } }
        if has(["Embedding", "Bert", "Roberta", "GPT", "T5", "Llama", "Attention", "Transformer"]) { self = .text }
        else if has(["Spectrogram", "MelSpec", "Wav2Vec", "Whisper", "Audio"]) { self = .audio }
        else if has(["Conv2D", "Conv2d", "DepthwiseConv2D", "MaxPooling2D", "MaxPool2d", "SeparableConv2D"])
                    || augmentation.contains(where: { $0.hasPrefix("RandomFlip") || $0.hasPrefix("RandomRotation") || $0.hasPrefix("RandomZoom") }) { self = .image }
        else if has(["Conv1D", "Conv1d", "LSTM", "GRU"]) { self = .audio }
        else if !classes.isEmpty && classes.allSatisfy({ ["Dense", "Linear", "InputLayer", "Dropout", "BatchNormalization", "ReLU", "Activation", "Normalization", "Sequential", "Functional"].contains(where: $0.contains) }) { self = .tabular }
        else if framework == .huggingFace { self = .text }
        else { self = .unknown }
    }
}

/// One augmentation layer as the helpers report it: "RandomRotation(factor=0.2)".
struct AugmentationLayer: Equatable {
    var kind: String
    var factor: Double?

    init?(_ text: String) {
        let open = text.firstIndex(of: "(") ?? text.endIndex
        guard open > text.startIndex else { return nil }
        kind = String(text[..<open])
        factor = nil
        if let r = text.range(of: "factor=") {
            let rest = text[r.upperBound...].drop { "[( ".contains($0) }
            let number = rest.prefix { "0123456789.-e".contains($0) }
            factor = Double(number).map(abs)
        }
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
        LearningEvidence.adjust(&out, for: label, facts.learning, facts)
        if !s.hasValidation && s.count > 0 { out.insert(addValidation(facts), at: min(1, out.count)) }
        return out
    }

    static func addValidation(_ facts: RunFacts) -> Suggestion {
        let how: String
        switch facts.framework {
        case .keras, .unknown: how = "model.fit(..., validation_split=0.2) or validation_data=(x_val, y_val)"
        case .pytorch: how = "hold out 20% with torch.utils.data.random_split and evaluate it every epoch"
        case .lightning: how = "pass val_dataloaders to trainer.fit and log \"val_loss\" in validation_step"
        case .huggingFace: how = "Trainer(eval_dataset=...) with TrainingArguments(eval_strategy=\"epoch\")"
        }
        return Suggestion(id: "add_validation", text: "add validation data to judge overfitting: " + how)
    }

    // MARK: underfitting

    static func underfitting(_ s: Signals, _ facts: RunFacts, _ t: Thresholds) -> [Suggestion] {
        var out: [Suggestion] = []
        if let u = unfreeze(facts, lowerRate: false) { out.append(u) }
        out += softenRegularization(s, facts)
        out.append(biggerModel(facts))
        if Rules.stillFalling(s, t) && !s.layersBarelyMove { out.insert(trainLonger(facts), at: 0) }
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
        return Suggestion(id: lowerRate ? "unfreeze_lower_lr" : "unfreeze_more", text: text, action: .setTrainable(plan.flags),
                          rateFactor: lowerRate ? 0.1 : nil)
    }

    /// " (0.001 → 0.0001)" when the run reported its rate.
    static func rateChange(_ facts: RunFacts) -> String {
        guard let lr = facts.hparams.learningRate, lr > 0 else { return "" }
        return " (\(NumberText.rate(lr)) → \(NumberText.rate(lr / 10)))"
    }

    static func softenRegularization(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        let h = facts.hparams
        if case .overRegularized? = Rules.underfit(s, holding: true), let wd = facts.weightDecay {
            out.append(Suggestion(id: "less_weight_decay",
                                  text: "lower weight decay \(NumberText.rate(wd)) → \(NumberText.rate(wd / 10)): accuracy fell while the loss kept falling"))
        }
        if !h.augmentation.isEmpty {
            out.append(Suggestion(id: "soften_augmentation",
                                  text: "remove or soften augmentation (\(h.augmentation.joined(separator: ", "))): the model can't fit even the training data"))
        }
        if !h.dropout.isEmpty || facts.weightDecay != nil {
            var parts: [String] = []
            if !h.dropout.isEmpty { parts.append("lower dropout (\(h.dropout.map(NumberText.rate).joined(separator: ", "))) or remove it") }
            if let wd = facts.weightDecay, !out.contains(where: { $0.id == "less_weight_decay" }) {
                parts.append("weaken weight decay (\(NumberText.rate(wd)) → \(NumberText.rate(wd / 10)))")
            }
            out.append(Suggestion(id: "soften_regularization", text: parts.joined(separator: ", and ")))
        }
        if out.isEmpty, let above = Evidence.trainAboveVal(s) {
            out.append(Suggestion(id: "soften_regularization", text: "soften dropout, noise or augmentation: " + above))
        }
        return out
    }

    /// A hidden Dense/Linear layer right before the output, with its width.
    static func headWidth(_ model: LayerTable?) -> Int? {
        guard let model else { return nil }
        let top = model.layers.filter { $0.depth == 0 && $0.hasWeights }
        guard top.count >= 2 else { return nil }
        let hidden = top[top.count - 2]
        guard hidden.className.contains("Dense") || hidden.className.contains("Linear") else { return nil }
        return RunFacts.outputWidth(LayerTable(revision: 0, layers: [hidden]))
    }

    static func biggerModel(_ facts: RunFacts) -> Suggestion {
        let size = facts.model.map { " (now \(KerasFormat.count($0.totals.trainable)) trainable params)" } ?? ""
        if let width = headWidth(facts.model) {
            return Suggestion(id: "bigger_model", text: "use a bigger model, or widen the head's hidden layer \(width) → \(width * 2) units" + size)
        }
        let layer: String
        switch facts.framework {
        case .keras, .unknown: layer = "Dense(128, activation=\"relu\")"
        case .pytorch, .lightning, .huggingFace: layer = "nn.Linear(features, 128) + nn.ReLU()"
        }
        return Suggestion(id: "bigger_model", text: "use a bigger model or a wider head, e.g. \(layer) before the output" + size)
    }

    static func trainLonger(_ facts: RunFacts) -> Suggestion {
        let more = facts.hparams.epochs.map { " (epochs \($0) → \($0 * 2))" } ?? ""
        return Suggestion(id: "train_longer", text: "train longer while the losses still fall" + more)
    }

    // MARK: overfitting

    static func overfitting(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        if let es = earlyStopping(s, facts) { out.append(es) }
        if let d = headDropout(facts) { out.append(d) }
        if let a = moreAugmentation(facts) { out.append(a) }
        if let wd = weightDecay(facts) { out.append(wd) }
        if let model = facts.model, let plan = LayerPlan.freezeEarliestTrainable(of: model),
           Double(-plan.trainableDelta) >= meaningfulShare * Double(max(1, plan.trainableBefore)) {
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

    /// "Fewer trainable layers" must remove at least this share of the trainable params to be worth saying.
    static let meaningfulShare = 0.10

    static func earlyStopping(_ s: Signals, _ facts: RunFacts) -> Suggestion? {
        guard let val = s.val else { return nil }
        let mine = facts.hparams.earlyStopping
        // Never a shorter patience than the run already uses: that is a weaker version of what it does.
        let patience = max(suggestedPatience(s), mine?.patience ?? 0)
        let best = s.shown(val.best.index)
        let stop = best + patience
        let lastShown = s.shown(s.count - 1)
        let when = stop <= lastShown ? "it would have stopped at epoch \(stop)" : "it stops \(patience) epochs after the best"
        let numbers = "best val_loss \(NumberText.value(val.best.value)) at epoch \(best); " + when
        var text: String
        switch facts.framework {
        case .keras, .unknown:
            if let mine, mine.restoreBestWeights, mine.patience <= patience {
                text = "your EarlyStopping(patience=\(mine.patience), restore_best_weights=True) already keeps the best weights: \(numbers)"
            } else {
                text = "EarlyStopping(monitor=\"val_loss\", patience=\(patience), restore_best_weights=True): " + numbers
                if let mine { text += " (yours has patience=\(mine.patience)" + (mine.restoreBestWeights ? ")" : ", without restore_best_weights)") }
            }
        case .huggingFace:
            text = "EarlyStoppingCallback(early_stopping_patience=\(patience)) with TrainingArguments(load_best_model_at_end=True, "
                + "metric_for_best_model=\"eval_loss\"): " + numbers
        case .lightning:
            text = "lightning.pytorch.callbacks.EarlyStopping(monitor=\"val_loss\", patience=\(patience)) with ModelCheckpoint(monitor=\"val_loss\"): " + numbers
        case .pytorch:
            text = "stop when val_loss has not improved for \(patience) epochs and reload the best checkpoint (torch.save the state_dict at each new best): " + numbers
        }
        if facts.canStop { text += "; stop now and keep the epoch \(best) weights" }
        return Suggestion(id: "early_stopping", text: text, action: facts.canStop ? .stopJob : nil)
    }

    /// The smallest patience that rides out every stall before the best epoch (so it would not
    /// have stopped too soon), and at least 2 so one noisy epoch does not stop a run.
    static func suggestedPatience(_ s: Signals) -> Int {
        max(2, s.longestValStallBeforeBest + 1)
    }

    /// Dropout in the head: added where there is none, raised where it is below 0.5, never
    /// offered where the run already has 0.5 or more.
    static func headDropout(_ facts: RunFacts) -> Suggestion? {
        let rates = facts.hparams.dropout
        let highest = rates.max()
        if let highest, highest >= 0.5 { return nil }
        if highest == nil && facts.dropoutLayers > 0 { return nil }
        let layer: String
        switch facts.framework {
        case .keras, .unknown: layer = "Dropout(0.5)"
        case .pytorch, .lightning: layer = "nn.Dropout(p=0.5)"
        case .huggingFace: layer = "classifier dropout 0.5 (config.classifier_dropout or hidden_dropout_prob)"
        }
        if let highest {
            return Suggestion(id: "head_dropout",
                              text: "raise the head's dropout \(rates.map(NumberText.rate).joined(separator: ", ")) → 0.5: \(layer) before the output layer")
        }
        guard facts.framework == .keras || facts.framework == .unknown else {
            return Suggestion(id: "head_dropout", text: "add \(layer) before the output layer")
        }
        let classes = facts.numClasses.map(String.init) ?? "classes"
        let pooling = facts.input == .image && !(facts.model?.layers.contains { $0.className.contains("GlobalAveragePooling") || $0.className.contains("Flatten") } ?? false)
            ? "GlobalAveragePooling2D → " : ""
        let hidden = headWidth(facts.model).map { "Dense(\($0), relu)" } ?? "Dense(128, relu)"
        return Suggestion(id: "head_dropout",
                          text: "add Dropout(0.5) in the head: \(pooling)Dropout(0.5) → \(hidden) → Dropout(0.5) → Dense(\(classes), softmax)")
    }

    /// Augmentation the run does not have yet, or stronger than what it has, for its kind of input.
    static func moreAugmentation(_ facts: RunFacts) -> Suggestion? {
        let aug = facts.hparams.augmentation
        let now = aug.isEmpty ? "" : " (now \(aug.joined(separator: ", ")))"
        switch facts.input {
        case .image, .unknown:
            let have = aug.compactMap(AugmentationLayer.init)
            var ideas: [String] = []
            if facts.input == .image, !have.contains(where: { $0.kind == "RandomFlip" }) {
                ideas.append("RandomFlip(\"horizontal\") (not for digits or text in images: a flip changes them)")
            }
            for kind in ["RandomRotation", "RandomZoom", "RandomTranslation"] {
                if let existing = have.first(where: { $0.kind == kind }) {
                    if let f = existing.factor, f < 0.5 { ideas.append("\(kind)(\(NumberText.rate(min(0.5, f * 2))))") }
                } else {
                    ideas.append("\(kind)(0.1)")
                }
            }
            guard !ideas.isEmpty else { return nil }
            let layers = facts.framework == .keras || facts.framework == .unknown ? ideas.joined(separator: ", ")
                : "torchvision.transforms: RandomHorizontalFlip, RandomRotation, RandomResizedCrop"
            return Suggestion(id: "more_augmentation", text: "add more data augmentation\(now), e.g. " + layers)
        case .text:
            return Suggestion(id: "more_augmentation", text: "more training text, or text augmentation (back-translation, token masking)\(now)")
        case .audio:
            return Suggestion(id: "more_augmentation", text: "add audio augmentation\(now): SpecAugment time and frequency masking, time shift, background noise")
        case .tabular:
            return Suggestion(id: "more_augmentation", text: "more training rows, or input noise (GaussianNoise(0.1)) and L2 on the Dense layers\(now)")
        }
    }

    /// Weight decay where the run has none, or ten times more where it has some.
    static func weightDecay(_ facts: RunFacts) -> Suggestion? {
        let now = facts.weightDecay
        let value = now.map { $0 * 10 } ?? 1e-4
        let text: String
        switch facts.framework {
        case .keras, .unknown:
            text = "\(now == nil ? "add" : "raise") weight decay: optimizer=keras.optimizers.AdamW(weight_decay=\(NumberText.rate(value)))"
                + (now.map { " (now \(NumberText.rate($0)))" } ?? "")
        case .pytorch, .lightning:
            text = "\(now == nil ? "add" : "raise") weight decay: torch.optim.AdamW(..., weight_decay=\(NumberText.rate(value)))" + (now.map { " (now \(NumberText.rate($0)))" } ?? "")
        case .huggingFace:
            text = "\(now == nil ? "add" : "raise") weight decay: TrainingArguments(weight_decay=\(NumberText.rate(now.map { $0 * 10 } ?? 0.01)))" + (now.map { " (now \(NumberText.rate($0)))" } ?? "")
        }
        return Suggestion(id: "weight_decay", text: text)
    }

    // MARK: fit

    static func fit(_ s: Signals, _ facts: RunFacts, _ t: Thresholds) -> [Suggestion] {
        var out: [Suggestion] = []
        if Rules.stillFalling(s, t) {
            let more = facts.hparams.epochs.map { " (epochs \($0) → \($0 * 2))" } ?? ""
            out.append(Suggestion(id: "keep_going", text: "keep going, train longer while both losses still fall" + more))
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

    /// The Keras class name for a reported optimizer ("sgd" → "SGD"), nil when unknown.
    static func kerasOptimizer(_ name: String?) -> String? {
        let known = ["adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
                     "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "lion": "Lion"]
        guard let name, !name.isEmpty else { return nil }
        return known[name.lowercased()] ?? name
    }

    static func diverging(_ s: Signals, _ facts: RunFacts) -> [Suggestion] {
        var out: [Suggestion] = []
        let optimizer = kerasOptimizer(facts.hparams.optimizer)
        out.append(RateAdvice.suggestion(id: "lower_learning_rate", facts, factor: 0.1))
        let clip: String
        switch facts.framework {
        case .keras, .unknown:
            clip = "optimizer=keras.optimizers.\(optimizer ?? "Adam")(learning_rate, clipnorm=1.0)"
        case .pytorch: clip = "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0) before optimizer.step()"
        case .lightning: clip = "Trainer(gradient_clip_val=1.0)"
        case .huggingFace: clip = "TrainingArguments(max_grad_norm=1.0)"
        }
        out.append(Suggestion(id: "clip_gradients", text: "clip gradients: " + clip))
        if case .runawayNegative? = Rules.divergence(s) {
            out.append(Suggestion(id: "check_loss", text: "check the loss: a loss that should be bounded below runs away negative (wrong sign, log of a non-probability)"))
        }
        out.append(Suggestion(id: "check_inputs", text: "check inputs and targets for NaN/Inf and standardize them (large raw targets blow up MSE)"))
        if facts.canStop {
            out.append(Suggestion(id: "stop_job", text: "stop the job: nothing more will be learned from here", action: .stopJob))
        }
        return out
    }
}
