import ArgumentParser
import Foundation

/// `finetop init keras|torch|transformers|lightning`: writes a ready example training script (copied from
/// `assets/examples/`, pointed at the helpers in `assets/python/`) and says which lines to add to
/// an existing script.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a ready example training script for a framework, and show the lines to add to your own.",
        discussion: """
            Frameworks: keras (Keras 3, any backend), torch (PyTorch), transformers (Hugging Face Trainer),
            lightning (PyTorch Lightning).
            The script uses finetop's Python helpers from this checkout's assets/python (or install them
            with `pip install assets/python`). Run it with `finetop run -- python train.py`.
            """)

    @Argument(help: "keras, torch, transformers or lightning.") var framework: InitFramework
    @Option(name: [.short, .long], help: "Where to write the script (default: train.py; - prints it).") var output: String = "train.py"
    @Flag(help: "Replace the output file if it exists.") var force = false

    func run() throws {
        let fw = framework
        guard let assets = HelperAssets.locate(example: fw.example) else {
            throw UserError("can't find finetop's assets/ folder (examples and Python helpers) next to this executable "
                + "or its source; set FINETOP_ASSETS to the assets/ folder of a finetop checkout")
        }
        let examplePath = assets + "/examples/" + fw.example
        guard let data = FileManager.default.contents(atPath: examplePath),
              let text = String(data: data, encoding: .utf8) else {
            throw UserError(file: examplePath, "can't be read as UTF-8 text")
        }
        let helpers = assets + "/python"
        let script = HelperAssets.pointAtHelpers(text, helpers: helpers)

        if output == "-" {
            print(script, terminator: "")
            return
        }
        if FileManager.default.fileExists(atPath: output) && !force {
            throw UserError(file: output, "exists; choose another name with --output FILE, or --force to replace it")
        }
        do {
            try Data(script.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw UserError(file: output, "can't be written: \(error.localizedDescription)")
        }
        print(fw.instructions(script: output, helpers: helpers))
    }
}

enum InitFramework: String, CaseIterable, ExpressibleByArgument {
    case keras, torch, transformers, lightning

    static let names = allCases.map(\.rawValue)

    /// Also the other names people use for them (pytorch, hf, tf.keras).
    init?(argument name: String) {
        switch name.lowercased() {
        case "keras", "tf.keras", "tensorflow": self = .keras
        case "torch", "pytorch": self = .torch
        case "transformers", "huggingface", "hf": self = .transformers
        case "lightning", "pytorch-lightning", "pytorch_lightning", "pl": self = .lightning
        default: return nil
        }
    }

    var example: String {
        switch self {
        case .keras: "finetune_keras.py"
        case .torch: "finetune_torch.py"
        case .transformers: "finetune_transformers.py"
        case .lightning: "finetune_lightning.py"
        }
    }

    var what: String {
        switch self {
        case .keras: "the Keras tutorial's fine-tuning in a minute on CPU: a small conv base pre-trained in the script on digits 0-4, then fine-tuned on 5-9 (needs keras, jax or another backend, scikit-learn; the docstring says which layer to unfreeze when)"
        case .torch: "a small CNN fine-tuning on scikit-learn's digits with finetop's PyTorch tracker (needs torch, scikit-learn)"
        case .transformers: "a tiny BERT classifier with the Hugging Face Trainer and finetop's callback (needs torch, transformers, accelerate)"
        case .lightning: "the PyTorch example's CNN as a LightningModule with finetop's callback; `--devices 2` runs it with strategy=\"ddp\" (needs torch, lightning, scikit-learn)"
        }
    }

    /// The lines to add to an existing script: the import, and the callback / tracker line.
    var lines: [String] {
        switch self {
        case .keras:
            [
                "import finetop.keras",
                "history = finetop.keras.fit(model, x, y, epochs=..., validation_data=...)   # instead of model.fit(...)",
            ]
        case .torch:
            [
                "from finetop.torch import Tracker",
                "tracker = Tracker(model, optimizer)        # after creating the optimizer",
            ]
        case .transformers:
            [
                "from finetop.transformers import FinetopTrainerCallback",
                "trainer = Trainer(..., callbacks=[FinetopTrainerCallback()])",
            ]
        case .lightning:
            [
                "from finetop.lightning import FinetopCallback",
                "trainer = pl.Trainer(..., callbacks=[FinetopCallback()])",
            ]
        }
    }

    var note: String {
        switch self {
        case .keras:
            "finetop.keras.fit takes model.fit's arguments and applies the layers you toggle (it recompiles\n"
                + "between epochs). For logging only: model.fit(..., callbacks=[finetop.keras.FinetopCallback()])."
        case .torch:
            "In your loop: `if tracker.batch(loss=loss.item()): break` after optimizer.step(), then\n"
                + "`if tracker.epoch(loss=..., val_loss=..., accuracy=...): break` per epoch, and tracker.end() at the end."
        case .transformers:
            "Set eval_strategy=\"epoch\" for validation curves and logging_steps (e.g. 10) for batch curves."
        case .lightning:
            "Log \"train_loss\"/\"val_loss\" (and accuracies) with self.log(..., on_epoch=True); the callback adds the\n"
                + "layers you unfreeze to the first optimizer and its schedulers, and works under strategy=\"ddp\"."
        }
    }

    func instructions(script: String, helpers: String) -> String {
        let quoted = script.contains(" ") ? "'\(script)'" : script
        return """
            Wrote \(script): \(what).

            Run it and watch it:
                finetop run -- python \(quoted)

            To use finetop in an existing script, add:
                \(lines[0])
                \(lines[1])
            \(note.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

            The helpers are in \(helpers): `pip install \(helpers)`, or
            `export PYTHONPATH=\(helpers)` (the written script finds them by itself).
            """
    }
}

enum HelperAssets {
    /// The `assets` folder: `$FINETOP_ASSETS`, else next to the executable (a build inside the
    /// checkout, `.build/<triple>/debug/finetop`, or an install with `share/finetop/assets`),
    /// else the checkout this file was compiled from.
    static func locate(example: String) -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["FINETOP_ASSETS"], !env.isEmpty {
            candidates.append(env)
        }
        let exe = URL(fileURLWithPath: executablePath()).resolvingSymlinksInPath().deletingLastPathComponent()
        var dir = exe
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("assets").path)
            candidates.append(dir.appendingPathComponent("share/finetop/assets").path)
            dir.deleteLastPathComponent()
        }
        var source = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { source.deleteLastPathComponent() }
        candidates.append(source.appendingPathComponent("assets").path)
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/examples/" + example) }
            .map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }

    static func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return CommandLine.arguments.first ?? "."
    }

    /// Replaces the example's `_HELPERS = …` line (which finds assets/python relative to the
    /// example) by the absolute helpers path, and its `_HERE = …` line (the examples folder, for an
    /// example that imports another, as the Lightning one imports the PyTorch one's model) by the
    /// absolute examples path, so the written script works wherever it is.
    static func pointAtHelpers(_ text: String, helpers: String) -> String {
        let examples = URL(fileURLWithPath: helpers).deletingLastPathComponent().appendingPathComponent("examples").path
        func literal(_ path: String) -> String {
            "\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = text.components(separatedBy: "\n")
        if let i = lines.firstIndex(where: { $0.hasPrefix("_HELPERS = ") }) {
            lines[i] = "_HELPERS = \(literal(helpers))  # finetop's Python helpers (written by `finetop init`)"
        }
        if let i = lines.firstIndex(where: { $0.hasPrefix("_HERE = ") }) {
            lines[i] = "_HERE = \(literal(examples))  # finetop's examples (written by `finetop init`)"
        }
        return lines.joined(separator: "\n")
    }
}
