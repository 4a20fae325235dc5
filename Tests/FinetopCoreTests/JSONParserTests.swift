import Foundation
import Testing
@testable import FinetopCore

@Suite struct JSONParserTests {
    @Test func acceptsPythonNaNAndInfinity() throws {
        let v = try JSONParser.parse("[NaN, Infinity, -Infinity, 1.5e3, -0.25]")
        let items = try #require(v.array)
        let a = items.map { $0.double ?? 0 }
        #expect(a[0].isNaN)
        #expect(a[1] == .infinity)
        #expect(a[2] == -.infinity)
        #expect(a[3] == 1500)
        #expect(a[4] == -0.25)
    }

    @Test func numbersAreCorrectlyRoundedLikeTheStandardLibrary() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let d = Double.random(in: -1e6...1e6, using: &rng) * pow(10, Double(Int.random(in: -30...30, using: &rng)))
            for text in ["\(d)", String(format: "%.6f", d), String(format: "%.17g", d), String(format: "%.19g", d), String(format: "%.25g", d)] {
                let value = try JSONParser.parse(text)
                let parsed = try #require(value.double, "\(text)")
                let expected = try #require(Double(text))
                #expect(parsed.bitPattern == expected.bitPattern, "\(text)")
            }
        }
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let v = try JSONParser.parse(#"{"a\n":"x\u00e9\ud83d\ude00\"\\\/"}"#)
        #expect(v["a\n"]?.string == "xé😀\"\\/")
    }

    @Test func rejectsDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep) }
    }

    @Test func rejectsMalformedDocuments() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "nul", "\"abc", "{\"a\":1}x", "[1e]", "NaNx"] {
            #expect(throws: JSONError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
    }

    @Test func writerOutputParsesBack() throws {
        let value: JSONValue = .object([
            ("name", "la\u{1b}[31myer\n"), ("n", .number(.nan)), ("inf", .number(-.infinity)),
            ("x", 0.1), ("big", .number(1e300)), ("list", [1, true, nil]),
        ])
        let back = try JSONParser.parse(JSONText.render(value))
        #expect(back == value)
    }
}

@Suite struct PackedKeyTests {
    @Test func packedConstantsSpellTheirKeys() {
        let expected: [(UInt64, String)] = [
            (Packed.type, "type"), (Packed.epoch, "epoch"), (Packed.step, "step"), (Packed.loss, "loss"),
            (Packed.valLoss, "val_loss"), (Packed.time, "time"), (Packed.metrics, "metrics"), (Packed.batch, "batch"),
            (Packed.run, "run"), (Packed.model, "model"), (Packed.control, "control"), (Packed.end, "end"),
        ]
        for (word, text) in expected { #expect(word == Packed.word(text), "\(text)") }
    }

    @Test func keysLongerThanEightBytesDoNotMatchTheirPrefix() {
        let run = builderRun([#"{"type":"epoch","epoch":0,"val_lossX":5,"loss":1}"#])
        #expect(run.epochs.first?.valLoss == nil)
        #expect(run.epochs.first?.loss == 1)
    }
}
