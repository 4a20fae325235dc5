/// A run directory as `finetop run` makes it: events.jsonl once the job uses a finetop helper,
/// and until then (or for a job never changed for finetop) the job's printed output, output.log,
/// read as a `PrintedLog` (Keras progress, Hugging Face log dicts, Lightning bars). Inside the
/// directory, links are never followed.
public final class RunDirectoryReader {
    public let directory: String
    private let events: EventsReader
    private var printed: LogFollower?
    /// True while the run shown comes from output.log (the job writes no events.jsonl).
    public private(set) var fromOutput = false

    public init(directory: String) {
        self.directory = directory
        events = EventsReader(path: directory + "/" + RunFiles.events, format: .runDirectory, followLinks: false)
    }

    public var run: Run {
        if fromOutput, let printed { return printed.run }
        return events.run
    }

    /// Reads what is new. Returns true when the run changed.
    public func poll() throws(ReadError) -> Bool {
        if RunLoader.linkMode(events.path) != nil {
            let switched = fromOutput
            fromOutput = false
            return try events.poll() || switched
        }
        let output = directory + "/" + RunFiles.output
        guard RunLoader.linkMode(output) != nil else { return false }
        if printed == nil {
            printed = PrintedLog.follower(path: output, options: ReadOptions(), followLinks: false)
        }
        guard let printed, try printed.poll() else { return false }
        let r = printed.run
        guard !r.epochs.isEmpty || r.batches.count > 0 else { return false }
        fromOutput = true
        return true
    }

    /// Why the dashboard cannot steer this run: the job prints a log but uses no finetop helper.
    public var readOnlyReason: String? {
        fromOutput ? "printed output, no finetop helper; " + LogFormats.helperHint : nil
    }
}
