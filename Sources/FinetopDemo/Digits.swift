import FinetopCore

/// The 8×8 handwritten digits (UCI, CC BY 4.0): pixels scaled to 0…1, one label 0…9 per image.
public struct Digits: Sendable {
    public static let pixels = 64
    /// `count × 64`, row-major.
    public var images: [Double]
    public var labels: [Int]
    public var count: Int { labels.count }

    public init(images: [Double], labels: [Int]) {
        precondition(images.count == labels.count * Self.pixels)
        self.images = images
        self.labels = labels
    }

    /// Reads the shipped `digits.csv.gz`: 64 integers 0…16 then the label, per line.
    public static func load(from path: String) throws(DemoError) -> Digits {
        let compressed: [UInt8]
        do { compressed = try FileSystem.readFile(path, limit: 16 << 20) } catch { throw DemoError(error.description) }
        let text: [UInt8]
        do { text = try Gzip.decompress(compressed) } catch { throw DemoError("\(path): \(error)") }
        return try parse(csv: text, path: path)
    }

    static func parse(csv: [UInt8], path: String) throws(DemoError) -> Digits {
        var images: [Double] = []
        var labels: [Int] = []
        var row: [Int] = []
        var value = 0
        var inNumber = false
        var line = 1
        for byte in csv {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                inNumber = true
            case UInt8(ascii: ","), UInt8(ascii: "\n"):
                guard inNumber else { throw DemoError("\(path): line \(line) has an empty field") }
                row.append(value)
                value = 0
                inNumber = false
                if byte == UInt8(ascii: "\n") {
                    try append(row, to: &images, &labels, line: line, path: path)
                    row.removeAll(keepingCapacity: true)
                    line += 1
                }
            case UInt8(ascii: "\r"):
                continue
            default:
                throw DemoError("\(path): line \(line) has an unexpected character")
            }
        }
        if inNumber {
            row.append(value)
            try append(row, to: &images, &labels, line: line, path: path)
        }
        guard !labels.isEmpty else { throw DemoError("\(path): no digits in the file") }
        return Digits(images: images, labels: labels)
    }

    private static func append(_ row: [Int], to images: inout [Double], _ labels: inout [Int],
                               line: Int, path: String) throws(DemoError) {
        guard row.count == pixels + 1, let label = row.last, (0...9).contains(label),
              row.dropLast().allSatisfy({ $0 <= 16 })
        else { throw DemoError("\(path): line \(line) is not 64 pixels 0…16 and a label 0…9") }
        images.append(contentsOf: row.dropLast().map { Double($0) / 16 })
        labels.append(label)
    }

    /// The images whose label passes `keep`, relabelled by `relabel` (e.g. 5…9 → 0…4).
    public func subset(where keep: (Int) -> Bool, relabel: (Int) -> Int = { $0 }) -> Digits {
        var picked = rows((0..<count).filter { keep(labels[$0]) })
        picked.labels = picked.labels.map(relabel)
        return picked
    }

    /// These rows, in this order.
    public func rows(_ indices: some Sequence<Int>) -> Digits {
        var images: [Double] = []
        var labels: [Int] = []
        for i in indices {
            images.append(contentsOf: self.images[i * Self.pixels..<(i + 1) * Self.pixels])
            labels.append(self.labels[i])
        }
        return Digits(images: images, labels: labels)
    }
}

/// Why the demo could not run; the message says what to do.
public struct DemoError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
