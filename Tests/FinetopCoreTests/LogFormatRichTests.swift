import Foundation
import Testing
@testable import FinetopCore

/// Issue 12: Lightning's RichProgressBar (its default bar when `rich` is installed) in a printed
/// log. Fixtures made by the real Lightning and Rich (make_log_fixtures.py lightning_rich).
@Suite struct LogFormatRichTests {
    /// With TTY_COMPATIBLE=1 (as `finetop run` starts jobs) Rich redraws its rows live, wrapping
    /// the metrics at 80 columns; every epoch is read and agrees with the CSVLogger of that run.
    @Test func liveRichBarGivesEveryEpochAndAgreesWithTheRunsCSV() throws {
        let bar = try RunLoader.load(path: Fixture.path("logs/lightning_rich_live_stdout.log"))
        let csv = try RunLoader.load(path: Fixture.path("logs/lightning_rich_live_metrics.csv"))
        #expect(bar.format == .printedLog)
        #expect(bar.epochs.map(\.epoch) == [0, 1, 2, 3])
        #expect(csv.epochs.count == 4)
        for (b, c) in zip(bar.epochs, csv.epochs) {
            #expect(abs((b.valLoss ?? .nan) - (c.valLoss ?? .nan)) < 6e-4, "epoch \(b.epoch)")
            #expect(abs((b.loss ?? .nan) - (c.loss ?? .nan)) < 6e-4, "epoch \(b.epoch)")
            #expect(abs((b.values["val_acc"] ?? .nan) - (c.values["val_acc"] ?? .nan)) < 6e-4, "epoch \(b.epoch)")
        }
        #expect(bar.batches.count > 0)
    }

    /// Read as it is written: each epoch shows before the job ends, not only the final state.
    @Test func liveRichBarIsReadAsItGrows() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.path("logs/lightning_rich_live_stdout.log"))))
        let dir = makeTempDir("rich-live")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/train.log"
        FileManager.default.createFile(atPath: path, contents: nil)
        var source: RunSource?
        var seen: [Int] = []
        var at = 0
        while at < bytes.count {
            let next = min(at + 997, bytes.count)
            append(bytes: Array(bytes[at..<next]), to: path)
            at = next
            if source == nil, let s = try? RunSource(path: path), s.format == .printedLog { source = s }
            guard let source else { continue }
            try source.poll()
            if seen.last != source.run.epochs.count { seen.append(source.run.epochs.count) }
        }
        // Epochs appear one by one while the file grows (an epoch is taken at its bar's last step).
        #expect(seen.filter { $0 > 0 }.count >= 3, "epoch counts seen: \(seen)")
        #expect(seen.last == 4)
    }

    /// To a file Rich prints only its last state, the metrics wrapped onto indented rows: that
    /// epoch is read with all its values.
    @Test func richBarPrintedToAFileGivesItsFinalEpoch() throws {
        let run = try RunLoader.load(path: Fixture.path("logs/lightning_rich_file_stdout.log"))
        #expect(run.format == .printedLog)
        #expect(run.epochs.map(\.epoch) == [3])
        #expect(run.epochs.first?.valLoss == 0.309)
        #expect(run.epochs.first?.loss == 0.327)
        #expect(run.epochs.first?.values["val_acc"] == 0.977)
    }

    @Test func richRowsParse() {
        let row = "Epoch 2/9  ━━━━━━━━╺━━━━━━━ 5/8 0:00:01 • 0:00:01 3.42it/s v_num: 0.000 train_loss_step: 0.358 val_loss: nan"
        let b = LightningProgress.richBar(Substring(row))
        #expect(b?.epoch == 2 && b?.step == 5 && b?.of == 8)
        #expect(b?.metrics.map(\.0) == ["train_loss_step", "val_loss"])
        #expect(b?.metrics.last?.1.isNaN == true)
        // max_epochs=-1 prints no "/N"; a TQDM bar and Keras's "Epoch 3/10" are not Rich rows.
        #expect(LightningProgress.richBar("Epoch 0    ━━━━━━━ 1/8 0:00:00 • -:--:-- 0.00it/s")?.step == 1)
        #expect(LightningProgress.richBar("Epoch 3/10") == nil)
        #expect(LightningProgress.richBar("Epoch 3: 100%|██████████| 8/8 [00:00<00:00, 95.1it/s, v_num=0]") == nil)
    }
}
