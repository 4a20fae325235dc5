import Foundation
import Testing
@testable import FinetopCore

@Suite struct ImporterTests {
    @Test func kerasCSVLoggerFileBecomesEpochRecords() throws {
        let run = try RunLoader.load(path: Fixture.path("keras_csvlogger_example.csv"))
        #expect(run.format == .kerasCSV)
        #expect(run.epochs.count == 12)
        #expect(run.epochs.first?.epoch == 0)
        #expect(run.epochs.first?.loss == 2.21195387840271)
        #expect(run.epochs.first?.valLoss == 1.9746322631835938)
        #expect(run.epochs.last?.values["val_accuracy"] == 0.8888888955116272)
        #expect(run.metricNames == ["loss", "accuracy"])
        #expect(run.skippedLines == 0)
    }

    @Test func kerasHistoryJSONMatchesTheCSVOfTheSameRun() throws {
        let csv = try RunLoader.load(path: Fixture.path("keras_csvlogger_example.csv"))
        let history = try RunLoader.load(path: Fixture.path("keras_history_example.json"))
        #expect(history.format == .kerasHistory)
        #expect(history.epochs.map(\.values) == csv.epochs.map(\.values))
        #expect(history.info?.hparams.epochs == 12)
    }

    @Test func bareHistoryDictIsRead() throws {
        let dir = makeTempDir("hist")
        try #"{"loss": [1.0, 0.5, NaN], "val_loss": [1.1, 0.7, 0.9]}"#.write(toFile: dir + "/h.json", atomically: true, encoding: .utf8)
        let run = try RunLoader.load(path: dir + "/h.json")
        #expect(run.epochs.count == 3)
        #expect(run.epochs[2].loss?.isNaN == true)
        #expect(run.epochs[2].valLoss == 0.9)
    }

    @Test func trainerStateMapsEvaluationsToRecords() throws {
        let run = try RunLoader.load(path: Fixture.path("hf_output"))
        #expect(run.format == .huggingFaceTrainerState)
        #expect(run.epochs.count == 4)
        #expect(run.epochs.map(\.valLoss) == [0.391, 0.342, 0.351, 0.389])
        #expect(run.epochs.map { $0.values["val_accuracy"] } == [0.842, 0.871, 0.879, 0.874])
        #expect(run.epochs.map(\.step) == [125, 250, 375, 500])
        #expect(run.epochs.allSatisfy { $0.values["val_runtime"] == nil })
        // Train loss of an evaluation = mean of the losses logged since the previous one (5 per epoch).
        #expect(run.batches.count == 20)
        let firstFive = run.batches.loss.prefix(5).reduce(0, +) / 5
        #expect(abs((run.epochs[0].loss ?? 0) - firstFive) < 1e-12)
        #expect(run.info?.hparams.epochs == 4)
        #expect(run.info?.hparams.batchSize == 16)
    }

    @Test func trainerStateWithoutEvaluationKeepsEveryLoggedLoss() throws {
        let dir = makeTempDir("hf")
        let state = #"{"log_history": [{"epoch": 0.5, "loss": 1.0, "step": 5}, {"epoch": 1.0, "loss": 0.8, "step": 10}, {"epoch": 1.5, "loss": 0.6, "step": 15}, {"epoch": 2.0, "loss": 0.4, "step": 20}], "num_train_epochs": 2}"#
        try state.write(toFile: dir + "/trainer_state.json", atomically: true, encoding: .utf8)
        let run = try RunLoader.load(path: dir)
        // Each logged loss is a point of the curve (the public corpus labels them so).
        #expect(run.epochs.map(\.epoch) == [0, 1, 2, 3])
        #expect(run.epochs.map(\.loss) == [1.0, 0.8, 0.6, 0.4])
        #expect(run.epochs.map(\.step) == [5, 10, 15, 20])
        #expect(run.hasValidation == false)
    }

    @Test func lightningMetricsCSVJoinsTrainAndValidationRows() throws {
        let run = try RunLoader.load(path: Fixture.path("lightning_logs"))
        #expect(run.format == .lightningCSV)
        #expect(run.epochs.count == 5)
        #expect(run.epochs.map(\.valLoss) == [1.05, 0.82, 0.70, 0.66, 0.69])
        // train_loss_epoch wins over the mean of train_loss_step.
        #expect(abs((run.epochs[0].loss ?? 0) - (1.2 * exp(-0.08) + 0.1)) < 1e-9)
        #expect(run.epochs[0].values["acc"] != nil)
        #expect(run.epochs[0].values["val_acc"] != nil)
        #expect(run.batches.count == 20)
    }

    @Test func olderLightningLayoutWithPerStepLossOnly() throws {
        let run = try RunLoader.load(path: Fixture.path("lightning_old_metrics.csv"))
        #expect(run.format == .lightningCSV)
        #expect(run.epochs.map(\.valLoss) == [0.8, 0.6, 0.55])
        #expect(abs((run.epochs[0].loss ?? 0) - 0.875) < 1e-12)
    }

    @Test func lightningColumnNamesMapOntoTrainAndValidation() {
        #expect(LightningCSVLog.name("train_loss_step") == .step("loss"))
        #expect(LightningCSVLog.name("train_loss_epoch") == .epoch("loss"))
        #expect(LightningCSVLog.name("val_loss") == .epoch("val_loss"))
        #expect(LightningCSVLog.name("valid_acc") == .epoch("val_acc"))
        #expect(LightningCSVLog.name("lr-Adam") == .epoch("lr-Adam"))
    }

    @Test func runDirectoryAndEventsFileAcceptControlOthersDoNot() throws {
        let dir = makeTempDir("rd")
        _ = try RunWriter(directory: dir)
        #expect(try RunLoader.resolve(path: dir).runDirectory == dir)
        #expect(try RunLoader.resolve(path: dir + "/events.jsonl").runDirectory == dir)
        #expect(try RunLoader.resolve(path: Fixture.path("keras_csvlogger_example.csv")).runDirectory == nil)
    }

    @Test func csvWithSemicolonsQuotesAndCRLF() throws {
        let dir = makeTempDir("csv")
        try "\u{FEFF}epoch;loss;val_loss;note\r\n0;1.0;1.2;\"a;b\"\r\n1;nan;inf;\"x\"\"y\"\r\n".write(toFile: dir + "/log.csv", atomically: true, encoding: .utf8)
        let run = try RunLoader.load(path: dir + "/log.csv")
        #expect(run.epochs.count == 2)
        #expect(run.epochs[1].loss?.isNaN == true)
        #expect(run.epochs[1].valLoss == .infinity)
    }

    @Test func unreadableInputsGiveOneClearLine() throws {
        let dir = makeTempDir("bad")
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }
        FileManager.default.createFile(atPath: dir + "/blob.bin", contents: Data(bytes))
        try "hello world\nthis is prose\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let cases = [
            (dir + "/missing", "no such file"),
            (dir + "/blob.bin", "binary"),
            (dir + "/notes.txt", "not a format finetop reads"),
            (makeTempDir("empty"), "holds nothing finetop can read"),
        ]
        for (path, reason) in cases {
            do {
                _ = try RunLoader.load(path: path)
                Issue.record("accepted \(path)")
            } catch {
                #expect(error.description.contains(reason), "\(error.description)")
                #expect(!error.description.contains("\n"))
            }
        }
    }
}
