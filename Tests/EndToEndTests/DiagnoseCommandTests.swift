import Foundation
import Testing

/// `finetop diagnose` with a target: the flags reach the rules, bad values are usage errors.
@Suite struct DiagnoseCommandTests {
    /// A Keras CSVLogger file whose accuracy plateaus at 0.85 (val 0.84): fit without a target.
    static func plateauCSV() throws -> String {
        var lines = ["epoch,accuracy,loss,val_accuracy,val_loss"]
        for i in 0..<30 {
            let decay = pow(0.6, Double(i))
            lines.append("\(i),\(0.85 - 0.4 * decay),\(0.45 + 0.8 * decay),\(0.84 - 0.4 * decay),\(0.47 + 0.8 * decay)")
        }
        let path = NSTemporaryDirectory() + "diagnose-target-\(UUID().uuidString).csv"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func targetAccuracyMakesAPlateauUnderfitting() throws {
        let csv = try Self.plateauCSV()
        defer { try? FileManager.default.removeItem(atPath: csv) }
        let plain = try CLI.run(["diagnose", "--json", "--fail-on", "underfitting", csv])
        #expect(plain.status == 0, "\(plain.stdout)\(plain.stderr)")
        #expect(plain.stdout.contains("\"label\":\"fit\"") || plain.stdout.contains("\"label\": \"fit\""))
        let target = try CLI.run(["diagnose", "--target-accuracy", "95", "--fail-on", "underfitting", csv])
        #expect(target.status == 1, "\(target.stdout)\(target.stderr)")
        #expect(target.stdout.hasPrefix("UNDERFITTING"))
        #expect(target.stdout.contains("target"))
    }

    @Test func aTargetThatIsNotAnAccuracyIsAUsageError() throws {
        let csv = try Self.plateauCSV()
        defer { try? FileManager.default.removeItem(atPath: csv) }
        let r = try CLI.run(["diagnose", "--target-accuracy", "250", csv])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--target-accuracy"))
        let loss = try CLI.run(["diagnose", "--target-loss", "nan", csv])
        #expect(loss.status == 2)
    }
}
