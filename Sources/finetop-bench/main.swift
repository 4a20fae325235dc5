// The benchmark: load speed of the run-format reader, and frame time of the dashboard.
//
//     swift run -c release finetop-bench [--events N] [--file PATH] [--keep]
//     swift run -c release finetop-bench --tensorboard [--events N]
//     swift run -c release finetop-bench --printed [--mb 100]
//
// With --file naming an existing file, that file is loaded as it is (nothing is generated).
//
// It writes N events (default 1,000,000: batch lines, one epoch line per 1,000) the way Python's
// json.dumps writes them, loads them with the same reader the dashboard uses, and prints MB/s,
// events/s and bytes per stored point. If a Python with orjson is found (FINETOP_PYTHON, .venv,
// python3) it times orjson.loads over the same lines for comparison.
//
// With --tensorboard it writes N scalars to a TensorBoard event file instead (PyTorch's
// SummaryWriter layout: `Loss/train` every step, `Loss/val` and `Accuracy/val` every 1,000),
// loads the logdir with finetop's reader, and times TensorBoard's own EventAccumulator
// (size_guidance scalars=0, Reload()) on the same file with a Python that has `tensorboard`.
import FinetopCore
import FinetopTUI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var events = 1_000_000
    var file: String?
    var keep = false
    var tensorBoard = false
    var printed = false
    var megabytes = 100
    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let a = it.next() {
            switch a {
            case "--events": events = Int(it.next() ?? "") ?? events
            case "--file": file = it.next()
            case "--keep": keep = true
            case "--tensorboard": tensorBoard = true
            case "--printed": printed = true
            case "--mb": megabytes = Int(it.next() ?? "") ?? megabytes
            default:
                print("usage: finetop-bench [--events N] [--file PATH] [--keep] [--tensorboard] [--printed [--mb N]]")
                exit(2)
            }
        }
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func maxRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

/// Python-like lines: `json.dumps` separators and shortest round-trip floats.
func generate(_ path: String, events: Int) throws -> Int {
    var rng = SplitMix(seed: 42)
    FileManager.default.createFile(atPath: path, contents: nil)
    guard let h = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
    var out = ""
    out.reserveCapacity(8 << 20)
    var bytes = 0
    var epoch = 0
    out += #"{"type": "run", "version": 1, "framework": "bench", "framework_version": "1", "run_id": "bench", "started": 1763900000, "hparams": {"epochs": \#(events / 1000)}}"# + "\n"
    for i in 0..<events {
        let loss = 2.0 * exp(-Double(i) / Double(events) * 3) + rng.unit() * 0.1
        if i % 1000 == 999 {
            out += #"{"type": "epoch", "epoch": \#(epoch), "step": \#(i), "loss": \#(loss), "val_loss": \#(loss * 1.1 + rng.unit() * 0.01), "metrics": {"accuracy": \#(rng.unit()), "val_accuracy": \#(rng.unit())}, "time": \#(Double(i) * 0.01)}"# + "\n"
            epoch += 1
        } else {
            out += #"{"type": "batch", "epoch": \#(epoch), "step": \#(i), "loss": \#(loss), "metrics": {"accuracy": \#(rng.unit())}}"# + "\n"
        }
        if out.utf8.count > 4 << 20 {
            bytes += out.utf8.count
            h.write(out.data(using: .utf8) ?? Data())
            out.removeAll(keepingCapacity: true)
        }
    }
    bytes += out.utf8.count
    h.write(out.data(using: .utf8) ?? Data())
    h.closeFile()
    return bytes
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

func findPython(importing module: String = "orjson") -> String? {
    var candidates: [String] = []
    if let p = ProcessInfo.processInfo.environment["FINETOP_PYTHON"] { candidates.append(p) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    candidates += [root + "/.venv/bin/python", "/usr/bin/python3", "/usr/local/bin/python3"]
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: c)
        p.arguments = ["-c", "import " + module]
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        if p.terminationStatus == 0 { return c }
    }
    return nil
}

func orjsonSeconds(python: String, file: String) -> Double? {
    let script = """
        import orjson, time
        t = time.perf_counter()
        n = 0
        with open(\(JSONText.string(file)), "rb") as f:
            for line in f:
                orjson.loads(line)
                n += 1
        print(time.perf_counter() - t)
        """
    return pythonSeconds(python: python, script: script)
}

/// Runs a Python script that prints a number of seconds on its last line.
func pythonSeconds(python: String, script: String) -> Double? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-c", script]
    let pipe = Pipe()
    p.standardOutput = pipe
    do { try p.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}

let options = Options(CommandLine.arguments)
if options.printed {
    try printedLogBenchmark(megabytes: options.megabytes, keep: options.keep)
    exit(0)
}
if options.tensorBoard {
    try tensorBoardBenchmark(scalars: options.events, keep: options.keep)
    exit(0)
}
let path = options.file ?? NSTemporaryDirectory() + "finetop-bench-\(getpid())/events.jsonl"
try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
let bytes: Int
if let existing = options.file, let attrs = try? FileManager.default.attributesOfItem(atPath: existing),
   let size = attrs[.size] as? Int, size > 0 {
    bytes = size   // reuse a file made before (or a real log) as it is
} else {
    print("generating \(options.events) events…")
    bytes = try generate(path, events: options.events)
}
let mb = Double(bytes) / 1e6

// Warm the page cache so both readers measure parsing, not the disk.
if let h = FileHandle(forReadingAtPath: path) {
    while let chunk = try? h.read(upToCount: 4 << 20), !chunk.isEmpty {}
    try? h.close()
}

let rssBefore = maxRSSBytes()
var best = Double.infinity
var run = Run(format: .eventsFile)
for _ in 0..<3 {
    run = Run(format: .eventsFile)   // the previous load's memory goes before the next one
    let t0 = now()
    let reader = EventsReader(path: path)
    try reader.poll()
    run = reader.run
    best = min(best, now() - t0)
}
let points = run.batches.count + run.batches.metrics.values.reduce(0) { $0 + $1.count }
let stored = run.batches.steps.count * 8 + run.batches.epochs.count * 4 + run.batches.loss.count * 8
    + run.batches.metrics.values.reduce(0) { $0 + $1.count * 8 }
let events = run.batches.count + run.epochs.count
print(String(format: "load:   %.1f MB, %d events in %.3f s  →  %.0f MB/s, %.2f M events/s", mb, events, best, mb / best, Double(events) / best / 1e6))
print("        \(run.batches.count) batch points, \(run.epochs.count) epochs, \(run.skippedLines) skipped lines")
// What the loaded run keeps: the columns' allocated capacity, slack included.
let heapKept = run.batches.steps.capacity * 8 + run.batches.epochs.capacity * 4 + run.batches.loss.capacity * 8
    + run.batches.metricColumns.reduce(0) { $0 + $1.capacity * 8 }
print(String(format: "memory: %.1f bytes per stored point in columns (%d values, %.1f MB); with their spare capacity %.1f MB = %.1f bytes per point",
             Double(stored) / Double(max(points, 1)), points, Double(stored) / 1e6, Double(heapKept) / 1e6, Double(heapKept) / Double(max(points, 1))))
print(String(format: "        max RSS grew %.1f MB while loading (peak: both halves' columns before they are joined, and two 4 MB read buffers)", Double(maxRSSBytes() - rssBefore) / 1e6))
if let python = findPython(), let t = orjsonSeconds(python: python, file: path) {
    print(String(format: "orjson: %.3f s (%.0f MB/s) for the same lines one by one  →  finetop is %.1f× faster", t, mb / t, t / best))
} else {
    print("orjson: no Python with orjson found (set FINETOP_PYTHON); comparison skipped")
}
// Frames: a full 200×60 dashboard over the same run (1M batch points in the chart's background).
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
var t0 = now()
var state = AppState(run: run, runName: "bench", readOnlyReason: nil, control: nil,
                     options: DashboardOptions(color: true, ascii: false), width: 200, height: 60)
let stateSeconds = now() - t0
t0 = now()
_ = render(state)
let cold = now() - t0
var warm: [Double] = []
for _ in 0..<50 {
    t0 = now()
    _ = render(state)
    warm.append(now() - t0)
}
// A live update: 100 more batch lines and an epoch arrive, then the next frame.

var grown = run
for k in 0..<100 { grown.batches.append(epoch: run.epochs.count, step: run.batches.count + k, loss: 0.5) }
var updates: [Double] = []
var updateRenders: [Double] = []
for _ in 0..<10 {
    t0 = now()
    let (next, _) = reduce(state, .runUpdated(grown, lastWrite: nil))
    let mid = now()
    _ = render(next)
    updates.append(mid - t0)
    updateRenders.append(now() - mid)
    state = next
}

print(String(format: "frame:  200×60 with %d batch points: first %.1f ms (state %.1f ms incl. diagnosis), then %.2f ms median (max %.2f ms)",
             run.batches.count, cold * 1e3, stateSeconds * 1e3, median(warm) * 1e3, (warm.max() ?? 0) * 1e3))
print(String(format: "update: new lines → state %.2f ms (diagnosis of %d epochs included) + frame %.2f ms (medians)",
             median(updates) * 1e3, run.epochs.count, median(updateRenders) * 1e3))

if !options.keep && options.file == nil { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
