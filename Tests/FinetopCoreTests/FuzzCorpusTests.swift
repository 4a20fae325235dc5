import Foundation
import Testing
@testable import FinetopCore
import FinetopTestSupport

/// Replays the libFuzzer corpus (Tests/Fuzz/corpus, grown by Tests/Fuzz/run.sh) through every
/// reader, so inputs that once crashed or found new paths are checked on every run.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus").path

    @Test func everyCorpusInputIsReadWithoutCrashing() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus)
        #expect(names.count > 100)
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + name))
            data.withUnsafeBytes { FuzzTarget.run($0.bindMemory(to: UInt8.self)) }
        }
    }

    @Test func randomBytesNeverCrashAnyReader() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let n = Int.random(in: 0..<2048, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes.withUnsafeBufferPointer { FuzzTarget.run($0) }
        }
    }

    @Test func hugeNumbersInEpochColumnsAreSkippedNotTrapped() {
        var b = RunBuilder()
        b.consume(line: #"{"type":"epoch","epoch":1e300,"loss":1}"#)
        b.consume(line: #"{"type":"batch","epoch":-1e300,"step":1e19,"loss":1}"#)
        #expect(b.run.skippedLines == 1)
        var csv = KerasCSVLog.Parser(format: .kerasCSV, options: ReadOptions())
        for line in ["epoch,loss", "1e300,1", "0,1"] { csv.consume(Substring(line), end: .newline) }
        #expect(csv.run.epochs.count == 1)
        #expect(csv.run.skippedLines == 1)
    }
}
