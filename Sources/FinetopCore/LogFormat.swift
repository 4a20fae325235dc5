/// What a kind of log is called and what it allows; every `Run` carries the one it was read from.
public struct LogFormat: Sendable, Hashable, CustomStringConvertible {
    /// The name users see ("Keras CSVLogger CSV").
    public let name: String
    /// Whether the dashboard can steer this run by writing control.json next to it.
    public let acceptsControl: Bool
    /// The framework that writes this format, when the format alone says ("keras", "transformers",
    /// "lightning", …; otherwise the run line's `framework` tells), so advice can be named in that
    /// framework's terms.
    public let framework: String?

    public init(name: String, acceptsControl: Bool = false, framework: String? = nil) {
        self.name = name
        self.acceptsControl = acceptsControl
        self.framework = framework
    }

    /// The user-facing name (kept under the name call sites used when this was an enum).
    public var rawValue: String { name }
    public var description: String { name }
}

/// How to read logs (`--run K` picks one of several runs appended to one file).
public struct ReadOptions: Sendable, Equatable {
    /// The 1-based run to show when a file holds several; nil for the last.
    public var run: Int?
    public init(run: Int? = nil) { self.run = run }
}

/// The first bytes of a file, for formats to recognize themselves by.
public struct LogSample {
    /// The file name (last path component); names only break ties.
    public let name: String
    /// Up to 64 KB from the start, a UTF-8 byte order mark removed.
    public let head: ArraySlice<UInt8>
    /// Whether `head` is the whole file.
    public let isWholeFile: Bool

    /// `head` as text (invalid UTF-8 replaced).
    public var text: String { String(decoding: head, as: UTF8.self) }
    /// The first line, without its line end.
    public var firstLine: String {
        String(decoding: head.prefix { $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
    }
    /// The first line split as a CSV header (names trimmed).
    public var csvHeader: [String] { CSVLine.split(firstLine).map { $0.trimmingSpaces() } }
    /// The first byte that is not white space.
    public var firstNonSpace: UInt8? { head.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 } }
}

/// Reads one run now and again as it grows (only what was appended, where the format allows).
public protocol LogFollower: AnyObject {
    /// Picks up what changed on disk. Returns true when the run changed.
    func poll() throws(ReadError) -> Bool
    /// Everything read so far.
    var run: Run { get }
    /// Every file `poll()` reads (watched for changes).
    var watchedFiles: [String] { get }
}

/// One kind of log finetop reads: how to recognize it from its content, and how to read it.
/// A new format is one type conforming to this and one line in `LogFormats.all`.
public protocol LogReading: Sendable {
    /// Its name and whether it accepts control.
    static var format: LogFormat { get }
    /// The names the tool gives the file, ranked first when a directory is searched
    /// (`trainer_state.json`); a format without a fixed name has none.
    static var usualNames: [String] { get }
    /// Whether the file's first bytes are this format. Asked in `LogFormats.all` order.
    static func recognizes(_ sample: LogSample) -> Bool
    /// A reader for `path`; the first `poll()` reads what is there. `followLinks` is false for a
    /// file found inside a directory (never follow a link planted there).
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower
    /// A binary format is asked before text formats refuse binary content.
    static var isBinary: Bool { get }
}

extension LogReading {
    static var isBinary: Bool { false }
}

/// Every format finetop reads, in the order content detection asks them (most specific first).
public enum LogFormats {
    public static let all: [any LogReading.Type] = [
        TensorBoardLog.self,
        EventsLog.self,
        TrainerStateLog.self,
        NotebookLog.self,
        KerasHistoryLog.self,
        LightningCSVLog.self,
        UltralyticsCSVLog.self,
        FastaiCSVLog.self,
        KerasCSVLog.self,
        PandasHistoryCSVLog.self,
        PrintedLog.self,
    ]

    /// The format whose name is `name`, e.g. for a `Run` read back.
    public static func named(_ name: String) -> (any LogReading.Type)? {
        all.first { $0.format.name == name }
    }

    /// What to do to steer layers from the dashboard (read-only logs say it).
    public static let helperHint = "to steer layers, one line: `finetop.keras.fit(model, …)` for `model.fit(…)` "
        + "(after `import finetop.keras`; PyTorch: `finetop.torch.Tracker`)"

    /// "a finetop run directory (events.jsonl), a Keras CSVLogger CSV, …": for error messages.
    static var expected: String {
        "expected " + all.map { "a " + $0.format.name }.joined(separator: ", ")
    }
}

/// The finetop run format: events.jsonl in a run directory, steerable through control.json.
enum EventsLog: LogReading {
    static let format = LogFormat(name: "finetop events.jsonl", acceptsControl: true)
    static let usualNames = [RunFiles.events]
    static func recognizes(_ sample: LogSample) -> Bool {
        guard sample.firstNonSpace != nil else { return true }   // an empty file is a run not started
        guard sample.firstNonSpace == UInt8(ascii: "{") else { return false }
        let first = Array(sample.head.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D }.prefix { $0 != 0x0A })
        if case .success(let v) = first.withUnsafeBufferPointer({ JSONParser.parse($0) }) { return v["type"]?.string != nil }
        return sample.name.hasSuffix(".jsonl") && sample.text.contains("\"type\"") && !sample.text.contains("\"history\"")
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        EventsFollower(path: path, format: format, followLinks: followLinks)
    }
}

extension LogFormat {
    /// A finetop run directory: its events.jsonl, control.json beside it.
    public static let runDirectory = LogFormat(name: "run directory", acceptsControl: true)
    public static var eventsFile: LogFormat { EventsLog.format }
}

/// events.jsonl read with `EventsReader` (appended lines only).
final class EventsFollower: LogFollower {
    let reader: EventsReader
    init(path: String, format: LogFormat, followLinks: Bool) {
        reader = EventsReader(path: path, format: format, followLinks: followLinks)
    }
    func poll() throws(ReadError) -> Bool { try reader.poll() }
    var run: Run { reader.run }
    var watchedFiles: [String] { [reader.path] }
}
