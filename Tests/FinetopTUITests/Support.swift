import Foundation
import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// Runs and states the dashboard tests draw: real fixtures plus small synthetic curves.
enum TestRuns {
    static let snapshotsDir: String = {
        let file = URL(fileURLWithPath: #filePath)
        return file.deletingLastPathComponent().appendingPathComponent("Snapshots").path
    }()

    /// The frozen MobileNetV2 (224) from the shared fixtures: 154 layers, last 4 trainable.
    static func mobileNet() -> Run { mobileNetRun }

    private static let mobileNetRun: Run = {
        let reader = EventsReader(path: snapshotsDir + "/mobilenetv2_224_frozen.events.jsonl", format: .runDirectory)
        _ = try? reader.poll()
        return reader.run
    }()

    static func smallModel(revision: Int = 0, trainable: Set<String> = ["dense", "dense_1"]) -> LayerTable {
        func layer(_ name: String, _ cls: String, _ params: Int, depth: Int = 0) -> Layer {
            let on = trainable.contains(name) && params > 0
            let tp = on ? (cls == "BatchNormalization" ? params / 2 : params) : 0
            return Layer(name: name, className: cls, params: params, trainableParams: tp, trainable: on, depth: depth)
        }
        return LayerTable(revision: revision, layers: [
            layer("input_layer", "InputLayer", 0),
            layer("conv", "Conv2D", 864),
            layer("bn", "BatchNormalization", 128),
            layer("relu", "ReLU", 0),
            layer("pool", "GlobalAveragePooling2D", 0),
            layer("dropout", "Dropout", 0),
            layer("dense", "Dense", 4_128),
            layer("dense_1", "Dense", 645),
        ])
    }

    /// A base model nested as one layer (`outer/inner` names, depth 1) under a new head.
    static func nested() -> Run {
        var run = Run(format: .runDirectory)
        run.info = info(epochs: 10, id: "nested")
        func l(_ name: String, _ cls: String, _ params: Int, _ tp: Int, depth: Int) -> Layer {
            Layer(name: name, className: cls, params: params, trainableParams: tp, trainable: tp > 0, depth: depth)
        }
        run.model = LayerTable(revision: 0, layers: [
            l("input_layer", "InputLayer", 0, 0, depth: 0),
            l("base", "Functional", 1_856, 0, depth: 0),
            l("base/conv", "Conv2D", 864, 0, depth: 1),
            l("base/bn", "BatchNormalization", 128, 0, depth: 1),
            l("base/conv_2", "Conv2D", 864, 0, depth: 1),
            l("pool", "GlobalAveragePooling2D", 0, 0, depth: 0),
            l("head", "Dense", 325, 325, depth: 0),
        ])
        return run
    }

    static func info(epochs: Int, id: String) -> RunInfo {
        RunInfo(framework: "keras", frameworkVersion: "3.15.1", runID: id, started: 1_763_900_000,
                hparams: HParams(optimizer: "adam", learningRate: 1e-3, batchSize: 32, epochs: epochs))
    }

    /// Train loss keeps falling, validation turns up after epoch 8.
    static func overfitting() -> Run {
        var run = Run(format: .runDirectory)
        run.info = info(epochs: 30, id: "overfit")
        run.model = smallModel()
        for e in 0..<20 {
            let train = 1.6 * exp(-Double(e) / 5) + 0.05
            let val = 1.0 * exp(-Double(e) / 4) + 0.35 + (e > 8 ? 0.03 * Double(e - 8) : 0)
            for b in 0..<10 {
                let noise = sin(Double(e * 10 + b) * 1.7) * 0.08
                run.batches.append(epoch: e, step: e * 10 + b, loss: train * 1.1 + noise)
            }
            run.epochs.append(EpochRecord(epoch: e, step: e * 10 + 9, values: [
                "loss": train, "val_loss": val, "accuracy": 1 - train / 2, "val_accuracy": 1 - val / 2,
            ]))
        }
        return run
    }

    /// Loss explodes and then turns NaN.
    static func diverging() -> Run {
        var run = Run(format: .runDirectory)
        run.info = info(epochs: 10, id: "diverge")
        run.model = smallModel()
        let losses = [2.3, 2.1, 2.6, 4.8, 19.0, 310.0, .nan, .nan]
        for (e, l) in losses.enumerated() {
            run.epochs.append(EpochRecord(epoch: e, values: ["loss": l, "val_loss": l.isNaN ? .nan : l * 1.2]))
        }
        run.end = RunEnd(reason: "error", message: "loss became NaN")
        return run
    }

    static func empty() -> Run { Run(format: .runDirectory) }

    static func state(_ run: Run, width: Int = 80, height: Int = 24, name: String? = nil, control: ControlFile? = nil,
                      readOnly: String? = nil, options: DashboardOptions = DashboardOptions(color: false, ascii: false),
                      pinDiagnosis: Bool = false) -> AppState {
        var s = AppState(run: run, runName: name, pathName: "run", readOnlyReason: readOnly, control: control,
                         options: options, width: width, height: height, now: 1_763_900_100, lastWrite: 1_763_900_090)
        if pinDiagnosis { s.report = pinnedReport(run) }
        return s
    }

    /// Screens are snapshotted with a fixed diagnosis, so rewording the classifier does not break
    /// them; `ReducerTests.realClassifierLabelsTheSyntheticRuns` checks the real one on these runs.
    static func pinnedReport(_ run: Run) -> DiagnosisReport {
        let d: Diagnosis
        switch run.info?.runID {
        case "overfit":
            d = Diagnosis(label: .overfitting, sinceEpoch: 12, confidence: 0.95, epochs: run.epochs.count,
                          evidence: ["val_loss 0.689 is 42% above its best 0.485 at epoch 9 while train loss fell 77%",
                                     "no new best val_loss for 11 epochs"],
                          suggestions: [
                              Suggestion(id: "early_stopping", text: "EarlyStopping(monitor=\"val_loss\", patience=2, restore_best_weights=True): stop now and keep the epoch 9 weights", action: .stopJob),
                              Suggestion(id: "dropout", text: "add Dropout(0.5) in the head"),
                          ])
        case "diverge":
            d = Diagnosis(label: .diverging, sinceEpoch: 4, confidence: 0.99, epochs: run.epochs.count,
                          evidence: ["loss is not a number (NaN/Inf) since epoch 7"],
                          suggestions: [Suggestion(id: "lower_lr", text: "lower the learning rate 10×: 0.001 → 0.0001")])
        default:
            d = Diagnosis(label: .tooEarly, sinceEpoch: 0, confidence: 0, epochs: run.epochs.count,
                          evidence: ["no epochs yet"], suggestions: [])
        }
        return DiagnosisReport(current: d, history: [])
    }

    /// Feeds keys through the reducer, collecting effects.
    static func press(_ state: AppState, _ keys: [Key]) -> (AppState, [Effect]) {
        var s = state
        var all: [Effect] = []
        for k in keys {
            let (next, effects) = reduce(s, .key(k))
            s = next
            all += effects
        }
        return (s, all)
    }

    static func type(_ text: String) -> [Key] { text.map { Key.char($0) } }
}

/// Compares a whole rendered screen with `Snapshots/<name>.txt`; FINETOP_RECORD=1 re-records
/// (and fails, so a recording never passes by accident).
func assertSnapshot(_ name: String, _ state: AppState, sourceLocation: SourceLocation = #_sourceLocation) {
    let text = render(state).lines.map { "\"" + $0 + "\"" }.joined(separator: "\n") + "\n"
    compareSnapshot(text, file: name + ".txt", what: "snapshot \(name)", sourceLocation: sourceLocation)
}

/// The one comparison of a snapshot text with its file under `Snapshots/` (text and style
/// snapshots alike): FINETOP_RECORD=1 or a missing file records it and fails; a difference fails
/// with the first rows that differ.
func compareSnapshot(_ text: String, file: String, what: String, sourceLocation: SourceLocation) {
    let path = TestRuns.snapshotsDir + "/" + file
    let recording = ProcessInfo.processInfo.environment["FINETOP_RECORD"] == "1"
    guard !recording, let old = try? String(contentsOfFile: path, encoding: .utf8) else {
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        Issue.record("recorded \(what); run again without FINETOP_RECORD", sourceLocation: sourceLocation)
        return
    }
    if old == text { return }
    let a = old.split(separator: "\n", omittingEmptySubsequences: false)
    let b = text.split(separator: "\n", omittingEmptySubsequences: false)
    var diff: [String] = []
    for i in 0..<max(a.count, b.count) {
        let x = i < a.count ? String(a[i]) : "<none>"
        let y = i < b.count ? String(b[i]) : "<none>"
        if x != y { diff.append("row \(i):\n  want \(x)\n  got  \(y)") }
    }
    let message = "\(what) differs (FINETOP_RECORD=1 re-records):\n" + diff.prefix(8).joined(separator: "\n")
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
}

extension TestRuns {
    /// A BERT classifier's layer rows as finetop's PyTorch helper writes them (real names from
    /// transformers' BertForSequenceClassification, 12 layers; the encoder frozen, the head trainable).
    /// Made by `finetop.torch.model_layers` on a model built from a BertConfig (no weights needed).
    static func bert() -> Run { bertRun }

    private static let bertRun: Run = {
        var run = Run(format: .runDirectory)
        run.info = RunInfo(framework: "pytorch", frameworkVersion: "2.9", runID: "bert-sst2", started: 1_763_900_000,
                           hparams: HParams(optimizer: "adamw", learningRate: 2e-5, batchSize: 32, epochs: 3))
        let url = URL(fileURLWithPath: snapshotsDir + "/bert_tiny_layers.json")
        let rows = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [[String: Any]] ?? []
        run.model = LayerTable(revision: 0, layers: rows.map { r in
            Layer(name: r["name"] as? String ?? "?", className: r["class"] as? String ?? "?",
                  params: r["params"] as? Int ?? 0, trainableParams: r["trainable_params"] as? Int ?? 0,
                  trainable: r["trainable"] as? Bool ?? false, depth: 0)
        })
        // A loss that barely moves: the y-axis range is small (labels must still differ).
        for e in 0..<3 {
            run.epochs.append(EpochRecord(epoch: e, values: ["loss": 1.389 - 0.004 * Double(e), "val_loss": 1.391 - 0.002 * Double(e)]))
        }
        return run
    }()

    /// 100,000 layers named like a big decoder's (`model.layers.N.self_attn.q_proj`).
    static func huge() -> Run { hugeRun }

    private static let hugeRun: Run = {
        var run = Run(format: .runDirectory)
        run.info = info(epochs: 3, id: "huge")
        let parts = [("self_attn.q_proj", "Linear"), ("self_attn.k_proj", "Linear"), ("self_attn.v_proj", "Linear"),
                     ("self_attn.o_proj", "Linear"), ("mlp.gate_proj", "Linear"), ("mlp.up_proj", "Linear"),
                     ("mlp.down_proj", "Linear"), ("input_layernorm", "LlamaRMSNorm")]
        var layers: [Layer] = []
        layers.reserveCapacity(100_000)
        for i in 0..<100_000 {
            let (p, cls) = parts[i % parts.count]
            layers.append(Layer(name: "model.layers.\(i / parts.count).\(p)", className: cls, params: 4096 * 4096,
                                trainableParams: 0, trainable: false, depth: 0))
        }
        run.model = LayerTable(revision: 0, layers: layers)
        return run
    }()
}

/// A row's colors, one letter a cell (`.` default, r g y b m c w k, `a` gray), upper case when
/// bold: a snapshot of the style of the cells that carry meaning.
func colors(_ buf: ScreenBuffer, row y: Int, from x0: Int = 0, count: Int? = nil) -> String {
    let x1 = min(buf.width, x0 + (count ?? buf.width))
    var out = ""
    for x in x0..<x1 {
        let st = buf[x, y].style
        let c: Character
        switch st.fg {
        case .none: c = "."
        case .black: c = "k"
        case .red: c = "r"
        case .green: c = "g"
        case .yellow: c = "y"
        case .blue: c = "b"
        case .magenta: c = "m"
        case .cyan: c = "c"
        case .white: c = "w"
        case .gray: c = "a"
        }
        out.append(st.bold && c != "." ? Character(c.uppercased()) : (st.bold ? "B" : c))
    }
    return out
}

/// A row's attributes, one letter a cell: R reverse, U underline, D dim, `.` none (first that applies).
func attributes(_ buf: ScreenBuffer, row y: Int, from x0: Int = 0, count: Int? = nil) -> String {
    let x1 = min(buf.width, x0 + (count ?? buf.width))
    return String((x0..<x1).map { x -> Character in
        let st = buf[x, y].style
        return st.reverse ? "R" : st.underline ? "U" : st.dim ? "D" : "."
    })
}

/// Draws one widget alone into a blank buffer.
func drawn(width: Int, height: Int, _ draw: (inout ScreenBuffer) -> Void) -> ScreenBuffer {
    var buf = ScreenBuffer(width: width, height: height)
    draw(&buf)
    return buf
}
