import Foundation
import Testing
import FinetopCore
@testable import FinetopTUI

/// The one key table feeds the reducer, the key bar, the help and the README.
@Suite struct KeyBindingsTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    @Test func readmeKeyTableIsTheBindingTable() {
        let table = KeyBindings.markdownTable
        #expect(Self.readme.contains(table + "\n"),
                "README.md's key table differs from KeyBindings.all; paste this under \"The dashboard\":\n\(table)")
    }

    @Test func everyActionHasAKeyAndNoKeyIsBoundTwice() {
        let bound = KeyBindings.all.flatMap { $0.keys }
        for action in Action.allCases { #expect(bound.contains { $0.action == action }, "no key for \(action)") }
        for (i, k) in bound.enumerated() {
            #expect(!bound[(i + 1)...].contains { $0.key == k.key }, "\(k.key) is bound twice")
        }
    }

    @Test func helpListsEveryBindingAndKeyBarOnlyTableEntries() {
        let s = TestRuns.state(TestRuns.overfitting(), width: 200, height: 60)
        let help = HelpOverlay.lines(s).map(\.0)
        for b in KeyBindings.all { #expect(help.contains(b.label)) }
        let (open, _) = TestRuns.press(s, [.char("?")])
        let screen = render(open).lines.joined(separator: "\n")
        for b in KeyBindings.all { #expect(screen.contains(b.help), "help lacks \(b.help)") }
        let bar = render(s).lines[59]
        for b in KeyBar.shownEntries(s, width: 196) { #expect(bar.contains((b.bar?.key ?? "") + " " + (b.bar?.text ?? ""))) }
        #expect(bar.contains("? help") && bar.contains("q quit"))
    }

    @Test func disabledKeyIsGrayInTheBarAndSaysWhyWhenPressed() throws {
        let s = TestRuns.state(TestRuns.overfitting(), width: 200, height: 60, readOnly: "a CSV log",
                               options: DashboardOptions(color: true, ascii: false))
        let buf = render(s)
        let row = buf.lines[59]
        let at = try #require(row.range(of: "space toggle")).lowerBound
        let x = row.distance(from: row.startIndex, to: at)
        #expect(buf[x, 59].style.fg == .gray)
        #expect(!buf[x, 59].style.bold)
        let m = try #require(row.range(of: "m metric")).lowerBound
        #expect(buf[row.distance(from: row.startIndex, to: m), 59].style.bold)
        let (after, effects) = TestRuns.press(s, [.char(" ")])
        #expect(effects.isEmpty)
        #expect(after.message?.text == "read-only: a CSV log" && after.message?.kind == .warning)
    }

    @Test func ctrlLRepaintsEvenWhileSearching() {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting()), [.char("/")])
        let (after, effects) = TestRuns.press(s, [.ctrl("l")])
        #expect(effects == [.repaint])
        #expect(after.searching)
    }
}
