import Foundation
import Testing

@Suite struct SummaryCommandTests {
    @Test func printsTheMobileNetV2TotalsExactlyAsKeras() throws {
        let r = try CLI.run(["summary", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.suffix(3) == [
            " Total params: 2,257,984 (8.61 MB)",
            " Trainable params: 412,800 (1.57 MB)",
            " Non-trainable params: 1,845,184 (7.04 MB)",
        ])
        let conv = try #require(lines.first { $0.hasPrefix("Conv_1 (Conv2D)") })
        #expect(conv.contains("409,600") && conv.hasSuffix("Y"))
        #expect(lines.contains { $0.hasPrefix("input_layer (InputLayer)") && $0.hasSuffix("-") })
        #expect(lines.contains { $0.hasPrefix("Conv1 (Conv2D)") && $0.hasSuffix("N") })
        #expect(lines.filter { $0.contains("(") && ($0.hasSuffix("Y") || $0.hasSuffix("N") || $0.hasSuffix("-")) }.count == 154)
    }

    @Test func runDirectoryWorksLikeItsEventsFile() throws {
        let dir = NSTemporaryDirectory() + "summary-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.fixture("mobilenetv2_224_frozen.events.jsonl"), toPath: dir + "/events.jsonl")
        let a = try CLI.run(["summary", dir])
        let b = try CLI.run(["summary", dir + "/events.jsonl"])
        #expect(a.status == 0 && a.stdout == b.stdout)
    }

    @Test func jsonOutputCarriesLayersAndTotals() throws {
        let r = try CLI.run(["summary", "--json", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")])
        #expect(r.status == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let totals = try #require(obj["totals"] as? [String: Any])
        #expect(totals["total"] as? Int == 2_257_984)
        #expect(totals["trainable"] as? Int == 412_800)
        #expect(totals["non_trainable"] as? Int == 1_845_184)
        #expect((obj["layers"] as? [Any])?.count == 154)
    }

    @Test(arguments: ["keras_csvlogger_example.csv", "keras_history_example.json", "hf_output", "lightning_logs"])
    func logsWithoutALayerTableSaySoAndSucceed(name: String) throws {
        let r = try CLI.run(["summary", CLI.fixture(name)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Model: none recorded"))
        #expect(r.stdout.contains("Epochs: "))
    }

    @Test func badPathsGiveOneLineAndStatusTwo() throws {
        let dir = NSTemporaryDirectory() + "bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/blob", contents: Data((0..<512).map { UInt8($0 % 256) }))
        for (path, reason) in [(dir + "/missing", "no such file"), (dir, "holds nothing finetop can read"), (dir + "/blob", "binary")] {
            let r = try CLI.run(["summary", path])
            #expect(r.status == 2)
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.hasPrefix("finetop: ") && r.stderr.contains(reason), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func layerNamesCannotDriveTheTerminal() throws {
        let dir = NSTemporaryDirectory() + "esc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let line = #"{"type":"model","revision":0,"layers":[{"name":"evil\u001b[2J\u0007","class":"Dense\r","shape":"(None, 1)","params":2,"trainable_params":2,"trainable":true,"depth":0}]}"#
        try (line + "\n").write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        let r = try CLI.run(["summary", dir])
        #expect(r.status == 0)
        #expect(!r.stdout.contains("\u{1b}") && !r.stdout.contains("\u{07}") && !r.stdout.contains("\r"))
        #expect(r.stdout.contains("evil\\x1b[2J\\x07"))
    }
}
