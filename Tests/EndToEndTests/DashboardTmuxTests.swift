import Foundation
import Testing
import FinetopCore

/// A small Keras-like model: two dense layers trainable, the conv base frozen.
func smallModel(revision: Int, convTrainable: Bool) -> LayerTable {
    LayerTable(revision: revision, layers: [
        Layer(name: "input_layer", className: "InputLayer", params: 0, trainableParams: 0, trainable: false),
        Layer(name: "conv", className: "Conv2D", params: 864, trainableParams: convTrainable ? 864 : 0, trainable: convTrainable),
        Layer(name: "bn", className: "BatchNormalization", params: 128, trainableParams: 0, trainable: false),
        Layer(name: "pool", className: "GlobalAveragePooling2D", params: 0, trainableParams: 0, trainable: false),
        Layer(name: "dense", className: "Dense", params: 4_128, trainableParams: 4_128, trainable: true),
        Layer(name: "dense_1", className: "Dense", params: 645, trainableParams: 645, trainable: true),
    ])
}

func makeRunDirectory() throws -> (String, RunWriter) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-dash-\(UUID().uuidString)").path
    let w = try RunWriter(directory: dir)
    w.run(RunInfo(framework: "keras", frameworkVersion: "3.15.1", runID: "e2e", started: 1_763_900_000,
                  hparams: HParams(optimizer: "adam", learningRate: 1e-3, batchSize: 32, epochs: 10)))
    w.model(smallModel(revision: 0, convTrainable: false))
    return (dir, w)
}

func brailleCount(_ s: String) -> Int { s.unicodeScalars.filter { (0x2801...0x28FF).contains($0.value) }.count }

@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"))
struct DashboardTmuxTests {
    @Test func liveRunTogglesAcksResizeAndQuit() throws {
        let (dir, w) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 120, height: 40)
        try t.type("\(Binary.path) watch \(dir); echo FINETOP-EXITED $?")
        try t.waitFor(text: "epoch 0/10")
        try t.waitFor(text: "Layers 6")

        // The chart and the epoch counter grow as the job appends.
        let before = brailleCount(try t.screen())
        for e in 0..<3 {
            for b in 0..<5 { w.batch(epoch: e, step: e * 5 + b, loss: 1.5 - 0.1 * Double(e) - 0.02 * Double(b)) }
            w.epoch(EpochRecord(epoch: e, step: e * 5 + 4, values: ["loss": 1.4 - 0.2 * Double(e), "val_loss": 1.5 - 0.15 * Double(e)]))
        }
        let grown = try t.waitFor("epoch 3/10 and a drawn chart") { $0.contains("epoch 3/10") && brailleCount($0) > before + 5 }
        #expect(grown.contains("val"))

        // Space on `conv` writes control.json with that layer and a higher revision.
        try t.keys("j", "Space")
        let controlPath = dir + "/control.json"
        try waitUntil("control.json with conv") {
            (try? ControlFile.read(from: dir))?.trainable == ["conv": true]
        }
        let control = try #require(try ControlFile.read(from: dir))
        #expect(control.revision == 1)
        #expect(FileManager.default.fileExists(atPath: controlPath))
        try t.waitFor("pending mark") { $0.contains("Y*") && $0.contains("1 pending") }
        #expect(try t.screen().contains("4,773 (18.64 KB)"))

        // The job acknowledges: a new model line and a control line turn pending into applied.
        w.model(smallModel(revision: 1, convTrainable: true))
        w.control(ControlAck(revision: control.revision, status: .applied, changed: ["conv"]))
        // (The two lines may be read in separate polls; wait for both to show.)
        try t.waitFor("applied totals and the ack") {
            !$0.contains("Y*") && $0.contains("5,637 (22.02 KB)") && $0.contains("applied revision 1")
        }

        // The next change goes out with a higher revision, still the whole desired state.
        try t.keys("Space")
        try waitUntil("control.json revision 2") { (try? ControlFile.read(from: dir))?.revision == 2 }
        #expect(try ControlFile.read(from: dir)?.trainable == ["conv": false])
        try t.waitFor("pending freeze") { $0.contains("N*") }

        // Resize redraws at the new size.
        try t.tmux(["resize-window", "-t", t.name, "-x", "80", "-y", "24"])
        let small = try t.waitFor("80x24 frame") { s in
            let rows = s.split(separator: "\n", omittingEmptySubsequences: false)
            return rows.count >= 24 && rows[0].hasPrefix("┌") && rows[0].hasSuffix("┐") && rows[0].count == 80
                && rows[23].hasPrefix("└")
        }
        #expect(small.contains("Layers 6"))
        try t.tmux(["resize-window", "-t", t.name, "-x", "50", "-y", "12"])
        try t.waitFor(text: "terminal too small")
        try t.tmux(["resize-window", "-t", t.name, "-x", "120", "-y", "40"])
        try t.waitFor("120x40 frame again") { $0.split(separator: "\n").first?.count == 120 }

        // q leaves the terminal clean: the shell is back, no dashboard left on screen.
        try t.keys("q")
        let after = try t.waitFor(text: "FINETOP-EXITED 0")
        #expect(!after.contains("space toggle"))
        #expect(!after.contains("Layers 6"))
        #expect(brailleCount(after) == 0)
    }

    /// Ctrl-C (SIGINT), SIGTERM and SIGHUP quit through the loop; SIGSEGV stands for a crash.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP, SIGSEGV])
    func signalRestoresTheTerminal(signal: Int32) throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 100, height: 30)
        let pidFile = dir + "/finetop.pid"
        try t.type("sh -c 'echo $$ > \(pidFile); exec \(Binary.path) watch \(dir)'; echo FINETOP-EXITED $?")
        try t.waitFor(text: "Layers 6")
        let pid = try #require(Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, signal)
        // Exit status as a shell reports a job ended by that signal.
        let after = try t.waitFor(text: "FINETOP-EXITED \(128 + signal)")
        #expect(!after.contains("Layers 6"))
        // The tty is usable again: typed text echoes.
        try t.type("echo still-$((40+2))")
        try t.waitFor(text: "still-42")
    }

    @Test func emptyRunDirectoryFillsInWhenTheJobStarts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 100, height: 30)
        try t.type("\(Binary.path) watch \(dir); echo FINETOP-EXITED $?")
        try t.waitFor(text: "no model line yet")
        let w = try RunWriter(directory: dir)
        w.run(RunInfo(framework: "keras", runID: "late-start", hparams: HParams(epochs: 4)))
        w.model(smallModel(revision: 0, convTrainable: false))
        try t.waitFor("the job's first lines") { $0.contains("late-start") && $0.contains("Layers 6") && $0.contains("epoch 0/4") }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    /// C, or a UTF-8 locale that is not installed: plain ASCII, not mojibake.
    @Test(arguments: ["C", "xx_XX.UTF-8"])
    func asciiWhenTheLocaleIsNotUTF8(locale: String) throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 100, height: 30)
        try t.type("LC_ALL=\(locale) LANG=\(locale) \(Binary.path) watch \(dir); echo FINETOP-EXITED $?")
        let screen = try t.waitFor(text: "Layers 6")
        let rows = screen.split(separator: "\n")
        #expect(rows.first?.hasPrefix("+- finetop - e2e") == true)
        #expect(!screen.unicodeScalars.contains { $0.value > 0x7E })
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    @Test func noColorKeepsTheSelectionVisible() throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 100, height: 30)
        try t.type("NO_COLOR=1 \(Binary.path) watch \(dir); echo FINETOP-EXITED $?")
        try t.waitFor(text: "Layers 6")
        let styled = try t.tmux(["capture-pane", "-e", "-p", "-t", t.name])
        let sgr = sgrParameters(styled)
        #expect(sgr.contains(7), "the cursor row is drawn in reverse video")
        let colors = sgr.filter { (30...37).contains($0) || (40...47).contains($0) || (90...107).contains($0) || $0 == 38 || $0 == 48 }
        #expect(colors.isEmpty, "no colors under NO_COLOR, found SGR \(colors)")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    /// Every SGR parameter in `ESC [ … m` sequences of a styled capture.
    func sgrParameters(_ s: String) -> [Int] {
        var out: [Int] = []
        var rest = Substring(s)
        while let start = rest.range(of: "\u{1b}[") {
            rest = rest[start.upperBound...]
            guard let m = rest.firstIndex(where: { !($0.isNumber || $0 == ";") }) else { break }
            if rest[m] == "m" { out += rest[..<m].split(separator: ";").compactMap { Int($0) } }
            rest = rest[m...]
        }
        return out
    }

    @Test func readOnlyLogExplainsToggles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("finetop-csv-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = dir + "/training.log.csv"
        try "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.55,1.1\n1,0.7,0.8,0.68,0.9\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let t = try TmuxSession(width: 100, height: 30)
        try t.type("\(Binary.path) watch \(csv); echo FINETOP-EXITED $?")
        try t.waitFor(text: "read-only")
        try t.keys("Space")
        try t.waitFor(text: "read-only: Keras CSVLogger CSV")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }
}

@Suite struct WatchCommandTests {
    @Test func stdoutNotATerminalSuggestsDiagnose() throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["watch", dir])
        #expect(r.status == 2)
        #expect(r.stderr.contains("finetop diagnose"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func missingPathIsOneClearLine() throws {
        // A pseudo-terminal (script) so the terminal check passes and the path check is what fails.
        let (status, text) = Spawn.run(["script", "-qec", "\(Binary.path) watch /nonexistent/run", "/dev/null"])
        #expect(status == 2)
        #expect(text.contains("/nonexistent/run"))
        #expect(text.contains("no such file or directory"))
    }
}
