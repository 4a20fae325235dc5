import Foundation
import Testing

/// `finetop summary` next to real Keras 3 (JAX, CPU): MobileNetV2 (weights=None) as the tutorial's
/// 224 base and as the 96 `pooling='avg'` + Dense(5) recipe (flat and nested), before and after
/// `fit`, with and without show_trainable / expand_nested, at two terminal widths: every line equal.
/// The run is written by the real `finetop.keras` helper (keras_summary_job.py says which fields
/// the harness adds while the helper does not record them yet).
@Suite(.serialized) struct KerasSummaryRealTests {
    static let widths = ["80", "124"]

    @Test(.enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: real-Keras tests skipped"),
          .timeLimit(.minutes(15)))
    func summaryEqualsKerasLineForLine() throws {
        let python = PythonHelperTests.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("No Python at \(python): set FINETOP_PYTHON to a Python with keras and jax (or FINETOP_SKIP_PYTHON=1)")
            return
        }
        let out = NSTemporaryDirectory() + "keras-summary-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let job = try CLI.run([CLI.packageRoot + "/Tests/EndToEndTests/keras_summary_job.py", out],
                              environment: ["PYTHONPATH": CLI.packageRoot + "/assets/python", "KERAS_BACKEND": "jax",
                                            "SUMMARY_WIDTHS": Self.widths.joined(separator: ","),
                                            "JAX_PLATFORMS": "cpu"],
                              executable: python)
        try #require(job.status == 0, "the Keras job failed:\n\(job.stderr.suffix(3000))")
        var compared = 0
        var sawOptimizer = false, sawConnections = false, sawExpanded = false
        for c in ["mobilenetv2_224", "recipe_96", "recipe_96_nested"] {
            for stage in ["before", "after"] {
                let run = "\(out)/\(c)-\(stage)"
                for (trainable, expand) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    for width in Self.widths {
                        var args = ["summary", run]
                        if trainable == 1 { args.append("--show-trainable") }
                        if expand == 1 { args.append("--expand-nested") }
                        let ours = try CLI.run(args, environment: ["COLUMNS": width])
                        #expect(ours.status == 0, "\(ours.stderr)")
                        let keras = try String(contentsOfFile: "\(run)-\(trainable)-\(expand)-w\(width).txt", encoding: .utf8)
                        let a = ours.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                        let b = keras.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                        let label = "\(c) \(stage) show_trainable=\(trainable) expand_nested=\(expand) width=\(width)"
                        #expect(a.count == b.count, "\(label): \(a.count) lines, Keras \(b.count)")
                        if let k = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) {
                            Issue.record("\(label), line \(k + 1):\n ours:  \(a[k])\n keras: \(b[k])")
                        }
                        compared += 1
                        sawOptimizer = sawOptimizer || b.contains { $0.hasPrefix(" Optimizer params: ") }
                        sawConnections = sawConnections || b.contains { $0.contains("Connected to") }
                        sawExpanded = sawExpanded || b.contains { $0.contains("└ ") }
                    }
                }
            }
        }
        #expect(compared == 48)
        #expect(sawOptimizer && sawConnections && sawExpanded, "the cases cover the optimizer line, Connected to and expand_nested")
        let added = (try? String(contentsOfFile: "\(out)/recipe_96-after.added.json", encoding: .utf8)) ?? "?"
        print("KerasSummaryRealTests: \(compared) summaries equal to Keras's; fields the harness added to the helper's model line: \(added)")
    }
}
