import Foundation
import Testing
@testable import FinetopCore

@Suite struct EventsReaderTests {
    let dir = makeTempDir("reader")
    var path: String { dir + "/events.jsonl" }

    @Test func readsOnlyWhatWasAppended() throws {
        append(#"{"type":"epoch","epoch":0,"loss":1.0,"val_loss":1.1}"# + "\n", to: path)
        let reader = EventsReader(path: path)
        #expect(try reader.poll())
        let first = reader.offset
        #expect(try reader.poll() == false)
        append(#"{"type":"epoch","epoch":1,"loss":0.8,"val_loss":0.9}"# + "\n", to: path)
        #expect(try reader.poll())
        #expect(reader.offset > first)
        #expect(reader.run.epochs.map(\.epoch) == [0, 1])
        #expect(reader.run.epochs[1].valLoss == 0.9)
    }

    @Test func truncatedLastLineWaitsForItsEnd() throws {
        append(#"{"type":"batch","epoch":0,"step":1,"loss":0.5}"# + "\n" + #"{"type":"batch","epoch":0,"st"#, to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        #expect(reader.run.batches.count == 1)
        #expect(reader.run.skippedLines == 0)
        append(#"ep":2,"loss":0.4}"# + "\n", to: path)
        try reader.poll()
        #expect(reader.run.batches.count == 2)
        #expect(reader.run.batches.steps == [1, 2])
        #expect(reader.run.skippedLines == 0)
    }

    @Test func malformedLinesAreSkippedAndCounted() throws {
        let lines = [
            "not json",
            #"{"type":"epoch","epoch":"three","loss":1}"#,
            #"{"type":"batch","epoch":0,"step":1}"#,
            #"{"epoch":1}"#,
            #"[1,2,3]"#,
            #"{"type":"model","revision":0,"layers":[{"class":"Dense"}]}"#,
            #"{"type":"epoch","epoch":0,"loss":1.0}"#,
            #"{"type":"someday","x":1}"#,
        ]
        append(lines.joined(separator: "\n") + "\n", to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        #expect(reader.run.skippedLines == 6)
        #expect(reader.run.epochs.count == 1)
        #expect(reader.run.lastSkipReason != nil)
    }

    @Test func nanAndInfinityLossesAreKept() throws {
        append("""
            {"type":"epoch","epoch":0,"loss":NaN,"val_loss":Infinity,"metrics":{"accuracy":-Infinity}}
            {"type":"batch","epoch":0,"step":3,"loss":NaN,"metrics":{"accuracy":0.5}}

            """, to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        let e = try #require(reader.run.epochs.first)
        #expect(e.loss?.isNaN == true)
        #expect(e.valLoss == .infinity)
        #expect(e.values["accuracy"] == -.infinity)
        #expect(reader.run.batches.loss.first?.isNaN == true)
        #expect(reader.run.batches.metrics["accuracy"] == [0.5])
    }

    @Test func startsOverWhenTheFileShrinks() throws {
        append(#"{"type":"epoch","epoch":0,"loss":1.0}"# + "\n" + #"{"type":"epoch","epoch":1,"loss":0.9}"# + "\n", to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        #expect(reader.run.epochs.count == 2)
        try (#"{"type":"epoch","epoch":0,"loss":5.0}"# + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try reader.poll())
        #expect(reader.run.epochs.map(\.loss) == [5.0])
        #expect(reader.restarts == 1)
    }

    @Test func startsOverWhenTheFileIsReplaced() throws {
        append(#"{"type":"epoch","epoch":0,"loss":1.0}"# + "\n" + #"{"type":"epoch","epoch":1,"loss":0.9}"# + "\n", to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        let other = dir + "/other.jsonl"
        append(#"{"type":"epoch","epoch":0,"loss":2.0}"# + "\n" + #"{"type":"epoch","epoch":1,"loss":1.9}"# + "\n" + #"{"type":"epoch","epoch":2,"loss":1.8}"# + "\n", to: other)
        #expect(rename(other, path) == 0)
        #expect(try reader.poll())
        #expect(reader.run.epochs.map(\.loss) == [2.0, 1.9, 1.8])
    }

    @Test func emptyFileIsAnEmptyRun() throws {
        append("", to: path)
        let reader = EventsReader(path: path)
        #expect(try reader.poll() == false)
        #expect(reader.run.epochs.isEmpty)
        #expect(reader.run.skippedLines == 0)
    }

    @Test func missingFileIsAClearError() {
        let reader = EventsReader(path: dir + "/nope.jsonl")
        #expect(throws: ReadError.self) { try reader.poll() }
        do { try reader.poll() } catch { #expect(error.description.contains("no such file")) }
    }

    @Test func crlfLineEndsAndBOMAreAccepted() throws {
        append("\u{FEFF}" + #"{"type":"epoch","epoch":0,"loss":1.0}"# + "\r\n" + #"{"type":"epoch","epoch":1,"loss":0.5}"# + "\r\n", to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        #expect(reader.run.epochs.map(\.loss) == [1.0, 0.5])
        #expect(reader.run.skippedLines == 0)
    }

    @Test func hugeLineIsReadWithinBoundsAndTheNextLineStillCounts() throws {
        let big = #"{"type":"epoch","epoch":0,"loss":1.0,"pad":""# + String(repeating: "x", count: 20 << 20) + "\"}\n"
        append(big + #"{"type":"epoch","epoch":1,"loss":0.5}"# + "\n", to: path)
        let reader = EventsReader(path: path)
        try reader.poll()
        #expect(reader.run.epochs.map(\.epoch) == [0, 1])
    }

    @Test func lineLongerThanTheLimitIsSkippedWithoutHoldingIt() throws {
        let reader = EventsReader(path: path)
        let h = FileManager.default.createFile(atPath: path, contents: nil)
        #expect(h)
        let chunk = String(repeating: "y", count: 1 << 20)
        for _ in 0..<(EventsReader.maxLineBytes >> 20) + 2 { append(chunk, to: path) }
        append("\n" + #"{"type":"epoch","epoch":0,"loss":0.5}"# + "\n", to: path)
        try reader.poll()
        #expect(reader.run.skippedLines == 1)
        #expect(reader.run.epochs.count == 1)
    }

    @Test func wrongTypesInEveryFieldNeverCrash() throws {
        let values = ["null", "true", "\"s\"", "[]", "{}", "-1", "1e400", "NaN", "1.5"]
        let fields = ["type", "epoch", "step", "loss", "val_loss", "metrics", "time", "revision", "layers", "status", "changed", "reason"]
        var b = RunBuilder()
        for kind in ["run", "model", "batch", "epoch", "control", "end"] {
            for f in fields {
                for v in values {
                    b.consume(line: #"{"type":"\#(kind)","\#(f)":\#(v),"epoch":0,"loss":1,"revision":1,"layers":[],"status":"applied","reason":"x"}"#)
                }
            }
        }
        #expect(b.run.skippedLines > 0)
    }

    @Test func resumedEpochsReplaceWhatCameAfter() {
        let run = builderRun([
            #"{"type":"epoch","epoch":0,"loss":1.0}"#, #"{"type":"epoch","epoch":1,"loss":0.9}"#,
            #"{"type":"epoch","epoch":2,"loss":0.8}"#, #"{"type":"epoch","epoch":1,"loss":0.7}"#,
        ])
        #expect(run.epochs.map(\.epoch) == [0, 1])
        #expect(run.epochs.last?.loss == 0.7)
    }

    @Test func modelControlAndEndLinesAreRead() throws {
        let run = builderRun([
            #"{"type":"run","version":1,"framework":"keras","framework_version":"3.15.1","run_id":"exp3","hparams":{"optimizer":"adam","learning_rate":0.001,"epochs":50,"augmentation":["RandomFlip"],"dropout":[0.5],"early_stopping":{"patience":3}}}"#,
            #"{"type":"model","revision":2,"layers":[{"name":"a","class":"Dense","shape":"(None, 5)","params":10,"trainable_params":10,"trainable":true,"depth":0}]}"#,
            #"{"type":"control","revision":7,"status":"applied","changed":["a"],"message":null}"#,
            #"{"type":"end","reason":"completed"}"#,
        ])
        #expect(run.info?.framework == "keras")
        #expect(run.info?.hparams.learningRate == 0.001)
        #expect(run.info?.hparams.epochs == 50)
        #expect(run.info?.hparams.augmentation == ["RandomFlip"])
        #expect(run.info?.hparams.earlyStopping?.patience == 3)
        #expect(run.model?.revision == 2)
        #expect(run.model?.layers.first?.shape == "(None, 5)")
        #expect(run.acks == [ControlAck(revision: 7, status: .applied, changed: ["a"])])
        #expect(run.end?.reason == "completed")
        #expect(run.skippedLines == 0)
    }

    @Test func batchMetricsMissingOnSomeLinesStayAligned() {
        let run = builderRun([
            #"{"type":"batch","step":1,"loss":1,"metrics":{"acc":0.1}}"#,
            #"{"type":"batch","step":2,"loss":1}"#,
            #"{"type":"batch","step":3,"loss":1,"metrics":{"acc":0.3,"lr":0.01}}"#,
            #"{"type":"batch","step":4,"loss":1}"#,
        ])
        let acc = run.batches.metrics["acc"] ?? []
        let lr = run.batches.metrics["lr"] ?? []
        #expect(acc.count == 4 && lr.count == 4)
        #expect(acc[0] == 0.1 && acc[1].isNaN && acc[2] == 0.3 && acc[3].isNaN)
        #expect(lr[0].isNaN && lr[2] == 0.01)
    }

    @Test func writerOutputReadsBackTheSameRun() throws {
        let w = try RunWriter(directory: dir)
        w.run(RunInfo(framework: "demo", frameworkVersion: "1", runID: "t", started: 5, hparams: HParams(optimizer: "adam", learningRate: 0.01, epochs: 3)))
        let table = LayerTable(revision: 0, layers: [Layer(name: "d\"1", className: "Dense", shape: "(None, 4)", params: 20, trainableParams: 0, trainable: false)])
        w.model(table)
        w.batch(epoch: 0, step: 1, loss: 0.5, metrics: [("accuracy", 0.25)])
        w.epoch(EpochRecord(epoch: 0, step: 1, values: ["loss": 0.5, "val_loss": .nan, "accuracy": 0.25], time: 1.5))
        w.control(ControlAck(revision: 1, status: .rejected, changed: [], message: "no layer named x"))
        w.end(RunEnd(reason: "stopped"))
        let run = try RunLoader.load(path: dir)
        #expect(run.format == .runDirectory)
        #expect(run.model == table)
        #expect(run.epochs == [EpochRecord(epoch: 0, step: 1, values: ["loss": 0.5, "val_loss": .nan, "accuracy": 0.25], time: 1.5)])
        #expect(run.batches.metrics["accuracy"] == [0.25])
        #expect(run.acks.first?.message == "no layer named x")
        #expect(run.end?.reason == "stopped")
        #expect(run.skippedLines == 0)
    }
}

/// The first load of a big file parses its two halves at once; the result must be exactly what
/// reading the lines one by one gives, whatever the lines are.
@Suite struct ParallelLoadTests {
    static func lines(seed: UInt64, count: Int, inferredLate: Bool) -> [String] {
        var rng = seed
        func next() -> UInt64 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return rng >> 33
        }
        var out = [#"{"type":"run","version":1,"framework":"keras","run_id":"a","hparams":{"epochs":9}}"#]
        var epoch = 0, step = 0
        for i in 0..<count {
            switch next() % 100 {
            case 0: out.append(#"{"type":"model","revision":\#(i),"layers":[{"name":"d\#(i % 3)","class":"Dense","params":10,"trainable_params":\#(i % 2 * 10),"trainable":true}]}"#)
            case 1: out.append("garbage \(i)")
            case 2: out.append(#"{"type":"control","revision":\#(i),"status":"applied","changed":["d1"]}"#)
            case 3: out.append(#"{"type":"epoch","epoch":\#(max(0, epoch - 2)),"loss":0.5}"#)   // a resume
            case 4: out.append(#"{"type":"end","reason":"stopped"}"#)
            case 5: out.append(#"{"type":"run","version":1,"framework":"keras","run_id":"b"}"#)   // a restart
            case 6...12:
                out.append(#"{"type":"epoch","epoch":\#(epoch),"step":\#(step),"loss":\#(Double(next() % 1000) / 7),"val_loss":NaN,"metrics":{"accuracy":0.\#(next() % 1000)}}"#)
                epoch += 1
            default:
                step += 1
                let metrics = next() % 3 == 0 ? "" : #","metrics":{"acc\#(next() % 3)":\#(Double(next() % 1000) / 3)}"#
                out.append(#"{"type":"batch","epoch":\#(epoch),"step":\#(step),"loss":\#(Double(next() % 1000) / 9)\#(metrics)}"#)
            }
        }
        if inferredLate { out.append(#"{"type":"batch","loss":1.0}"#) }
        return out
    }

    @Test(arguments: [(UInt64(1), false), (2, false), (3, true)])
    func bothHalvesAtOnceEqualsOneByOne(seed: UInt64, inferredLate: Bool) throws {
        let dir = makeTempDir("parallel")
        let lines = Self.lines(seed: seed, count: 20_000, inferredLate: inferredLate)
        try (lines.joined(separator: "\n") + "\n" + #"{"type":"batch","epoch":1,"st"#).write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        let reader = EventsReader(path: dir + "/events.jsonl")
        reader.parallelLoadBytes = 4096
        try reader.poll()
        let expected = builderRun(lines)
        #expect(reader.run == expected)
        #expect(reader.run.skippedLines == expected.skippedLines)
        #expect(reader.run.lastSkipReason == expected.lastSkipReason)
        // The unfinished last line still waits, and appending goes on from the right offset.
        append(#"ep":1,"loss":2.5}"# + "\n", to: dir + "/events.jsonl")
        try reader.poll()
        #expect(reader.run.batches.loss.last == 2.5)
        #expect(reader.run.batches.count == expected.batches.count + 1)
    }
}
