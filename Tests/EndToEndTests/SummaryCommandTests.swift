import Foundation
import Testing

@Suite struct SummaryCommandTests {
    @Test func printsTheMobileNetV2TableAndTotalsExactlyAsKeras() throws {
        let r = try CLI.run(["summary", "--show-trainable", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")],
                            environment: ["COLUMNS": "80"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "Model: \"mobilenetv2_1.00_224\"")
        #expect(lines[1].hasPrefix("┏━━") && lines[2] == "┃ Layer (type)                ┃ Output Shape          ┃    Param # ┃ Trai… ┃")
        #expect(lines.suffix(3) == [
            " Total params: 2,257,984 (8.61 MB)",
            " Trainable params: 412,800 (1.57 MB)",
            " Non-trainable params: 1,845,184 (7.04 MB)",
        ])
        #expect(lines.contains("│ Conv_1 (Conv2D)             │ (None, 7, 7, 1280)    │    409,600 │   Y   │"))
        #expect(lines.contains("│ input_layer (InputLayer)    │ (None, 224, 224, 3)   │          0 │   -   │"))
        #expect(lines.contains("│ Conv1 (Conv2D)              │ (None, 112, 112, 32)  │        864 │   N   │"))
        // One row per layer (154), a rule between rows.
        #expect(lines.filter { $0.hasPrefix("├") }.count == 153)
        #expect(lines.allSatisfy { $0.count <= 80 })
        let plain = try CLI.run(["summary", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")], environment: ["COLUMNS": "80"])
        #expect(!plain.stdout.contains("Trai…") && plain.stdout.contains("┃ Layer (type)"))
    }

    @Test func columnsFollowTheTerminalWidthAndLineLength() throws {
        let narrow = try CLI.run(["summary", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")], environment: ["COLUMNS": "60"])
        let lines = narrow.stdout.split(separator: "\n").map(String.init)
        #expect(lines.dropFirst().allSatisfy { $0.count <= 56 } && lines[1].count == 56)
        let wide = try CLI.run(["summary", "--line-length", "100", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")],
                               environment: ["COLUMNS": "200"])
        #expect(wide.stdout.split(separator: "\n")[1].count == 100)
        let bad = try CLI.run(["summary", "--line-length", "0", CLI.fixture("mobilenetv2_224_frozen.events.jsonl")])
        #expect(bad.status == 2 && bad.stderr.hasPrefix("finetop: "))
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
