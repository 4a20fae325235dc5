import Foundation
import Testing
@testable import FinetopCore

/// `KerasSummary` against text the real Keras 3.15.1 printed (`Fixtures/*_summary.txt`, see the
/// fixtures' README), and rich's layout rules one by one.
@Suite struct KerasSummaryTests {
    /// The layer table and model name from a fixture's `*_layers.json` (top-level layers only).
    static func table(_ name: String) throws -> (LayerTable, String) {
        let data = try #require(FileManager.default.contents(atPath: Fixture.path(name + "_layers.json")))
        let json = try JSONParser.parse(data)
        var layers: [Layer] = []
        for item in json["layers"]?.array ?? [] {
            let shape = "(" + (item["output_shape"]?.array ?? []).map { $0.int.map(String.init) ?? "None" }.joined(separator: ", ") + ")"
            layers.append(Layer(name: item["name"]?.string ?? "", className: item["class_name"]?.string ?? "",
                                shape: shape, params: item["param_count"]?.int ?? 0,
                                trainableParams: item["trainable_params"]?.int ?? 0,
                                trainable: item["trainable"]?.bool ?? false))
        }
        return (LayerTable(revision: 0, layers: layers), json["model_name"]?.string ?? "")
    }

    static func keras(_ name: String) throws -> [String] {
        let text = try String(contentsOfFile: Fixture.path(name + "_summary.txt"), encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        while lines.last == "" { lines.removeLast() }
        return lines
    }

    @Test(arguments: ["mobilenetv2_96_avg_dense5_nested_frozen", "mobilenetv2_96_avg_dense5_nested_unfreeze20"])
    func nestedModelMatchesKerasLineForLine(fixture: String) throws {
        let (table, name) = try Self.table(fixture)
        let ours = KerasSummary.lines(table, details: KerasModelDetails(name: name), fallbackName: "x",
                                      options: KerasSummaryOptions(consoleWidth: 80, showTrainable: true))
        let theirs = try Self.keras(fixture)
        #expect(ours.count == theirs.count)
        for (k, (a, b)) in zip(ours, theirs).enumerated() { #expect(a == b, "line \(k + 1)") }
    }

    @Test func withoutShowTrainableThereIsNoTrainableColumn() throws {
        let (table, name) = try Self.table("mobilenetv2_96_avg_dense5_nested_frozen")
        let ours = KerasSummary.lines(table, details: KerasModelDetails(name: name), fallbackName: "x",
                                      options: KerasSummaryOptions(consoleWidth: 80))
        // Keras: sequential-like, 88 columns capped at 80 - 4; positions 0.45 / 0.80 / 1.0 give
        // 34 / 26 / 16, plus rich's padding 36 / 28 / 18, reduced by 10 to fit 72: 33 / 24 / 15.
        #expect(ours[1] == "┏" + String(repeating: "━", count: 33) + "┳" + String(repeating: "━", count: 24) + "┳"
            + String(repeating: "━", count: 15) + "┓")
        #expect(ours[2].hasPrefix("┃ Layer (type)") && !ours[2].contains("Trai"))
        #expect(ours.contains { $0.hasPrefix("│ mobilenetv2_1.00_96 ") && $0.hasSuffix("   2,257,984 │") })
        #expect(ours.contains { $0.hasPrefix("│ (Functional) ") })
        #expect(ours.allSatisfy { $0.count <= 76 })
    }

    @Test func optimizerParamsAddAFourthLineAndCountInTotal() {
        // The tutorial's numbers after fit (Keras 3 printed them).
        let totals = ParamTotals(total: 884_484 + 1_537_984, trainable: 884_484)
        let lines = KerasSummary.totalLines(totals, details: KerasModelDetails(optimizerParams: 1_768_970))
        #expect(lines == [
            " Total params: 4,191,438 (15.99 MB)",
            " Trainable params: 884,484 (3.37 MB)",
            " Non-trainable params: 1,537,984 (5.87 MB)",
            " Optimizer params: 1,768,970 (6.75 MB)",
        ])
        let before = KerasSummary.totalLines(totals, details: KerasModelDetails())
        #expect(before.count == 3 && before[0] == " Total params: 2,422,468 (9.24 MB)")
    }

    @Test func expandNestedListsInnerLayersUnderTheirModel() {
        let layers = [
            Layer(name: "input_layer", className: "InputLayer", shape: "(None, 8)", params: 0, trainableParams: 0, trainable: true),
            Layer(name: "inner", className: "Sequential", shape: "(None, 4)", params: 36, trainableParams: 36, trainable: true),
            Layer(name: "inner/dense", className: "Dense", shape: "(None, 4)", params: 36, trainableParams: 36, trainable: true, depth: 1),
            Layer(name: "head", className: "Dense", shape: "(None, 1)", params: 5, trainableParams: 0, trainable: false),
        ]
        let table = LayerTable(revision: 0, layers: layers)
        let collapsed = KerasSummary.lines(table, details: KerasModelDetails(name: "functional"), fallbackName: "x",
                                           options: KerasSummaryOptions(consoleWidth: 80, showTrainable: true))
        #expect(!collapsed.contains { $0.contains("└ dense") })
        let expanded = KerasSummary.lines(table, details: KerasModelDetails(name: "functional"), fallbackName: "x",
                                          options: KerasSummaryOptions(consoleWidth: 80, expandNested: true, showTrainable: true))
        let row = try? #require(expanded.first { $0.contains("└ dense (Dense)") })
        #expect(row?.hasPrefix("│    └ dense (Dense) ") == true)
        #expect(expanded[0] == "Model: \"functional\"")
        #expect(expanded.suffix(3).first == " Total params: 41 (164.00 B)")
    }

    @Test func richReducesFixedColumnsEvenlyWithPythonRounding() {
        // 16 columns too many over 5 columns: 3.2, 3.25, 3.33, 3.5 (→ 4, half to even), 3.
        #expect(RichTable.ratioReduce(16, ratios: [1, 1, 1, 1, 1], maximums: [22, 20, 14, 20, 10], values: [22, 20, 14, 20, 10])
            == [19, 17, 11, 16, 7])
        // 2.5 rounds to 2 in Python.
        #expect(RichTable.ratioReduce(5, ratios: [1, 1], maximums: [9, 9], values: [9, 9]) == [7, 6])
    }

    @Test func cellsWrapAtWordsAndCutLongWordsWithAnEllipsis() {
        #expect(RichText.cell("bn_Conv1 (BatchNormalization)", width: 17, justify: .left, overflow: .ellipsis)
            == ["bn_Conv1         ", "(BatchNormalizat…"])
        #expect(RichText.cell("(None, 224, 224, 3)", width: 15, justify: .left, overflow: .ellipsis)
            == ["(None, 224,    ", "224, 3)        "])
        #expect(RichText.cell("input_layer[0][0]", width: 14, justify: .left, overflow: .ellipsis) == ["input_layer[0…"])
        #expect(RichText.cell("Trainable", width: 5, justify: .center, overflow: .ellipsis) == ["Trai…"])
        #expect(RichText.cell("-", width: 5, justify: .center, overflow: .ellipsis) == ["  -  "])
        #expect(RichText.cell("409,600", width: 9, justify: .right, overflow: .ellipsis) == ["  409,600"])
        #expect(RichText.cell("a[0][0], b[0][0]", width: 9, justify: .left, overflow: .ellipsis) == ["a[0][0], ", "b[0][0]  "])
    }

    @Test func detailsComeFromTheModelLineOfTheLatestRevision() throws {
        let dir = makeTempDir("kerasdetails")
        let path = dir + "/events.jsonl"
        append(#"{"type": "model", "revision": 0, "name": "old", "layers": []}"# + "\n", to: path)
        append(#"{"type": "epoch", "epoch": 0, "loss": 1, "note": "model"}"# + "\n", to: path)
        append(#"{"type": "model", "revision": 1, "name": "sequential", "optimizer_params": 12, "layers": [{"name": "d", "connected_to": "x[0][0]"}]}"# + "\n", to: path)
        let d = try #require(try KerasModelDetails.latest(inEventsFile: path, revision: 1))
        #expect(d.name == "sequential" && d.optimizerParams == 12 && d.connectedTo == ["d": "x[0][0]"])
        #expect(try KerasModelDetails.latest(inEventsFile: path, revision: 0)?.name == "old")
        #expect(try KerasModelDetails.latest(inEventsFile: path, revision: 7) == nil)
    }

    @Test func aNarrowTerminalWidensTheTableAndCropsItLikeRich() throws {
        let (table, name) = try Self.table("mobilenetv2_96_avg_dense5_nested_frozen")
        let ours = KerasSummary.lines(table, details: KerasModelDetails(name: name), fallbackName: "x",
                                      options: KerasSummaryOptions(consoleWidth: 24, showTrainable: true))
        #expect(ours.allSatisfy { $0.count <= 24 })
        #expect(ours.contains { $0.hasPrefix(" Total params:") })
    }
}
