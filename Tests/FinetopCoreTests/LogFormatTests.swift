import Foundation
import Testing
@testable import FinetopCore
import FinetopTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The formats of `LogFormats.all`, each on files the real library wrote (Fixtures/logs, made by
/// Fixtures/make_log_fixtures.py) and on real public logs (Fixtures/public).
@Suite struct LogFormatTests {
    struct Case: Sendable, CustomStringConvertible {
        let file: String, format: String, epochs: Int, validation: Bool
        var description: String { file }
    }

    static let cases: [Case] = [
        // Keras 3 printed fit(): verbose=1 redirected (\b and \r redraws, ModelCheckpoint lines between), in a terminal, verbose=2.
        Case(file: "logs/keras3_fit_verbose1.log", format: PrintedLog.format.name, epochs: 5, validation: true),
        Case(file: "logs/keras3_fit_verbose1_tty.log", format: PrintedLog.format.name, epochs: 5, validation: true),
        Case(file: "logs/keras3_fit_verbose2.log", format: PrintedLog.format.name, epochs: 6, validation: true),
        // fit() then fit(initial_epoch=history.epoch[-1]): epochs 1-3 then 3-6, one run of 6 epochs.
        Case(file: "logs/keras3_fit_finetune.log", format: PrintedLog.format.name, epochs: 6, validation: true),
        // Keras 2 layouts (keras/utils/generic_utils.py Progbar, rendered by make_log_fixtures.py keras2_fixtures).
        Case(file: "logs/keras2_fit_verbose1.log", format: PrintedLog.format.name, epochs: 6, validation: true),
        Case(file: "logs/keras2_fit_verbose2.log", format: PrintedLog.format.name, epochs: 6, validation: true),
        Case(file: "logs/keras2_2_fit_verbose2.log", format: PrintedLog.format.name, epochs: 6, validation: true),
        Case(file: "logs/keras3_notebook.ipynb", format: NotebookLog.format.name, epochs: 5, validation: true),
        Case(file: "logs/keras3_history_pandas.csv", format: PandasHistoryCSVLog.format.name, epochs: 7, validation: true),
        Case(file: "logs/keras3_history_pandas_noindex.csv", format: PandasHistoryCSVLog.format.name, epochs: 7, validation: true),
        Case(file: "logs/keras3_csvlogger_noval.csv", format: KerasCSVLog.format.name, epochs: 4, validation: false),
        Case(file: "logs/keras3_csvlogger_three_runs.csv", format: KerasCSVLog.format.name, epochs: 2, validation: true),
        Case(file: "logs/hf_trainer_eval_stdout.log", format: PrintedLog.format.name, epochs: 3, validation: true),
        Case(file: "logs/hf_trainer_noeval_stdout.log", format: PrintedLog.format.name, epochs: 7, validation: false),
        Case(file: "logs/hf_trainer_state_eval.json", format: TrainerStateLog.format.name, epochs: 3, validation: true),
        Case(file: "logs/hf_trainer_state_noeval.json", format: TrainerStateLog.format.name, epochs: 7, validation: false),
        Case(file: "logs/hf_notebook_progress.ipynb", format: NotebookLog.format.name, epochs: 3, validation: true),
        // fastai fine_tune with CSVLogger(append=True): two fits, two headers; the last fit (3 epochs) is shown.
        Case(file: "logs/fastai_history.csv", format: FastaiCSVLog.format.name, epochs: 3, validation: true),
        Case(file: "logs/yolo_results.csv", format: UltralyticsCSVLog.format.name, epochs: 6, validation: true),
        Case(file: "logs/yolo8_0_results.csv", format: UltralyticsCSVLog.format.name, epochs: 6, validation: true),
        Case(file: "logs/lightning_custom_metrics.csv", format: LightningCSVLog.format.name, epochs: 4, validation: true),
        Case(file: "logs/lightning_valonly_metrics.csv", format: LightningCSVLog.format.name, epochs: 4, validation: true),
        Case(file: "logs/lightning_custom_stdout.log", format: PrintedLog.format.name, epochs: 4, validation: true),
    ]

    @Test(arguments: cases) func realFileIsRecognizedFromItsContentAndRead(_ c: Case) throws {
        let path = Fixture.path(c.file)
        let run = try RunLoader.load(path: path)
        #expect(run.format.name == c.format)
        #expect(run.format.acceptsControl == false)
        #expect(run.epochs.count == c.epochs)
        #expect(run.hasValidation == c.validation)
        #expect(run.epochs.allSatisfy { $0.loss != nil || $0.valLoss != nil })
        // Content decides, not the name: the same bytes under a neutral name read the same.
        let dir = makeTempDir("renamed")
        try FileManager.default.copyItem(atPath: path, toPath: dir + "/renamed")
        let again = try RunLoader.load(path: dir + "/renamed")
        #expect(again.format.name == c.format)
        #expect(again.epochs.count == c.epochs)
    }

    /// One Keras run (same seed) seen through four writers: printed verbose=2, pandas dump,
    /// CSVLogger (first of its runs) and the printed Keras 2 layout give the same numbers.
    @Test func oneKerasRunReadsTheSameFromEveryWriter() throws {
        let printed = try RunLoader.load(path: Fixture.path("logs/keras3_fit_verbose2.log"))
        let pandas = try RunLoader.load(path: Fixture.path("logs/keras3_history_pandas.csv"))
        let csv = try RunLoader.load(path: Fixture.path("logs/keras3_csvlogger_three_runs.csv"), options: ReadOptions(run: 1))
        for k in 0..<3 {
            for name in ["loss", "val_loss", "accuracy", "val_accuracy"] {
                let p = try #require(printed.epochs[k].values[name])
                #expect(abs(p - (pandas.epochs[k].values[name] ?? .nan)) < 6e-5, "\(name) epoch \(k)")
                #expect(abs(p - (csv.epochs[k].values[name] ?? .nan)) < 6e-5, "\(name) epoch \(k)")
            }
        }
        // verbose=1's finished line carries the validation values the checkpoint messages name.
        let v1 = try RunLoader.load(path: Fixture.path("logs/keras3_fit_verbose1.log"))
        #expect(v1.epochs.map(\.epoch) == [0, 1, 2, 3, 4])
        #expect(v1.epochs[0].valLoss == 2.2081)   // "Epoch 1: val_loss improved from None to 2.20807"
        #expect(v1.epochs[4].valLoss == 1.3896)   // "… from 1.59776 to 1.38958"
        #expect(v1.batches.count > 0)
        #expect(v1.info?.hparams.epochs == 5)
    }

    /// Lightning's progress bar on stdout and its CSVLogger file of the same run agree (the bar
    /// rounds to 3 digits); the validation-only CSV has the same validation values.
    @Test func lightningBarAndMetricsCSVOfOneRunAgree() throws {
        let bar = try RunLoader.load(path: Fixture.path("logs/lightning_custom_stdout.log"))
        let csv = try RunLoader.load(path: Fixture.path("logs/lightning_custom_metrics.csv"))
        #expect(bar.epochs.map(\.epoch) == [0, 1, 2, 3])
        for (b, c) in zip(bar.epochs, csv.epochs) {
            #expect(abs((b.valLoss ?? .nan) - (c.valLoss ?? .nan)) < 6e-4)
            #expect(abs((b.loss ?? .nan) - (c.loss ?? .nan)) < 6e-4)
            #expect(abs((b.values["val_acc"] ?? .nan) - (c.values["val_acc"] ?? .nan)) < 6e-4)
        }
        #expect(csv.epochs[0].values["my_weight_norm"] != nil)   // a custom column is kept
        let valOnly = try RunLoader.load(path: Fixture.path("logs/lightning_valonly_metrics.csv"))
        #expect(valOnly.epochs.allSatisfy { $0.loss == nil && $0.valLoss != nil })
    }

    @Test func severalRunsInOneCSVLoggerFileShowTheLastOrTheOneAskedFor() throws {
        let path = Fixture.path("logs/keras3_csvlogger_three_runs.csv")
        let last = try RunLoader.load(path: path)
        #expect(last.runsInFile == 3)
        #expect(last.runNumber == 3)
        #expect(last.epochs.map(\.epoch) == [0, 1])
        #expect(try RunLoader.load(path: path, options: ReadOptions(run: 1)).epochs.count == 3)
        #expect(try RunLoader.load(path: path, options: ReadOptions(run: 2)).epochs.count == 4)
        #expect(throws: ReadError.self) { try RunLoader.load(path: path, options: ReadOptions(run: 4)) }
        // Two fit() calls printed to one log: two runs as well.
        let nb = try RunLoader.load(path: Fixture.path("logs/keras3_notebook.ipynb"), options: ReadOptions(run: 1))
        #expect(nb.runsInFile == 2)
        #expect(nb.epochs.count == 6)
    }

    @Test func printedLogGrowingInPiecesReadsAsTheWholeFile() throws {
        for name in ["logs/keras3_fit_verbose1.log", "logs/keras2_fit_verbose1.log", "logs/hf_trainer_eval_stdout.log"] {
            let whole = try RunLoader.load(path: Fixture.path(name))
            let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixture.path(name)))
            let dir = makeTempDir("grow")
            let path = dir + "/train.log"
            _ = FileManager.default.createFile(atPath: path, contents: Data())
            let source = LineFollower<PrintedLog.Parser>(path: path, format: PrintedLog.format, options: ReadOptions())
            var rng = SystemRandomNumberGenerator()
            var at = 0
            var sawPartial = false
            while at < bytes.count {
                let n = min(bytes.count - at, Int.random(in: 1...700, using: &rng))
                let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                h.seekToEndOfFile()
                h.write(bytes.subdata(in: at..<at + n))
                h.closeFile()
                at += n
                _ = try source.poll()
                if source.run.epochs.count > 0 && source.run.epochs.count < whole.epochs.count { sawPartial = true }
            }
            #expect(sawPartial, "\(name): epochs appeared while it grew")
            #expect(source.run.epochs == whole.epochs, "\(name)")
        }
    }

    @Test func lightningMetricsCSVGrowingAndRewrittenWithANewColumn() throws {
        let dir = makeTempDir("pl")
        let path = dir + "/metrics.csv"
        try "epoch,step,train_loss,val_loss\n0,1,0.9,\n".write(toFile: path, atomically: false, encoding: .utf8)
        let source = try RunSource(path: path)
        try source.poll()
        #expect(source.format == .lightningCSV)
        #expect(source.run.epochs.count == 1)
        append("0,1,,0.8\n1,3,0.7,\n", to: path)
        #expect(try source.poll())
        #expect(source.run.epochs.map(\.valLoss) == [0.8, nil])
        // Lightning rewrites the file in place when a name appears: the reader starts over.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        h.write("epoch,step,train_loss,val_acc,val_loss\n0,1,0.9,,\n0,1,,0.5,0.8\n1,3,0.7,,\n1,3,,0.6,0.75\n".data(using: .utf8)!)
        h.closeFile()
        #expect(try source.poll())
        #expect(source.run.epochs.map(\.valLoss) == [0.8, 0.75])
        #expect(source.run.epochs[1].values["val_acc"] == 0.6)
    }

    @Test func publicLogsAllOpenWithTheirEpochs() throws {
        // The copies here, every file of the diagnosis's public corpus in this checkout (185 real
        // logs from public repositories), and FINETOP_PUBLIC_LOGS when it names another folder.
        var dirs = [Fixture.path("public")]
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FinetopDiagnosisTests/Corpus/public/raw").path
        if FileManager.default.fileExists(atPath: corpus) { dirs.append(corpus) }
        if let extra = ProcessInfo.processInfo.environment["FINETOP_PUBLIC_LOGS"] { dirs.append(extra) }
        var opened = 0
        for dir in dirs {
            let manifestPath = [dir + "/manifest.json", dir + "/../manifest.json"].first { FileManager.default.fileExists(atPath: $0) }
            var expected: [String: Int] = [:]
            if let manifestPath, let data = FileManager.default.contents(atPath: manifestPath),
               let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
                for e in entries { if let id = e["id"] as? String, let n = e["epochs"] as? Int { expected[id] = n } }
            }
            for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            where !name.hasSuffix(".md") && name != "manifest.json" {
                let run: Run
                do { run = try RunLoader.load(path: dir + "/" + name) } catch {
                    Issue.record("\(name): \(error)")
                    continue
                }
                opened += 1
                guard let want = expected[String(name.prefix { $0 != "_" })] else { continue }
                // A file of several runs: the manifest names one of them.
                let counts = try (1...run.runsInFile).map {
                    try RunLoader.load(path: dir + "/" + name, options: ReadOptions(run: $0)).epochs.count
                }
                #expect(counts.contains(want), "\(name): \(counts) epochs, manifest says \(want)")
            }
        }
        #expect(opened >= 12 + (FileManager.default.fileExists(atPath: corpus) ? 185 : 0))
    }

    @Test func everyRegisteredFormatIsTriedAndNamedInTheError() throws {
        let dir = makeTempDir("prose")
        try "hello\nthis is prose\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        do {
            _ = try RunLoader.load(path: dir + "/notes.txt")
            Issue.record("prose accepted")
        } catch {
            for format in LogFormats.all { #expect(error.problem.contains(format.format.name)) }
        }
    }
}

/// Special files in run directories (issue 10 item 9, reading side): regular files only, opened
/// without blocking, links planted inside a run directory never followed; a clear message, no
/// hang and no spin.
@Suite struct SpecialFileTests {
    /// Runs `body` and fails if it takes more than `seconds` (a blocking open would hang the test).
    func quickly(_ seconds: Double = 5, _ body: () throws -> Void) rethrows {
        let start = Date()
        try body()
        #expect(Date().timeIntervalSince(start) < seconds)
    }

    func expectRefused(_ path: String, _ words: String) {
        let start = Date()
        do {
            _ = try RunLoader.load(path: path)
            Issue.record("read \(path)")
        } catch {
            #expect(error.problem.contains(words), "\(error.problem)")
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func eventsJSONLLinkedToDevZeroIsRefusedNotSpun() throws {
        let dir = makeTempDir("zero")
        try FileManager.default.createSymbolicLink(atPath: dir + "/events.jsonl", withDestinationPath: "/dev/zero")
        expectRefused(dir, "symbolic link")
        // Named directly, the link is the user's choice, but /dev/zero is no log.
        expectRefused(dir + "/events.jsonl", "a device")
        // The dashboard's reader says the same.
        let reader = RunDirectoryReader(directory: dir)
        quickly { #expect(throws: ReadError.self) { try reader.poll() } }
    }

    @Test func fifoAsEventsJSONLOrCSVOrEventFileNeverBlocks() throws {
        let dir = makeTempDir("fifo")
        #expect(mkfifo(dir + "/events.jsonl", 0o600) == 0)
        expectRefused(dir, "FIFO")
        expectRefused(dir + "/events.jsonl", "FIFO")
        let other = makeTempDir("fifo2")
        #expect(mkfifo(other + "/log.csv", 0o600) == 0)
        expectRefused(other + "/log.csv", "FIFO")
        let tb = makeTempDir("tbfifo")
        #expect(mkfifo(tb + "/events.out.tfevents.1.host", 0o600) == 0)
        quickly {
            // A logdir whose only event file is a FIFO: nothing readable, said at once.
            _ = try? RunLoader.load(path: tb)
            _ = try? RunLoader.load(path: tb + "/events.out.tfevents.1.host")
        }
        expectRefused(tb + "/events.out.tfevents.1.host", "FIFO")
        // EventsReader itself: open never blocks on a FIFO.
        let reader = EventsReader(path: dir + "/events.jsonl")
        quickly { #expect(throws: ReadError.self) { try reader.poll() } }
    }

    @Test func linkPlantedAtOutputLogOrInsideALogdirIsNotFollowed() throws {
        let dir = makeTempDir("plant")
        let secret = makeTempDir("secret") + "/train.log"
        try "Epoch 1/2\n3/3 - 0s - loss: 0.5\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/output.log", withDestinationPath: secret)
        let reader = RunDirectoryReader(directory: dir)
        quickly { #expect(throws: ReadError.self) { try reader.poll() } }
        #expect(reader.run.epochs.isEmpty)
        // The directory search skips links too.
        let search = makeTempDir("search")
        try FileManager.default.createSymbolicLink(atPath: search + "/history.csv", withDestinationPath: secret)
        expectRefused(search, "holds nothing finetop can read")
    }

    @Test func deviceNamedDirectlyIsRefused() {
        expectRefused("/dev/null", "a device")
        expectRefused("/dev/zero", "a device")
    }
}

/// A logdir of 1,000+ event files (one per restart or per `add_scalars` run) is read with a
/// bounded number of open files, and a record appended to one of them is picked up.
@Suite struct ManyEventFilesTests {
    static func openFiles() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }

    @Test func thousandEventFilesKeepOpenFilesBounded() throws {
        let dir = makeTempDir("tb1200")
        // A job restarted 1,200 times in one logdir: each run's file continues the steps.
        for k in 0..<1200 {
            var w = TensorBoardEventWriter()
            w.fileVersion(wallTime: 1_763_900_000)
            for step in 0..<3 { w.scalar(tag: "Loss/train", step: Int64(3 * k + step), value: Float(1.0 / Double(k + step + 1)), wallTime: 1_763_900_000) }
            let name = String(format: "events.out.tfevents.%d.host.%d.0", 1_763_900_000 + k, k)
            _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(w.take()))
        }
        let before = Self.openFiles()
        let source = try RunSource(path: dir)
        try source.poll()
        #expect(source.format == .tensorBoard)
        #expect(source.watchedFiles.count == 1200)
        // Tests run side by side in this process: allow them some files, not one per event file.
        #expect(Self.openFiles() - before < 200)
        // Still live: a record appended to the last file arrives on the next poll.
        var w = TensorBoardEventWriter()
        w.scalar(tag: "Loss/train", step: 3600, value: 0.01, wallTime: 1_763_900_001)
        let last = dir + "/" + String(format: "events.out.tfevents.%d.host.%d.0", 1_763_900_000 + 1199, 1199)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: last))
        h.seekToEndOfFile()
        h.write(Data(w.take()))
        h.closeFile()
        #expect(try source.poll())
    }
}
