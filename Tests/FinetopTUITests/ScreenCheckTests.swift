import Foundation
import Testing
import FinetopCore
@testable import FinetopTUI

/// Issue 11's screens: MobileNetV2, a BERT model and a 100k-layer model at 60×16, 80×24, 120×40
/// and 200×60, the cursor on the first page, in the middle and on the last page: no two layer rows
/// that read the same, no name shortened without saying so, and with the help open no piece of
/// the panes' frames or rows beside it.
@Suite struct ScreenCheckTests {
    static let sizes = [(60, 16), (80, 24), (120, 40), (200, 60)]

    static func screens() -> [(name: String, state: AppState)] {
        var out: [(name: String, state: AppState)] = []
        let models: [(String, Run)] = [("mobilenet", TestRuns.mobileNet()), ("bert", TestRuns.bert()), ("huge", TestRuns.huge())]
        for (name, run) in models {
            for (w, h) in sizes {
                var s = TestRuns.state(run, width: w, height: h, name: name)
                for cursor in [0, s.layers.count / 2, s.layers.count - 1] {
                    s.cursor = cursor
                    keepCursorVisible(&s)
                    out.append(("\(name) \(w)×\(h) at \(cursor)", s))
                }
            }
        }
        return out
    }

    /// The layer rows on screen: the first word of each row's cell (the shown name) and the row as shown.
    static func layerRows(_ lines: [String]) -> [(name: String, row: String)] {
        var out: [(name: String, row: String)] = []
        for line in lines.dropFirst(2) {
            guard !line.hasPrefix("├") else { break }
            let cell = String(line.dropFirst().prefix { $0 != "│" }.dropFirst())
            guard let name = cell.split(separator: " ").first else { break }
            out.append((String(name), cell))
        }
        return out
    }

    /// Whether `shown` is `full` shortened the way NameShortener says it is: whole, cut with `…`
    /// (what is kept is the name's start and end), or abbreviated part by part (each part a prefix
    /// of the name's part, the separators all there).
    static func honestlyShortened(_ shown: String, _ full: String) -> Bool {
        if shown == full { return true }
        if shown.contains("…") {
            let pieces = shown.split(separator: "…", omittingEmptySubsequences: false).map(String.init)
            var rest = Substring(full)
            for (i, piece) in pieces.enumerated() where !piece.isEmpty {
                // A numbered block's name may start abbreviated (`b_16_de…ise_BN`, NameShortener).
                if i == 0, !rest.hasPrefix(piece) {
                    guard abbreviation(piece, full) else { return false }
                    continue
                }
                // Known limit: at 60 columns a 5-digit layer number and its last part need 13 of
                // the name column's 12, and the end of the abbreviated path shows (`…99.m.g_proj`).
                guard let r = rest.range(of: piece) else {
                    return abbreviation(piece, full) || NameShortener.abbreviated(full, to: 0).hasSuffix(piece)
                }
                rest = rest[r.upperBound...]
            }
            return true
        }
        return abbreviation(shown, full)
    }

    static func abbreviation(_ shown: String, _ full: String) -> Bool {
        let seps: Set<Character> = [".", "_", "/", "-"]
        let a = shown.split(omittingEmptySubsequences: false) { seps.contains($0) }
        let b = full.split(omittingEmptySubsequences: false) { seps.contains($0) }
        // A shown part matches a part of the name, in order (leading parts may be left out).
        var j = 0
        for part in a {
            while j < b.count, !b[j].hasPrefix(part) { j += 1 }
            guard j < b.count else { return false }
            j += 1
        }
        return true
    }

    /// The table's title ("Layers 154", or the count alone when the name column is narrow) keeps
    /// a space before the flag column's "T" (it read "Layers 100000T" at 60 columns).
    @Test func theTableTitleNeverRunsIntoTheFlagColumn() {
        for (name, s) in Self.screens() {
            let header = render(s).lines[1]
            #expect(header.range(of: "[0-9]T ", options: .regularExpression) == nil, "\(name): \(header)")
            #expect(header.contains("\(s.layers.count)"), "\(name): the count is shown")
        }
    }

    @Test func noTwoLayerRowsReadTheSameAndNoNameIsCutSilently() {
        for (name, s) in Self.screens() {
            let rows = Self.layerRows(render(s).lines)
            #expect(rows.count > 0, "\(name): no layer rows")
            let cells = rows.map { String($0.row.dropFirst()) }   // without the cursor mark
            #expect(Set(cells).count == cells.count, "\(name): rows that read the same")
            for (i, row) in rows.enumerated() {
                let full = s.layers[s.scroll + i].name
                #expect(Self.honestlyShortened(row.name, full), "\(name): \(full) shown as \(row.name)")
            }
        }
    }

    @Test func theHelpLeavesNoFrameDebrisBesideIt() {
        for (name, s) in Self.screens() where s.cursor == 0 {
            var h = s
            h.showHelp = true
            let buf = render(h)
            guard let page = HelpOverlay.page(h, buf.area) else { continue }
            let box = page.box
            for y in max(1, box.y - 1)..<min(buf.height - 1, box.maxY + 1) {
                for x in max(1, box.x - 1)..<min(buf.width - 1, box.maxX + 1) {
                    let inBox = x >= box.x && x < box.maxX && y >= box.y && y < box.maxY
                    if !inBox { #expect(buf[x, y].text == " ", "\(name): \(buf[x, y].text) at \(x),\(y) beside the help") }
                }
            }
            // Where the cleared ring reaches the screen border, the border is straight (no tee
            // pointing into the blank). Farther away the panes go on, with their own frame.
            for y in box.y..<box.maxY {
                if box.x <= 2 { #expect(!"├┤┼".contains(buf[0, y].text), "\(name): a tee at row \(y)") }
                if box.maxX >= buf.width - 2 { #expect(!"├┤┼".contains(buf[buf.width - 1, y].text), "\(name): a tee at row \(y)") }
            }
        }
    }
}
