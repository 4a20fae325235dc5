/// What Keras 3's `model.summary()` shows besides the layer rows: the model's own name, the
/// optimizer's variables and, for a functional model that is not a plain chain, the "Connected to"
/// column. Read from the `model` line (`name`, `optimizer_params`, `optimizer_bytes`, rows'
/// `connected_to`); everything is optional, older logs simply lack it.
public struct KerasModelDetails: Sendable, Equatable {
    /// `model.name` ("sequential", "functional", "mobilenetv2_1.00_224").
    public var name: String?
    /// Scalars in the optimizer's variables once it is built (Keras's "Optimizer params").
    public var optimizerParams: Int?
    /// Their size in bytes as Keras sizes them (by dtype), when the job says; else 4 bytes each.
    public var optimizerBytes: Int?
    /// Row name → Keras's "Connected to" text (`input_layer[0][0]`), for rows that carry it.
    public var connectedTo: [String: String] = [:]

    public init(name: String? = nil, optimizerParams: Int? = nil, optimizerBytes: Int? = nil,
                connectedTo: [String: String] = [:]) {
        self.name = name
        self.optimizerParams = optimizerParams
        self.optimizerBytes = optimizerBytes
        self.connectedTo = connectedTo
    }

    /// Whether Keras prints the "Connected to" column: the job reported connections, which the
    /// helper does only for a functional model that is not a plain chain of layers.
    public var showsConnections: Bool { !connectedTo.isEmpty }

    /// The details in one parsed `model` line; fields of the wrong type are ignored.
    public init(modelLine v: JSONValue) {
        name = v["name"]?.string
        optimizerParams = v["optimizer_params"]?.int.flatMap { $0 >= 0 ? $0 : nil }
        optimizerBytes = v["optimizer_bytes"]?.int.flatMap { $0 >= 0 ? $0 : nil }
        for item in v["layers"]?.array ?? [] {
            if let row = item["name"]?.string, let text = item["connected_to"]?.string { connectedTo[row] = text }
        }
    }

    /// The details of the `model` line with this revision (the last such line) in an events.jsonl;
    /// nil when there is none. Only lines that mention `"model"` are parsed.
    public static func latest(inEventsFile path: String, revision: Int) throws(ReadError) -> KerasModelDetails? {
        let bytes = try FileSystem.readFile(path)
        var end = bytes.count
        let needle = Array("\"model\"".utf8)
        while end > 0 {
            var start = end - 1
            while start > 0 && bytes[start - 1] != 0x0A { start -= 1 }
            let line = bytes[start..<end]
            if contains(line, needle), let value = try? JSONParser.parse(String(decoding: line, as: UTF8.self)),
               value["type"]?.string == "model", value["revision"]?.int == revision {
                return KerasModelDetails(modelLine: value)
            }
            end = start > 0 ? start - 1 : 0
        }
        return nil
    }

    private static func contains(_ hay: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count, let first = needle.first else { return false }
        var i = hay.startIndex
        while i <= hay.endIndex - needle.count {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

/// How to lay out a summary: Keras's `summary()` arguments and the terminal.
public struct KerasSummaryOptions: Sendable, Equatable {
    /// Keras's `line_length`; nil takes Keras's default for the model, capped at `consoleWidth - 4`.
    public var lineLength: Int?
    /// The terminal's width (rich crops and wraps at it; 80 when not a terminal and no COLUMNS).
    public var consoleWidth: Int
    /// `expand_nested=True`: the layers inside nested models as `└ ` rows.
    public var expandNested: Bool
    /// `show_trainable=True`: the Trainable column.
    public var showTrainable: Bool

    public init(lineLength: Int? = nil, consoleWidth: Int = 80, expandNested: Bool = false, showTrainable: Bool = false) {
        self.lineLength = lineLength
        self.consoleWidth = consoleWidth
        self.expandNested = expandNested
        self.showTrainable = showTrainable
    }
}

/// The text of Keras 3's `model.summary()` (keras/src/utils/summary_utils.py), drawn the way rich
/// draws its table: the same column widths, word wrapping, "…" truncation and box characters, so
/// `finetop summary` can be held line by line next to what Keras printed.
public enum KerasSummary {
    /// One row of the table, before layout.
    struct Row {
        var cells: [String]
    }

    /// The summary's lines (no trailing newline), plain text.
    public static func lines(_ table: LayerTable, details: KerasModelDetails, fallbackName: String,
                             options: KerasSummaryOptions) -> [String] {
        let connections = details.showsConnections
        var positions: [Double]
        var header: [String]
        var justify: [Justify]
        var defaultLength: Int
        if connections {
            defaultLength = 108
            positions = [0.3, 0.56, 0.74, 1.0]
            header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
            justify = [.left, .left, .right, .left]
        } else {
            defaultLength = 88
            positions = [0.45, 0.80, 1.0]
            header = ["Layer (type)", "Output Shape", "Param #"]
            justify = [.left, .left, .right]
        }
        if options.showTrainable {
            defaultLength += 12
            positions = positions.map { $0 * 0.90 } + [1.0]
            header.append("Trainable")
            justify.append(.center)
        }
        defaultLength = min(defaultLength, options.consoleWidth - 4)
        var lineLength = options.lineLength ?? defaultLength
        // Keras refuses a column under 4 characters ("Insufficient console width"); finetop widens
        // the table instead and lets the terminal crop it, as rich does with a too-wide table.
        var widths = columnWidths(positions, lineLength)
        while widths == nil && lineLength < 10_000 {
            lineLength += 1
            widths = columnWidths(positions, lineLength)
        }
        let columnWidths = widths ?? positions.map { _ in 4 }

        var rows: [Row] = []
        for layer in table.layers {
            // A nested model is one row (with all its params) unless expanded.
            if !options.expandNested && layer.depth > 0 { continue }
            let ownName = layer.depth > 0 ? lastComponent(layer.name, depth: layer.depth) : layer.name
            let prefix = layer.depth > 0 ? String(repeating: "   ", count: layer.depth) + "└ " : ""
            var cells = [prefix + DisplayText.neutralize(ownName) + " (" + DisplayText.neutralize(layer.className) + ")",
                         DisplayText.neutralize(layer.shape), KerasFormat.count(layer.params)]
            if connections {
                let text = layer.depth == 0 ? details.connectedTo[layer.name] ?? "-" : "-"
                cells.append(DisplayText.neutralize(text))
            }
            if options.showTrainable { cells.append(layer.hasWeights ? (layer.trainable ? "Y" : "N") : "-") }
            rows.append(Row(cells: cells))
        }
        let name = DisplayText.neutralize(details.name ?? fallbackName)
        var out = wrapPrinted("Model: \"\(name)\"", width: options.consoleWidth)
        out += RichTable(header: header, justify: justify, widths: columnWidths, lineLength: lineLength)
            .render(rows).map { crop($0, to: options.consoleWidth) }
        for line in totalLines(table.totals, details: details) {
            out += wrapPrinted(line, width: options.consoleWidth)
        }
        return out
    }

    /// The three (four once the optimizer is built) lines under the table, with Keras's sums:
    /// Total = trainable + non-trainable + optimizer params.
    public static func totalLines(_ totals: ParamTotals, details: KerasModelDetails) -> [String] {
        let optimizer = details.optimizerParams
        // Keras sizes every variable by its dtype; without the job's count, 4 bytes each (float32).
        let optimizerBytes = optimizer.map { n in details.optimizerBytes ?? 4 * n } ?? 0
        let total = totals.trainable + totals.nonTrainable + (optimizer ?? 0)
        let totalBytes = Double(totals.trainable + totals.nonTrainable) * 4 + Double(optimizerBytes)
        var lines = [
            " Total params: \(KerasFormat.count(total)) (\(KerasFormat.memory(bytes: totalBytes)))",
            " Trainable params: \(KerasFormat.count(totals.trainable)) (\(KerasFormat.memory(params: totals.trainable)))",
            " Non-trainable params: \(KerasFormat.count(totals.nonTrainable)) (\(KerasFormat.memory(params: totals.nonTrainable)))",
        ]
        if let optimizer {
            lines.append(" Optimizer params: \(KerasFormat.count(optimizer)) (\(KerasFormat.memory(bytes: Double(optimizerBytes))))")
        }
        return lines
    }

    /// `int(pos * line_length) - current` per column, as Keras computes them; nil when one is under 4.
    static func columnWidths(_ positions: [Double], _ lineLength: Int) -> [Int]? {
        var widths: [Int] = []
        var current = 0
        for p in positions {
            let width = Int((p * Double(lineLength)).rounded(.towardZero)) - current
            if width < 4 { return nil }
            widths.append(width)
            current += width
        }
        return widths
    }

    /// The row's own layer name: the last `depth + 1`th part of `outer/inner` (Keras names contain no `/`).
    static func lastComponent(_ name: String, depth: Int) -> String {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > depth else { return name }
        return parts.suffix(parts.count - depth).joined(separator: "/")
    }

    /// What `console.print(text)` does with a line wider than the console: fold it at words.
    static func wrapPrinted(_ text: String, width: Int) -> [String] {
        let chars = Array(text)
        guard width > 0, CellText.width(chars) > width else { return [text] }
        return RichText.wrap(chars, width: width, justify: .none, overflow: .fold).map { String($0) }
    }

    /// Rich crops every printed line at the console's width.
    static func crop(_ line: String, to width: Int) -> String {
        let chars = Array(line)
        guard CellText.width(chars) > width else { return line }
        return String(CellText.setSize(chars, width))
    }
}

/// rich's `justify` for a cell's text.
enum Justify {
    case none, left, center, right
}

/// rich's `overflow` for a cell's text.
enum Overflow {
    case ellipsis, fold
}

/// A rich `Table(width=line_length, show_lines=True)` with fixed column widths and the HEAVY_HEAD box.
struct RichTable {
    var header: [String]
    var justify: [Justify]
    /// The width Keras gives each column (before rich adds one space of padding on each side).
    var widths: [Int]
    var lineLength: Int

    /// The width of each column including padding, after rich fits them into the table's width.
    var fittedWidths: [Int] {
        let extra = 2 + (widths.count - 1)
        let maxWidth = lineLength - extra
        guard maxWidth >= 1 else { return widths.map { _ in 0 } }
        var w = widths.map { min($0 + 2, maxWidth) }
        let sum = w.reduce(0, +)
        if sum > maxWidth {
            // No column may wrap (all have a fixed width): rich reduces them evenly.
            w = Self.ratioReduce(sum - maxWidth, ratios: w.map { _ in 1 }, maximums: w, values: w)
        }
        return w
    }

    /// rich's `ratio_reduce`, with Python's round-half-to-even.
    static func ratioReduce(_ total: Int, ratios: [Int], maximums: [Int], values: [Int]) -> [Int] {
        let ratios = zip(ratios, maximums).map { $1 != 0 ? $0 : 0 }
        var totalRatio = ratios.reduce(0, +)
        guard totalRatio > 0 else { return values }
        var remaining = total
        var result: [Int] = []
        for (i, value) in values.enumerated() {
            let ratio = ratios[i]
            if ratio != 0 && totalRatio > 0 {
                let share = (Double(ratio) * Double(remaining) / Double(totalRatio)).rounded(.toNearestOrEven)
                let distributed = min(maximums[i], Int(share))
                result.append(value - distributed)
                remaining -= distributed
                totalRatio -= ratio
            } else {
                result.append(value)
            }
        }
        return result
    }

    func render(_ rows: [KerasSummary.Row]) -> [String] {
        let w = fittedWidths
        func rule(_ left: String, _ fill: String, _ cross: String, _ right: String) -> String {
            left + w.map { String(repeating: fill, count: $0) }.joined(separator: cross) + right
        }
        func line(_ cells: [String], bar: String) -> [String] {
            let rendered = cells.enumerated().map { i, text in
                RichText.cell(text, width: max(0, w[i] - 2), justify: justify[i], overflow: .ellipsis)
            }
            let height = rendered.map(\.count).max() ?? 1
            return (0..<height).map { k in
                bar + rendered.enumerated().map { i, lines in
                    let content = k < lines.count ? lines[k] : String(repeating: " ", count: max(0, w[i] - 2))
                    return w[i] >= 2 ? " " + content + " " : String(content.prefix(w[i]))
                }.joined(separator: bar) + bar
            }
        }
        var out = [rule("┏", "━", "┳", "┓")]
        out += line(header, bar: "┃")
        out.append(rule("┡", "━", "╇", "┩"))
        for (k, row) in rows.enumerated() {
            out += line(row.cells, bar: "│")
            if k < rows.count - 1 { out.append(rule("├", "─", "┼", "┤")) }
        }
        out.append(rule("└", "─", "┴", "┘"))
        return out
    }
}

/// rich's `Text.wrap` for one cell: words (`\s*\S+\s*`) kept whole where they fit, a word longer
/// than the line on a line of its own, then justified and truncated with "…" (or folded).
enum RichText {
    /// The cell's lines, each exactly `width` cells wide.
    static func cell(_ text: String, width: Int, justify: Justify, overflow: Overflow) -> [String] {
        var out: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            for line in wrap(Array(paragraph), width: width, justify: justify, overflow: overflow) {
                let pad = max(0, width - CellText.width(line))
                out.append(String(line) + String(repeating: " ", count: pad))
            }
        }
        return out
    }

    static func wrap(_ text: [Character], width: Int, justify: Justify, overflow: Overflow) -> [[Character]] {
        let breaks = divideLine(text, width: width, fold: overflow == .fold)
        var lines: [[Character]] = []
        var start = 0
        for b in breaks + [text.count] {
            lines.append(Array(text[start..<b]))
            start = b
        }
        return lines.map { line in
            var l = rstripEnd(line, width)
            switch justify {
            case .none:
                l = truncate(l, width, overflow)
            case .left:
                l = truncate(l, width, overflow)
                l += Array(repeating: " ", count: max(0, width - CellText.width(l)))
            case .center:
                l = truncate(rstrip(l), width, overflow)
                let left = (width - CellText.width(l)) / 2
                l = Array(repeating: " ", count: max(0, left)) + l
                l += Array(repeating: " ", count: max(0, width - CellText.width(l)))
            case .right:
                l = truncate(rstrip(l), width, overflow)
                l = Array(repeating: " ", count: max(0, width - CellText.width(l))) + l
            }
            return truncate(l, width, overflow)
        }
    }

    /// rich's `divide_line`: the character offsets to break a line at.
    static func divideLine(_ text: [Character], width: Int, fold: Bool) -> [Int] {
        var breaks: [Int] = []
        var offset = 0
        for (start, end) in words(text) {
            let word = Array(text[start..<end])
            let wordLength = CellText.width(rstrip(word))
            if width - offset >= wordLength {
                offset += CellText.width(word)
            } else if wordLength > width {
                if fold {
                    var s = start
                    let pieces = CellText.chop(word, width)
                    for (k, piece) in pieces.enumerated() {
                        if s > 0 { breaks.append(s) }
                        if k == pieces.count - 1 { offset = CellText.width(piece) } else { s += piece.count }
                    }
                } else {
                    if start > 0 { breaks.append(start) }
                    offset = CellText.width(word)
                }
            } else if offset > 0 && start > 0 {
                breaks.append(start)
                offset = CellText.width(word)
            }
        }
        return breaks
    }

    /// Spans of `\s*\S+\s*`, matched one after another from the start.
    static func words(_ text: [Character]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var i = 0
        while i < text.count {
            let start = i
            while i < text.count && text[i].isWhitespace { i += 1 }
            guard i < text.count else { break }
            while i < text.count && !text[i].isWhitespace { i += 1 }
            while i < text.count && text[i].isWhitespace { i += 1 }
            out.append((start, i))
        }
        return out
    }

    static func rstrip(_ s: [Character]) -> [Character] {
        var s = s
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }

    /// Removes trailing whitespace that lies beyond `size` characters.
    static func rstripEnd(_ s: [Character], _ size: Int) -> [Character] {
        guard s.count > size else { return s }
        let excess = s.count - size
        var trailing = 0
        while trailing < s.count && s[s.count - 1 - trailing].isWhitespace { trailing += 1 }
        return Array(s.dropLast(min(trailing, excess)))
    }

    static func truncate(_ s: [Character], _ width: Int, _ overflow: Overflow) -> [Character] {
        guard CellText.width(s) > width else { return s }
        switch overflow {
        case .ellipsis: return CellText.setSize(s, max(0, width - 1)) + ["…"]
        case .fold: return CellText.setSize(s, width)
        }
    }
}

/// Terminal cell widths the way rich counts them (wide East Asian characters take two cells).
enum CellText {
    static func width(_ c: Character) -> Int {
        guard let s = c.unicodeScalars.first else { return 0 }
        let v = s.value
        if v < 0x300 { return v < 0x20 || (0x7F..<0xA0).contains(v) ? 0 : 1 }
        if s.properties.generalCategory == .nonspacingMark || s.properties.generalCategory == .enclosingMark
            || v == 0x200B || v == 0x200C || v == 0x200D || v == 0x200E || v == 0x200F || v == 0xFEFF { return 0 }
        switch v {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    static func width<S: Sequence>(_ s: S) -> Int where S.Element == Character { s.reduce(0) { $0 + width($1) } }

    /// rich's `set_cell_size`: crop (a split wide character becomes a space) or pad to `size` cells.
    static func setSize(_ s: [Character], _ size: Int) -> [Character] {
        var out: [Character] = []
        var used = 0
        for c in s {
            let w = width(c)
            if used + w > size {
                if used < size { out.append(" "); used += 1 }
                break
            }
            out.append(c)
            used += w
        }
        while used < size { out.append(" "); used += 1 }
        return out
    }

    /// rich's `chop_cells`: pieces of at most `width` cells.
    static func chop(_ s: [Character], _ size: Int) -> [[Character]] {
        var pieces: [[Character]] = [[]]
        var used = 0
        for c in s {
            let w = width(c)
            if used + w > size && !(pieces[pieces.count - 1].isEmpty) {
                pieces.append([])
                used = 0
            }
            pieces[pieces.count - 1].append(c)
            used += w
        }
        return pieces
    }
}
