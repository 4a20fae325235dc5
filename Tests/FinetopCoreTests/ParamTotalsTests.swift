import Foundation
import Testing
@testable import FinetopCore

@Suite struct ParamTotalsTests {
    @Test func mobileNetV2WithLastFourTrainableMatchesKerasExactly() throws {
        let run = try RunLoader.load(path: Fixture.path("mobilenetv2_224_frozen.events.jsonl"))
        let totals = try #require(run.model?.totals)
        #expect(totals.total == 2_257_984)
        #expect(totals.trainable == 412_800)
        #expect(totals.nonTrainable == 1_845_184)
        #expect(totals.kerasLines == [
            "Total params: 2,257,984 (8.61 MB)",
            "Trainable params: 412,800 (1.57 MB)",
            "Non-trainable params: 1,845,184 (7.04 MB)",
        ])
    }

    /// The footer of the summary real Keras printed for the same model, byte for byte.
    @Test(arguments: [
        ("mobilenetv2_224_frozen.events.jsonl", "mobilenetv2_224_summary.txt"),
        ("mobilenetv2_96_unfreeze20.events.jsonl", "mobilenetv2_96_avg_dense5_unfreeze20_summary.txt"),
    ])
    func totalsEqualTheRealKerasSummaryFooter(events: String, summary: String) throws {
        let run = try RunLoader.load(path: Fixture.path(events))
        let text = try String(contentsOfFile: Fixture.path(summary), encoding: .utf8)
        let footer = text.split(separator: "\n").suffix(3).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(run.model?.totals.kerasLines == footer)
    }

    @Test func kerasMemoryUnitsAre1024BasedWithTwoDecimals() {
        #expect(KerasFormat.memory(params: 6_405) == "25.02 KB")
        #expect(KerasFormat.memory(params: 0) == "0.00 B")
        #expect(KerasFormat.memory(params: 255) == "1020.00 B")
        #expect(KerasFormat.memory(params: 1_058_885) == "4.04 MB")
        #expect(KerasFormat.memory(params: 1_000_000_000) == "3.73 GB")
    }

    @Test func countsGetThousandsSeparators() {
        #expect(KerasFormat.count(0) == "0")
        #expect(KerasFormat.count(999) == "999")
        #expect(KerasFormat.count(1_000) == "1,000")
        #expect(KerasFormat.count(2_257_984) == "2,257,984")
        #expect(KerasFormat.count(-1_234_567) == "-1,234,567")
        #expect(KerasFormat.count(Int.max) == "9,223,372,036,854,775,807")
    }

    @Test func nestedModelRowIsNotCountedTwice() {
        let layers = [
            Layer(name: "input", className: "InputLayer", params: 0, trainableParams: 0, trainable: true),
            Layer(name: "base", className: "Functional", params: 100, trainableParams: 40, trainable: true),
            Layer(name: "base/conv", className: "Conv2D", params: 60, trainableParams: 40, trainable: true, depth: 1),
            Layer(name: "base/bn", className: "BatchNormalization", params: 40, trainableParams: 0, trainable: false, depth: 1),
            Layer(name: "head", className: "Dense", params: 5, trainableParams: 5, trainable: true),
        ]
        let t = ParamTotals(countingTopLevelOf: layers)
        #expect(t.total == 105)
        #expect(t.trainable == 45)
    }

    @Test func childrenWithoutTheirContainerRowStillCount() {
        let layers = [
            Layer(name: "base/conv", className: "Conv2D", params: 60, trainableParams: 60, trainable: true, depth: 1),
            Layer(name: "base/bn", className: "BatchNormalization", params: 40, trainableParams: 20, trainable: true, depth: 1),
        ]
        #expect(ParamTotals(countingTopLevelOf: layers).total == 100)
        #expect(ParamTotals(countingTopLevelOf: layers).trainable == 80)
    }

    @Test func emptyModelHasZeroTotals() {
        let t = ParamTotals(countingTopLevelOf: [])
        #expect(t.kerasLines == ["Total params: 0 (0.00 B)", "Trainable params: 0 (0.00 B)", "Non-trainable params: 0 (0.00 B)"])
    }
}
