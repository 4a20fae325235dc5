/// Cell helpers shared by the CSV formats (`CSVFormats.swift`).
enum CSVTable {
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
