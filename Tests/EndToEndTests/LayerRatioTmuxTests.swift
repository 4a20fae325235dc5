import Foundation
import Testing
import FinetopCore

/// Issue 15 on screen: the layer table's update-ratio column, from real jobs' `layer_stats`
/// lines, in tmux: the demo's trainer and a real Keras job, a toggle leaving its mark at the next epoch.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"))
struct LayerRatioTmuxTests {
    /// The layer table's segment of the row for `layer` (left of the first divider inside the frame).
    static func tableRow(_ screen: String, _ layer: String) -> String? {
        for line in screen.split(separator: "\n") {
            let cells = line.split(separator: "│", omittingEmptySubsequences: false)
            guard cells.count >= 3 else { continue }
            let table = String(cells[1])
            if table.range(of: "^[ ›>]\(layer) ", options: .regularExpression) != nil { return table }
        }
        return nil
    }

    /// The ratio shown for `layer` at 80 columns (no trend column): the row's last word, `◆` dropped.
    static func ratio(_ screen: String, _ layer: String) -> String? {
        guard let row = tableRow(screen, layer) else { return nil }
        return row.split(separator: " ").last.map { $0.replacingOccurrences(of: "◆", with: "") }
    }

    static func isMoving(_ text: String?) -> Bool {
        guard let text, let v = Double(text) else { return false }
        return v > 0
    }

    /// In the run's own lines: `unfrozen` is exactly 0 at every epoch measured under the model
    /// lines before the toggle's, and above 0 at the very first epoch measured after it (`frozen`
    /// the other way round).
    static func expectLeavesZeroAtTheNextEpoch(_ dir: String, unfrozen: String, frozen: String? = nil) throws {
        let run = try RunLoader.load(path: dir)
        let stats = run.layerStats
        let toggled = try #require(run.model).revision
        #expect(run.model?.layers.first { $0.name == unfrozen }?.trainable == true)
        let slots = Array(zip(stats.epochs, stats.modelRevisions))
        let next = try #require(slots.firstIndex { $0.1 >= toggled }, "no layer_stats after model revision \(toggled)")
        #expect(next > 0, "no layer_stats before the toggle")
        for (e, _) in slots[..<next] { #expect(stats.ratio(unfrozen, epoch: e) == 0, "\(unfrozen) moved at epoch \(e)") }
        #expect((stats.ratio(unfrozen, epoch: slots[next].0) ?? 0) > 0, "\(unfrozen) still 0 at the next epoch \(slots[next].0)")
        if let frozen {
            for (e, _) in slots[..<next] { #expect((stats.ratio(frozen, epoch: e) ?? 0) > 0) }
            #expect(stats.ratio(frozen, epoch: slots[next].0) == 0, "\(frozen) still moving at epoch \(slots[next].0)")
        }
    }

    // 8 minutes: in the full suite, beside pytest's torch and DDP jobs on 2 cores, it has taken
    // 340 s (alone: 2 s); the phase times it prints say where a slow run spends them.
    @Test(.timeLimit(.minutes(8)))
    func demoShowsRatiosAndAnUnfrozenLayerLeavesZero() throws {
        let dir = temporaryRunPath("finetop-demo-ratio")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = Date()
        var phases: [String] = []
        func phase(_ what: String) { phases.append("\(what) \(String(format: "%.1f", Date().timeIntervalSince(started))) s") }
        defer { print("LayerRatioTmuxTests.demo phases: " + phases.joined(separator: ", ")) }
        let t = try TmuxSession(width: 80, height: 24)
        try t.run("\(Binary.path) demo --epochs-per-second 4 --dir \(dir)")

        // The head trains, the frozen base reads exactly 0.
        let first = try t.waitFor("the ratio column", timeout: 30) { s in
            s.contains("Ratio") && Self.isMoving(Self.ratio(s, "head_dense")) && Self.ratio(s, "dense_2") == "0"
        }
        #expect(Self.ratio(first, "dense_1") == "0")
        phase("ratio column")

        // Unfreeze dense_2: once the job applied it, the next epoch's ratio is above 0.
        try t.keys("/")
        try t.tmux(["send-keys", "-t", t.name, "-l", "dense_2"])
        try t.keys("Enter", "Space")
        try waitUntil("control.json with dense_2") { (try? ControlFile.read(from: dir))?.trainable == ["dense_2": true] }
        let moved = try t.waitFor("dense_2 moving", timeout: 30) { s in
            guard let row = Self.tableRow(s, "dense_2") else { return false }
            return row.contains(" Y ") && Self.isMoving(Self.ratio(s, "dense_2"))
        }
        #expect(Self.ratio(moved, "dense_1") == "0", "a layer still frozen stays at 0")
        phase("dense_2 moving")
        try Self.expectLeavesZeroAtTheNextEpoch(dir, unfrozen: "dense_2")

        // O orders by ratio: the header says so and the moving layers come first.
        try t.keys("O")
        let sorted = try t.waitFor(text: "Ratio↓")
        let order = ["dense_1", "dense_2", "head_dense"].compactMap { name in
            sorted.split(separator: "\n").firstIndex { Self.tableRow(String($0), name) != nil }
        }
        #expect(order.count == 3 && order[2] < order[0] && order[1] < order[0], "\(sorted)")
        phase("sorted")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
        phase("quit")
        try waitUntil("the trainer to be gone") { processes(mentioning: dir).isEmpty }
        phase("trainer gone")
    }

    @Test(.timeLimit(.minutes(2)))
    func wideScreenShowsTheTrend() throws {
        let dir = temporaryRunPath("finetop-demo-trend")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 200, height: 60)
        try t.run("\(Binary.path) demo --epochs-per-second 20 --dir \(dir)")
        let screen = try t.waitFor("six epochs of trend", timeout: 30) { s in
            guard let row = Self.tableRow(s, "head_dense") else { return false }
            return s.contains("Trend") && row.range(of: "[▁▂▃▄▅▆▇█]{6} *$", options: .regularExpression) != nil
        }
        let frozen = try #require(Self.tableRow(screen, "dense_1"))
        #expect(frozen.range(of: " 0 +······ *$", options: .regularExpression) != nil, "\(frozen)")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
        try waitUntil("the trainer to be gone") { processes(mentioning: dir).isEmpty }
    }

    @Test(.timeLimit(.minutes(5)), .enabled(if: !PythonHelperTests.skipped, "FINETOP_SKIP_PYTHON=1: the real-Keras tests are skipped"))
    func kerasUnfrozenLayerLeavesZeroAtTheNextEpoch() throws {
        guard let python = try KerasRunTmuxTests.kerasPython() else { return }
        let dir = temporaryRunPath("finetop-keras-ratio")
        let script = CLI.packageRoot + "/Tests/EndToEndTests/keras_toggle_job.py"
        defer {
            for pid in processes(mentioning: dir) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let t = try TmuxSession(width: 80, height: 24)
        try t.run("PYTHONPATH=\(CLI.packageRoot)/assets/python KERAS_BACKEND=jax \(Binary.path) run --dir \(dir) -- \(python) \(script)")

        // dense_a starts frozen: 0 on screen; the trained ones above 0.
        let before = try t.waitFor("the first layer_stats on screen", timeout: 150) { s in
            Self.ratio(s, "dense_a") == "0" && Self.isMoving(Self.ratio(s, "dense_b"))
        }
        #expect(Self.isMoving(Self.ratio(before, "head")))

        // Unfreeze dense_a, freeze dense_b.
        for layer in ["dense_a", "dense_b"] {
            try t.keys("/")
            try t.tmux(["send-keys", "-t", t.name, "-l", layer])
            try t.keys("Enter", "Space")
        }
        try waitUntil("control.json with both changes") {
            (try? ControlFile.read(from: dir))?.trainable == ["dense_a": true, "dense_b": false]
        }
        let revision = try #require(try ControlFile.read(from: dir)).revision
        try waitUntil("the job's ack", timeout: 60) {
            (try? RunLoader.load(path: dir))?.acks.contains { $0.revision == revision } == true
        }
        let after = try t.waitFor("dense_a above 0 and dense_b at 0", timeout: 60) { s in
            Self.isMoving(Self.ratio(s, "dense_a")) && Self.ratio(s, "dense_b") == "0"
        }
        #expect(Self.tableRow(after, "dense_a")?.contains(" Y ") == true)
        try Self.expectLeavesZeroAtTheNextEpoch(dir, unfrozen: "dense_a", frozen: "dense_b")

        try t.keys("s")
        try t.waitFor(text: "Stop the job")
        try t.keys("y")
        try waitUntil("end: stopped", timeout: 60) { (try? RunLoader.load(path: dir))?.end != nil }
        // 80 columns cut the header's "exited 0" to "exit…".
        try t.waitFor("the job's exit", timeout: 30) { $0.contains("finished (stopped) · exit") }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }
}
