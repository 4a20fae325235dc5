import FinetopCore
import Testing
@testable import FinetopDiagnosis

/// One test per failure mode listed in issue 17, each built from its description.
@Suite struct Issue17FailureModeTests {
    /// (1) val_loss wandering in a 0.03-0.09 band for 70 epochs, val accuracy at its best: noise, not a turn.
    @Test func noisyFlatPlateauIsNeverOverfitting() {
        var noise = TestRuns.Noise(state: 17)
        let n = 80
        let train = (0..<n).map { 0.02 + 1.5 * pow(0.85, Double($0)) }
        var val: [Double] = []
        for i in 0..<n { val.append(i < 10 ? 1.2 * pow(0.7, Double(i)) + 0.06 : 0.06 + 0.03 * noise.next()) }
        let acc = (0..<n).map { i in min(0.995, 0.6 + 0.05 * Double(i)) }
        let valAcc = (0..<n).map { i in min(0.985, 0.6 + 0.05 * Double(i)) }
        let report = Diagnoser.diagnose(TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: valAcc))
        #expect(!report.history.contains { $0.label == .overfitting }, "\(report.history.map(\.label.rawValue))")
        #expect(report.current.label == .fit)
    }

    /// (2) Train accuracy 0.87-1.00 while val accuracy sits 17 points lower and val_loss is flat.
    @Test func wideAccuracyGapWithFlatValLossIsOverfitting() {
        var noise = TestRuns.Noise(state: 2)
        let n = 30
        let train = (0..<n).map { 0.05 + 0.6 * pow(0.85, Double($0)) }
        var val: [Double] = []
        for i in 0..<n { val.append(0.55 + (i < 5 ? 0.3 * pow(0.5, Double(i)) : 0.01 * noise.next())) }
        let acc = (0..<n).map { min(1, 0.87 + 0.01 * Double($0)) }
        var valAcc: [Double] = []
        for i in 0..<n { valAcc.append(min(0.8, 0.6 + 0.05 * Double(i)) + 0.005 * noise.next()) }
        let report = Diagnoser.diagnose(TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: valAcc))
        #expect(report.current.label == .overfitting)
        #expect(report.current.evidence.first?.contains("points") == true)
    }

    /// (2) Val accuracy at chance while the model learns its training data.
    @Test func valAccuracyAtChanceWithHighTrainAccuracyIsOverfitting() {
        var noise = TestRuns.Noise(state: 3)
        let n = 25
        let train = (0..<n).map { 0.05 + 1.0 * pow(0.8, Double($0)) }
        let val = (0..<n).map { _ in 1.1 + 0.02 * noise.next() }
        let acc = (0..<n).map { min(1, 0.5 + 0.05 * Double($0)) }
        let valAcc = (0..<n).map { _ in 0.34 + 0.02 * noise.next() }
        var run = TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: valAcc)
        run.info?.task = TaskInfo(kind: "classification", numClasses: 3)
        #expect(Diagnoser.diagnose(run).current.label == .overfitting)
    }

    /// (3) 7-class facial expressions at 0.63 and 27-class audio at 0.72, both curves still falling: fit, train longer.
    @Test func hardTasksStillImprovingAreFitNotUnderfitting() {
        for (classes, top) in [(7, 0.63), (27, 0.72)] {
            let n = 30
            let train = (0..<n).map { 2.0 * pow(0.97, Double($0)) }
            let val = (0..<n).map { 2.1 * pow(0.975, Double($0)) }
            let acc = (0..<n).map { top * (0.5 + 0.5 * Double($0) / Double(n - 1)) }
            var run = TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: acc.map { $0 - 0.02 })
            run.info?.task = TaskInfo(kind: "classification", numClasses: classes)
            let report = Diagnoser.diagnose(run)
            #expect(report.current.label == .fit, "\(classes) classes")
            #expect(!report.history.contains { $0.label == .underfitting })
            #expect(report.current.suggestions.first?.text.contains("train longer") == true)
        }
    }

    /// (3) A language-model fine-tune: the loss never nears zero; falling from 3.2 to 2.6 is learning.
    @Test func languageModelFineTuneIsNotUnderfitting() {
        let train = [3.2, 3.0, 2.9, 2.82, 2.76, 2.71, 2.67, 2.64]
        let val = [3.1, 2.98, 2.9, 2.85, 2.82, 2.8, 2.79, 2.78]
        var run = TestRuns.run(loss: train, val: val)
        run.format = .huggingFaceTrainerState
        #expect(Diagnoser.diagnose(run).current.label == .fit)
    }

    /// (3) A plateau at 0.85 is fit without a target, underfitting against a 0.95 target (avoidable bias).
    @Test func targetAccuracyTurnsAPlateauIntoUnderfitting() {
        let n = 30
        let loss = (0..<n).map { 0.45 + 0.8 * pow(0.6, Double($0)) }
        let acc = (0..<n).map { 0.85 - 0.4 * pow(0.6, Double($0)) }
        let run = TestRuns.run(loss: loss, val: loss.map { $0 + 0.02 }, accuracy: acc, valAccuracy: acc.map { $0 - 0.01 })
        #expect(Diagnoser.diagnose(run).current.label == .fit)
        let cli = Diagnoser.diagnose(run, target: Target(accuracy: 0.95))
        #expect(cli.current.label == .underfitting)
        #expect(cli.current.evidence.first?.contains("target") == true)
        var withHparam = run
        withHparam.info?.hparams.extra = [("target", .object([("accuracy", .number(0.95))]))]
        #expect(Diagnoser.diagnose(withHparam).current.label == .underfitting)
    }

    /// (3) Accuracy in percent: 56 is 0.56, a plateau at high error, not "above 0.90".
    @Test func percentAccuracyIsRecognized() {
        let n = 25
        let loss = (0..<n).map { 1.3 + 0.5 * pow(0.5, Double($0)) }
        let acc = (0..<n).map { 56 - 20 * pow(0.5, Double($0)) }
        let report = Diagnoser.diagnose(TestRuns.run(loss: loss, val: loss.map { $0 * 1.01 }, accuracy: acc, valAccuracy: acc))
        #expect(report.current.label == .underfitting)
        #expect(report.current.evidence.first?.contains("0.56") == true)
    }

    /// (4) The loss exploded inside epoch 1, then the dead model sits at ln(10) with chance accuracy.
    @Test func divergenceSettledAtChanceIsDivergingNotUnderfitting() {
        let loss = [45.0] + Array(repeating: 2.3026, count: 14)
        let acc = [0.1] + Array(repeating: 0.1, count: 14)
        var run = TestRuns.run(loss: loss, val: loss.map { $0 + 0.001 }, accuracy: acc, valAccuracy: acc,
                               hparams: HParams(optimizer: "sgd", learningRate: 0.5))
        run.info?.task = TaskInfo(kind: "classification", numClasses: 10)
        let report = Diagnoser.diagnose(run)
        #expect(report.current.label == .diverging)
        #expect(report.current.suggestions.first?.id == "lower_learning_rate")
        #expect(!report.current.suggestions.contains { $0.id == "bigger_model" })
        // Without the class count, a uniform guess's accuracy (0.1) says ln(10).
        run.info?.task = nil
        #expect(Diagnoser.diagnose(run).current.label == .diverging)
    }

    /// (4) A negative loss running away (-3e4 → -1e8) is a broken objective.
    @Test func negativeRunawayLossIsDiverging() {
        let loss = (0..<10).map { -3e4 * pow(2.5, Double($0)) }
        let report = Diagnoser.diagnose(TestRuns.run(loss: loss, val: loss))
        #expect(report.current.label == .diverging)
        #expect(report.current.evidence.first?.contains("below zero") == true)
    }

    /// (4) Accuracy collapsing while the loss falls monotonically: over-regularization, less weight decay.
    @Test func accuracyCollapseWithFallingLossIsOverRegularization() {
        let n = 14
        let loss = (0..<n).map { 3.0 * pow(0.9, Double($0)) }
        let acc = [0.3, 0.6, 0.8, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.3, 0.3, 0.3]
        var h = HParams(optimizer: "adamw", learningRate: 0.001)
        h.extra = [("weight_decay", .number(0.5))]
        let report = Diagnoser.diagnose(TestRuns.run(loss: loss, val: loss, accuracy: acc, valAccuracy: acc, hparams: h))
        #expect(report.current.label == .underfitting)
        #expect(!report.history.contains { $0.label == .diverging })
        #expect(report.current.suggestions.first { $0.id == "less_weight_decay" }?.text.contains("0.5 → 0.05") == true)
    }

    /// (5) Label smoothing over many classes: loss/(1-acc) above 9.2 nats on a run improving every epoch.
    @Test func healthySmoothedRunIsNotSaturated() {
        let n = 20
        let loss = (0..<n).map { 2.0 + 2.5 * pow(0.85, Double($0)) }
        let acc = (0..<n).map { 0.5 + 0.3 * (1 - pow(0.85, Double($0))) }
        var run = TestRuns.run(loss: loss, val: loss.map { $0 + 0.1 }, accuracy: acc, valAccuracy: acc.map { $0 - 0.02 })
        run.info?.task = TaskInfo(kind: "classification", numClasses: 250)
        let report = Diagnoser.diagnose(run)
        #expect(!report.history.contains { $0.label == .diverging })
        #expect(!report.current.suggestions.contains { $0.action == .stopJob && $0.id == "stop_job" })
    }

    /// (5) A 250-class overfitting run is overfitting, not diverging.
    @Test func manyClassOverfittingIsNotDiverging() {
        let n = 30
        let train = (0..<n).map { 1.2 + 3.0 * pow(0.85, Double($0)) }
        let bottom: Double = 1.5 + 3.0 * pow(0.85, 12)
        let val: [Double] = (0..<n).map { (i: Int) -> Double in
            i <= 12 ? 1.5 + 3.0 * pow(0.85, Double(i)) : bottom * pow(1.04, Double(i - 12))
        }
        let acc = (0..<n).map { 0.2 + 0.025 * Double($0) }
        var run = TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: acc.map { $0 - 0.05 })
        run.info?.task = TaskInfo(kind: "classification", numClasses: 250)
        let report = Diagnoser.diagnose(run)
        #expect(report.current.label == .overfitting)
        #expect(!report.history.contains { $0.label == .diverging })
    }

    /// (6) A finished three-epoch fine-tune with val_loss +39% gets a label, not "too early" forever.
    @Test func finishedThreeEpochFineTuneGetsALabel() {
        var run = TestRuns.run(loss: [0.45, 0.25, 0.12], val: [0.30, 0.33, 0.417])
        run.format = .kerasCSV
        let report = Diagnoser.diagnose(run)
        #expect(report.current.label == .overfitting)
        #expect(report.history.last?.label == .overfitting)
        // The same curves live: the confirming epoch is still owed.
        #expect(Diagnoser.diagnose(TestRuns.run(loss: [0.45, 0.25, 0.12], val: [0.30, 0.33, 0.417])).current.label == .tooEarly)
    }

    /// (7) Val wobbling around 12% above its best for 40 epochs: overfitting once, and it stays.
    @Test func overfittingDoesNotFlapOnAWobblingLevel() {
        let n = 50
        let train = (0..<n).map { 2.0 * pow(0.9, Double($0)) }
        let val = (0..<n).map { i -> Double in
            if i <= 8 { return 1.0 + 0.1 * Double(8 - i) }
            return i < 12 ? 1.0 + 0.04 * Double(i - 8) : 1.12 + (i % 2 == 0 ? 0.045 : -0.045)
        }
        let labels = Diagnoser.diagnose(TestRuns.run(loss: train, val: val)).history.map(\.label)
        var runs: [FitLabel] = []
        for l in labels where runs.last != l { runs.append(l) }
        #expect(runs == [.tooEarly, .fit, .overfitting], "\(runs)")
    }
}

/// One test per wrong suggestion listed in issue 17.
@Suite struct Issue17SuggestionTests {
    static func overfitRun(hparams: HParams = HParams(), model: [Layer]? = nil, framework: String = "keras",
                           format: LogFormat = .eventsFile, epochs: Int = 30) -> Run {
        var run = TestRuns.overfitting(epochs: epochs, bottom: 10)
        run.info = RunInfo(framework: framework, hparams: hparams)
        run.model = model.map { LayerTable(revision: 0, layers: $0) }
        run.format = format
        return run
    }

    static func suggestions(_ run: Run) -> [Suggestion] { Diagnoser.diagnose(run).current.suggestions }

    @Test func noDropoutAdviceToAHeadThatHasTwo() {
        let s = Self.suggestions(Self.overfitRun(hparams: HParams(dropout: [0.5, 0.5])))
        #expect(!s.contains { $0.id == "head_dropout" })
        let weak = Self.suggestions(Self.overfitRun(hparams: HParams(dropout: [0.2])))
        #expect(weak.first { $0.id == "head_dropout" }?.text.contains("0.2 → 0.5") == true)
    }

    @Test func augmentationIsNeverWeakerThanTheRunsOwn() throws {
        let s = Self.suggestions(Self.overfitRun(hparams: HParams(augmentation: ["RandomRotation(factor=0.2)", "RandomFlip(mode=horizontal)"]),
                                                 model: TestRuns.smallModel))
        let aug = try #require(s.first { $0.id == "more_augmentation" })
        #expect(!aug.text.contains("RandomRotation(0.1)"))
        #expect(aug.text.contains("RandomRotation(0.4)"))
        #expect(!aug.text.contains("e.g. RandomFlip"))
    }

    @Test func earlyStoppingPatienceIsNeverShorterThanTheRunsOwn() throws {
        let s = Self.suggestions(Self.overfitRun(hparams: HParams(earlyStopping: EarlyStoppingInfo(patience: 5))))
        let es = try #require(s.first { $0.id == "early_stopping" })
        #expect(es.text.contains("patience=5"))
        #expect(!es.text.contains("patience=2,"))
    }

    @Test func earlyStoppingNeverNamesAnEpochBeyondTheRun() throws {
        // 100 epochs, best at epoch 99 (1-based 99), patience would land past the end.
        let n = 100
        let train = (0..<n).map { 2 * pow(0.97, Double($0)) }
        let val: [Double] = (0..<n).map { (i: Int) -> Double in
            let x = Double(i)
            return i <= 97 ? 1.0 - 0.005 * x : 0.515 + 0.2 * (x - 97)
        }
        var run = TestRuns.run(loss: train, val: val, hparams: HParams(earlyStopping: EarlyStoppingInfo(patience: 5)))
        run.format = .kerasCSV
        let report = Diagnoser.diagnose(run)
        #expect(report.current.label == .overfitting)
        let es = report.current.suggestions.first { $0.id == "early_stopping" }
        let text = try #require(es?.text)
        for epoch in 101...120 { #expect(!text.contains("epoch \(epoch)")) }
    }

    @Test func noFlipsOrImagePoolingForTextAudioOrTabularModels() {
        let models: [[Layer]] = [
            [TestRuns.layer("emb", "Embedding", params: 64_000, trainable: true),
             TestRuns.layer("lstm", "LSTM", params: 33_000, trainable: true),
             TestRuns.layer("out", "Dense", params: 650, trainable: true, shape: "(None, 10)")],
            [TestRuns.layer("c1", "Conv1D", params: 3_000, trainable: true),
             TestRuns.layer("out", "Dense", params: 650, trainable: true, shape: "(None, 27)")],
            [TestRuns.layer("d1", "Dense", params: 3_000, trainable: true),
             TestRuns.layer("out", "Dense", params: 65, trainable: true, shape: "(None, 2)")],
        ]
        for model in models {
            let text = Self.suggestions(Self.overfitRun(model: model)).map(\.text).joined(separator: "\n")
            #expect(!text.contains("RandomFlip"))
            #expect(!text.contains("GlobalAveragePooling2D"))
        }
    }

    @Test func divergingAdviceUsesTheRunsOptimizerAndFramework() throws {
        let loss = [1, 0.8, 0.9, 1.5, 2.5, 4, 8.0]
        var sgd = TestRuns.run(loss: loss, val: loss, hparams: HParams(optimizer: "SGD"))
        var text = Diagnoser.diagnose(sgd).current.suggestions.map(\.text).joined(separator: "\n")
        #expect(!text.contains("Adam") && !text.contains("0.001"))
        #expect(text.contains("SGD"))
        sgd.info?.framework = "pytorch"
        text = Diagnoser.diagnose(sgd).current.suggestions.map(\.text).joined(separator: "\n")
        #expect(text.contains("clip_grad_norm_") && !text.contains("keras."))
        var hf = TestRuns.run(loss: loss, val: loss)
        hf.format = .huggingFaceTrainerState
        text = Diagnoser.diagnose(hf).current.suggestions.map(\.text).joined(separator: "\n")
        #expect(text.contains("max_grad_norm") && !text.contains("keras."))
    }

    @Test func validationAdviceIsInTheRunsFramework() throws {
        let train = (0..<20).map { 2 * pow(0.8, Double($0)) }
        var run = TestRuns.run(loss: train)
        run.info?.framework = "pytorch"
        let add = try #require(Diagnoser.diagnose(run).current.suggestions.first { $0.id == "add_validation" })
        #expect(!add.text.contains("validation_split"))
        #expect(add.text.contains("random_split"))
        var hf = TestRuns.run(loss: train)
        hf.format = .huggingFaceTrainerState
        #expect(Diagnoser.diagnose(hf).current.suggestions.first { $0.id == "add_validation" }?.text.contains("eval_dataset") == true)
    }

    @Test func freezingATinyShareIsNotOfferedAsFewerTrainableLayers() {
        // "freeze block_16_project_BN" (640 of 412,800 params).
        let model = [
            TestRuns.layer("base", "Conv2D", params: 400_000, trainable: false),
            TestRuns.layer("block_16_project_BN", "BatchNormalization", params: 1_280, trainable: true),
            TestRuns.layer("head", "Dense", params: 412_160, trainable: true, shape: "(None, 10)"),
        ]
        let s = Self.suggestions(Self.overfitRun(model: model))
        #expect(!s.contains { $0.id == "freeze_layers" })
        #expect(s.contains { $0.id == "smaller_model" })
    }

    @Test func widerHeadAdviceNamesTheHeadItHas() throws {
        let model = [
            TestRuns.layer("base", "Conv2D", params: 4_000, trainable: false),
            TestRuns.layer("hidden", "Dense", params: 8_256, trainable: true, shape: "(None, 128)"),
            TestRuns.layer("out", "Dense", params: 650, trainable: true, shape: "(None, 10)"),
        ]
        let n = 25
        let loss = (0..<n).map { 1.4 + 0.6 * pow(0.5, Double($0)) }
        let acc = (0..<n).map { 0.5 - 0.2 * pow(0.5, Double($0)) }
        let run = TestRuns.run(loss: loss, val: loss, accuracy: acc, valAccuracy: acc, model: model)
        let report = Diagnoser.diagnose(run)
        #expect(report.current.label == .underfitting)
        let bigger = try #require(report.current.suggestions.first { $0.id == "bigger_model" })
        #expect(bigger.text.contains("128 → 256"))
        #expect(!bigger.text.contains("e.g. Dense(128"))
    }

    @Test func noWeakerWeightDecayAdviceWithoutWeightDecay() {
        let n = 25
        let loss = (0..<n).map { 1.4 + 0.6 * pow(0.5, Double($0)) }
        let acc = (0..<n).map { 0.5 - 0.2 * pow(0.5, Double($0)) }
        let run = TestRuns.run(loss: loss, val: loss, accuracy: acc, valAccuracy: acc, hparams: HParams(dropout: [0.3]))
        let text = Diagnoser.diagnose(run).current.suggestions.map(\.text).joined(separator: "\n")
        #expect(text.contains("lower dropout"))
        #expect(!text.contains("weight decay"))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
