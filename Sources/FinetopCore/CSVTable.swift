/// A CSV file split into a header and rows; quoted fields (RFC 4180) and CRLF line ends are handled.
struct CSVTable {
    var header: [String]
    var rows: [[String]]

    /// Splits `text`; the delimiter is the first of `,` `;` tab found in the header line.
    init?(text: String) {
        var lines = CSVTable.records(text)
        guard !lines.isEmpty else { return nil }
        let first = lines.removeFirst()
        header = first.map { $0.trimmingSpaces() }
        rows = lines.filter { !($0.count == 1 && $0[0].trimmingSpaces().isEmpty) }
    }

    static func delimiter(of headerLine: Substring) -> Character {
        for d: Character in [",", ";", "\t"] where headerLine.contains(d) { return d }
        return ","
    }

    static func records(_ text: String) -> [[String]] {
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        let headerEnd = body.firstIndex(where: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) ?? body.endIndex
        let delim = delimiter(of: body[..<headerEnd])
        var out: [[String]] = []
        var field = ""
        var record: [String] = []
        var quoted = false
        var iterator = body.makeIterator()
        var pendingQuote = false
        while let ch = iterator.next() {
            if quoted {
                if pendingQuote {
                    pendingQuote = false
                    if ch == "\"" { field.append("\""); continue }
                    quoted = false
                } else if ch == "\"" {
                    pendingQuote = true
                    continue
                } else {
                    field.append(ch)
                    continue
                }
            }
            if ch == "\"" && field.isEmpty {
                quoted = true
            } else if ch == delim {
                record.append(field)
                field = ""
            } else if ch == "\n" || ch == "\r\n" || ch == "\r" {
                record.append(field)
                out.append(record)
                record = []
                field = ""
            } else {
                field.append(ch)
            }
        }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            out.append(record)
        }
        return out
    }

    /// A cell as a number: Python's `nan`/`inf` spellings accepted, empty → nil.
    static func number(_ cell: String) -> Double? {
        let s = cell.trimmingSpaces()
        if s.isEmpty { return nil }
        switch s.lowercased() {
        case "nan": return .nan
        case "inf", "infinity", "+inf": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return Double(s)
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
