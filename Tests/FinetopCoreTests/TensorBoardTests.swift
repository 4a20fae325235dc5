import Foundation
import Testing
@testable import FinetopCore
import FinetopTestSupport

/// TensorBoard event files written by real libraries (Fixtures/tensorboard/make_tensorboard.py):
/// Keras's TensorBoard callback, tensorboardX's SummaryWriter, TF2-style tensor_content.
@Suite struct TensorBoardTests {
    static func fixture(_ name: String) -> String { Fixture.path("tensorboard/" + name) }

    static func eventFile(in dir: String) throws -> String {
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.contains("tfevents") })
        return dir + "/" + name
    }

    /// Record ranges of a whole, good file.
    static func records(_ bytes: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        bytes.withUnsafeBytes { buf in
            while case .record(let data, let next) = TFRecordFraming.item(in: buf, at: i) {
                out.append(i..<next)
                _ = data
                i = next
            }
        }
        return out
    }

    @Test func crc32cMatchesTheCastagnoliCheckValue() {
        let check = Array("123456789".utf8).withUnsafeBytes { CRC32C.checksum($0) }
        #expect(check == 0xE306_9283)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var bitwise: UInt32 = 0xFFFF_FFFF
        for b in long {
            bitwise ^= UInt32(b)
            for _ in 0..<8 { bitwise = bitwise & 1 != 0 ? (bitwise >> 1) ^ 0x82F6_3B78 : bitwise >> 1 }
        }
        #expect(long.withUnsafeBytes { CRC32C.checksum($0) } == ~bitwise)
    }

    @Test func framedRecordsReadBack() {
        let framed = TensorBoardEventWriter.frame([1, 2, 3]) + TensorBoardEventWriter.frame([])
        #expect(Self.records(framed).count == 2)
        #expect(framed.count == 16 + 3 + 16)
    }

    @Test func kerasCallbackLogdirBecomesEpochsAndBatches() throws {
        let path = Self.fixture("keras")
        #expect(try RunLoader.resolve(path: path).format == .tensorBoard)
        let run = try RunLoader.load(path: path)
        #expect(run.format == .tensorBoard)
        #expect(run.format.acceptsControl == false)
        #expect(run.info?.framework == "keras")
        #expect(run.skippedLines == 0)
        #expect(run.epochs.map(\.epoch) == [0, 1, 2, 3, 4, 5])
        #expect(run.epochs.map(\.step) == [15, 30, 45, 60, 75, 90])
        #expect(run.epochs.first?.loss == Double(Float(2.3832969665527344)))
        #expect(run.epochs.last?.valLoss == Double(Float(1.8607938289642334)))
        #expect(run.epochs[3].values["accuracy"] == Double(Float(0.36000001430511475)))
        #expect(run.epochs[3].values["val_accuracy"] == Double(Float(0.3933333456516266)))
        #expect(run.epochs[0].values["learning_rate"] == Double(Float(0.001)))
        #expect(run.metricNames == ["loss", "accuracy", "learning_rate"])
        // batch_loss every 5th batch (update_freq=5), 15 batches per epoch.
        #expect(run.batches.steps == stride(from: 5, through: 90, by: 5).map(Int64.init))
        #expect(run.batches.loss.first == Double(Float(2.456331729888916)))
        #expect(Array(run.batches.epochs.prefix(4)) == [0, 0, 0, 1])
        #expect(run.batches.values(of: "accuracy")?.count == 18)
    }

    @Test func pytorchRunResumedFromCheckpointMergesItsTwoEventFiles() throws {
        let run = try RunLoader.load(path: Self.fixture("pytorch"))
        #expect(run.skippedLines == 0)
        #expect(run.info == nil)
        // Epochs at the global step of each validation; epoch 3 was written twice, the resumed job wins.
        #expect(run.epochs.map(\.epoch) == [0, 1, 2, 3, 4, 5])
        #expect(run.epochs.map(\.step) == [25, 50, 75, 100, 125, 150])
        let written: [Double] = [1.816253423690796, 1.299575924873352, 0.958961009979248,
                                 0.7344138622283936, 0.6063832640647888, 0.5287954807281494]
        let valLoss: [Double?] = written.map { Double(Float($0)) }
        #expect(run.epochs.map(\.valLoss) == valLoss)
        #expect(run.epochs[1].values["accuracy"] == Double(Float(0.6689084768295288)))
        #expect(run.epochs[1].values["learning_rate"] == Double(Float(0.008)))
        #expect(run.epochs.allSatisfy { $0.values["val_accuracy"] != nil })
        // Loss/train is per iteration: batch points, and each epoch's mean.
        #expect(run.batches.steps == (1...150).map(Int64.init))
        #expect(run.batches.loss.allSatisfy { !$0.isNaN })
        #expect(run.batches.epochs[24] == 0 && run.batches.epochs[25] == 1 && run.batches.epochs[149] == 5)
        #expect(run.batches.values(of: "grad_norm")?.count == 150)
        let firstEpochMean = run.batches.loss[0..<25].reduce(0, +) / 25
        #expect(abs((run.epochs[0].loss ?? 0) - firstEpochMean) < 1e-12)
        #expect(run.metricNames == ["loss", "accuracy", "grad_norm", "learning_rate"])
    }

    @Test func pytorchTutorialLogdirWithTestSplitAndAddScalarsDirectories() throws {
        let run = try RunLoader.load(path: Self.fixture("pytorch_epochs"))
        #expect(run.epochs.map(\.epoch) == Array(0..<8))
        #expect(run.epochs[0].loss == Double(Float(1.9)))
        #expect(run.epochs[0].valLoss == Double(Float(2.05)))
        #expect(run.epochs[1].values["accuracy"] == Double(Float(0.65)))
        #expect(run.epochs[1].values["val_accuracy"] == Double(Float(0.59)))
        #expect(run.batches.count == 0)
    }

    @Test func tf2TensorContentScalarsAreRead() throws {
        let file = try Self.eventFile(in: Self.fixture("tensor_content"))
        #expect(try RunLoader.resolve(path: file).format == .tensorBoard)
        let run = try RunLoader.load(path: file)
        let loss: [Double?] = (0..<5).map { Double(Float(1.0 / Double($0 + 1))) }
        #expect(run.epochs.map(\.loss) == loss)
        let mae: [Double?] = (0..<5).map { 0.5 + Double($0) / 100 }
        #expect(run.epochs.map { $0.values["mae"] } == mae)
    }

    @Test func corruptRecordsAreSkippedAndCountedTruncatedLastOneWaits() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.eventFile(in: Self.fixture("pytorch_epochs")))))
        let records = Self.records(original)
        #expect(records.count == 17)   // file_version + 8 × (Loss/train, Loss/test)
        var bytes = original
        bytes[records[3].lowerBound + 20] ^= 0x40                  // a byte of epoch 1's Loss/train
        bytes[records[6].lowerBound + 2] ^= 0x01                   // the length of epoch 2's Loss/test
        let dir = makeTempDir("tb-corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/events.out.tfevents.1763900000.finetop.1.0"
        FileManager.default.createFile(atPath: file, contents: Data(bytes.dropLast(3)))
        let source = try RunSource(path: dir)
        try source.poll()
        #expect(source.format == .tensorBoard)
        #expect(source.run.skippedLines == 2)
        #expect(source.run.lastSkipReason?.contains("checksum") == true)
        #expect(source.run.epochs[1].loss == nil && source.run.epochs[1].valLoss != nil)
        #expect(source.run.epochs[2].valLoss == nil && source.run.epochs[2].loss != nil)
        // The last record (epoch 7's Loss/test) is not whole yet: held back, not counted.
        #expect(source.run.epochs[7].valLoss == nil && source.run.epochs[7].loss != nil)
        append(bytes: Array(bytes.suffix(3)), to: file)
        #expect(try source.poll())
        #expect(abs((source.run.epochs[7].valLoss ?? 0) - (1.8 * exp(-3.5) + 0.25 + 0.04 * 3)) < 1e-6)
        #expect(source.run.skippedLines == 2)
        #expect(try source.poll() == false)
    }

    @Test func liveLogdirPicksUpAppendedRecordsAndNewEventFiles() throws {
        let train = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.eventFile(in: Self.fixture("keras/train")))))
        let validation = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.eventFile(in: Self.fixture("keras/validation")))))
        let dir = makeTempDir("tb-live")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/train", withIntermediateDirectories: true)
        let trainFile = dir + "/train/events.out.tfevents.1763900001.finetop.1.0.v2"
        let records = Self.records(train)
        let cut = records[records.count / 2].lowerBound + 5   // in the middle of a record
        append(bytes: Array(train[..<cut]), to: trainFile)
        let source = try RunSource(path: dir)
        #expect(source.format == .tensorBoard)
        try source.poll()
        let epochsFirst = source.run.epochs.count
        let batchesFirst = source.run.batches.count
        #expect(epochsFirst > 0 && epochsFirst < 6)
        #expect(source.run.hasValidation == false)
        // Without validation, each epoch ends at the last batch logged before its epoch_* values.
        #expect(source.run.epochs.map(\.step) == Array([15, 30, 45, 60, 75, 90].prefix(epochsFirst)))
        #expect(Array(source.run.batches.epochs.prefix(4)) == [0, 0, 0, 1])
        #expect(try source.poll() == false)
        append(bytes: Array(train[cut...]), to: trainFile)
        #expect(try source.poll())
        #expect(source.run.epochs.count == 6)
        #expect(source.run.batches.count > batchesFirst)
        #expect(source.run.skippedLines == 0)
        // Keras opens validation/ at the first evaluation: a new event file in a new sub-directory.
        try FileManager.default.createDirectory(atPath: dir + "/validation", withIntermediateDirectories: true)
        append(bytes: validation, to: dir + "/validation/events.out.tfevents.1763900002.finetop.1.0.v2")
        #expect(try source.poll())
        #expect(source.run.hasValidation)
        #expect(source.run.epochs.map(\.step) == [15, 30, 45, 60, 75, 90])
        #expect(source.watchedFiles.count == 2)
        #expect(source.run == (try RunLoader.load(path: Self.fixture("keras"))))
    }

    @Test func replacedEventFileIsReadAgainFromTheStart() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try Self.eventFile(in: Self.fixture("pytorch_epochs")))))
        let dir = makeTempDir("tb-replace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/events.out.tfevents.1763900000.finetop.1.0"
        append(bytes: bytes, to: file)
        let source = try RunSource(path: dir)
        try source.poll()
        #expect(source.run.epochs.count == 8)
        let records = Self.records(bytes)
        try? FileManager.default.removeItem(atPath: file)
        append(bytes: Array(bytes[..<records[4].upperBound]), to: file)   // epochs 0 and 1 only
        #expect(try source.poll())
        #expect(source.run.epochs.count == 2)
    }

    @Test func logdirsAreFoundInsideKerasTutorialLayout() throws {
        let root = makeTempDir("tb-find")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (k, run) in ["fit/20260101-100000", "fit/20260102-100000"].enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/" + run + "/train", withIntermediateDirectories: true)
            let file = root + "/" + run + "/train/events.out.tfevents.1.h.1.0.v2"
            FileManager.default.createFile(atPath: file, contents: Data())
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: Double(k * 60 - 600))], ofItemAtPath: file)
        }
        let resolved = try RunLoader.resolve(path: root)
        #expect(resolved.format == .tensorBoard)
        #expect(resolved.file == root + "/fit/20260102-100000")
        #expect(resolved.runDirectory == nil)
        let run = try RunLoader.load(path: root)
        #expect(run.epochs.isEmpty && run.skippedLines == 0)
    }

    @Test(arguments: [
        ("train", "epoch_loss", "loss", TensorBoardMapping.Level.epoch),
        ("validation", "epoch_loss", "val_loss", .epoch),
        ("validation", "epoch_accuracy", "val_accuracy", .epoch),
        ("train", "epoch_learning_rate", "learning_rate", .epoch),
        ("train", "batch_loss", "loss", .step),
        ("", "Loss/train", "loss", .unknown),
        ("", "Loss/val", "val_loss", .unknown),
        ("", "loss/validation", "val_loss", .unknown),
        ("", "Loss/test", "val_loss", .unknown),
        ("", "accuracy/train", "accuracy", .unknown),
        ("", "train_loss", "loss", .unknown),
        ("", "val_loss", "val_loss", .unknown),
        ("", "valid_acc", "val_accuracy", .unknown),
        ("", "train/loss", "loss", .unknown),
        ("", "eval/loss", "val_loss", .unknown),
        ("", "train_loss_step", "loss", .step),
        ("", "train_loss_epoch", "loss", .epoch),
        ("", "Loss/iter", "loss", .step),
        ("", "lr", "learning_rate", .unknown),
        ("", "grad_norm", "grad_norm", .unknown),
        ("Accuracy_test", "Accuracy", "val_accuracy", .unknown),
        ("Accuracy/train", "Accuracy", "accuracy", .unknown),
    ])
    func tagSpellingsMapOntoTrainAndValidationNames(run: String, tag: String, key: String, level: TensorBoardMapping.Level) {
        let m = TensorBoardMapping.meaning(run: run, tag: tag)
        #expect(m.key == key)
        #expect(m.level == level)
    }

    @Test func counterTagsAreNotMetrics() {
        #expect(TensorBoardMapping.meaning(run: "", tag: "epoch").role == .epochCounter)
        #expect(TensorBoardMapping.meaning(run: "", tag: "train/epoch").role == .epochCounter)
        #expect(TensorBoardMapping.meaning(run: "validation", tag: "evaluation_loss_vs_iterations").role == .iterationsAtEpochEnd)
    }

    @Test func stepRegressionReplacesOrphanedPoints() {
        var s = TensorBoardScalars.Series(run: "", tag: "loss")
        for step in [1, 2, 3, 4] { s.add(step: Int64(step), value: Double(step)) }
        s.add(step: 3, value: 30)
        #expect(s.steps == [1, 2, 3])
        #expect(s.values == [1, 2, 30])
    }

    @Test func halfPrecisionScalarsDecode() {
        #expect(TensorBoardScalars.halfToDouble(0x3C00) == 1)
        #expect(TensorBoardScalars.halfToDouble(0xC000) == -2)
        #expect(TensorBoardScalars.halfToDouble(0x3555) == 0.333251953125)
        #expect(TensorBoardScalars.halfToDouble(0x7C00) == .infinity)
    }
}

func append(bytes: [UInt8], to path: String) {
    if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
    let h = FileHandle(forWritingAtPath: path)!
    h.seekToEndOfFile()
    h.write(Data(bytes))
    h.closeFile()
}

extension TensorBoardTests {
    /// Hugging Face's Trainer: `train/loss` every logging_steps, `eval/loss` per epoch at other steps.
    @Test func trainingLossAtOtherStepsThanEvaluationsIsAveragedPerEpoch() throws {
        let dir = makeTempDir("tb-hf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var w = TensorBoardEventWriter()
        w.fileVersion(wallTime: 0)
        for step in stride(from: 40, through: 300, by: 40) {
            w.scalar(tag: "train/loss", step: Int64(step), value: Float(step), wallTime: 0)
            w.scalar(tag: "train/epoch", step: Int64(step), value: Float(step) / 100, wallTime: 0)
        }
        for step in [100, 200, 300] { w.scalar(tag: "eval/loss", step: Int64(step), value: 1, wallTime: 0) }
        append(bytes: w.take(), to: dir + "/events.out.tfevents.1763900000.h.1.0")
        let run = try RunLoader.load(path: dir)
        #expect(run.epochs.map(\.step) == [100, 200, 300])
        #expect(run.epochs.map(\.loss) == [60, 160, 260])        // (40+80)/2, (120+160+200)/3, (240+280)/2
        #expect(run.epochs.allSatisfy { $0.valLoss == 1 })
        #expect(run.batches.steps == stride(from: 40, through: 280, by: 40).map(Int64.init))
        #expect(run.metricNames == ["loss"])
    }
}

extension TensorBoardTests {
    @Test func perStepSeriesAtDifferentStepsShareOneBatchAxis() {
        #expect(TensorBoardMapping.mergedUnion([1, 3, 5], [2, 3, 6, 7]) == [1, 2, 3, 5, 6, 7])
        #expect(TensorBoardMapping.mergedUnion([], [4]) == [4])
        var loss = TensorBoardScalars.Series(run: "", tag: "loss")
        var norm = TensorBoardScalars.Series(run: "", tag: "grad_norm")
        for s in 1...4 { loss.add(step: Int64(s), value: Double(s)) }
        for s in [2, 4, 6] { norm.add(step: Int64(s), value: Double(s) * 10) }
        let b = TensorBoardMapping.batches([("grad_norm", norm), ("loss", loss)], epochEnds: [], epochNumbers: [])
        #expect(b.steps == [1, 2, 3, 4, 6])
        #expect(b.loss.prefix(4) == [1, 2, 3, 4] && b.loss[4].isNaN)
        let norms = b.values(of: "grad_norm") ?? []
        #expect(norms.count == 5 && norms[1] == 20 && norms[3] == 40 && norms[4] == 60 && norms[0].isNaN)
    }
}
