#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Follows a TensorBoard logdir (or one event file): the event files in it and in its
/// sub-directories (Keras's `train/` and `validation/`, torch's `add_scalars` runs), each read
/// incrementally; a new event file is picked up on the next poll. Files of one directory are
/// read in name order, which is creation order (the name starts with the creation time).
final class TensorBoardLogdir {
    let path: String
    private let singleFile: Bool
    private var files: [(run: String, reader: TensorBoardEventFile, tags: [String: Int])] = []
    private var scalars = TensorBoardScalars()
    private var builder = TensorBoardRunBuilder()
    var run: Run { builder.run }
    private var built = false
    private var unreadable: Set<String> = []

    static let maxDepth = 2
    static let maxFiles = 2000
    /// Above this many event files, each is reopened per poll instead of kept open.
    static let maxOpenFiles = 64

    init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
        singleFile = !FileSystem.isDirectory(p)
    }

    /// Whether a file name is an event file's (`events.out.tfevents.<time>.<host>…`).
    static func isEventFileName(_ name: String) -> Bool {
        name.contains("tfevents")
    }

    /// Whether `dir` holds event files itself or in Keras's `train/` / `validation/`.
    static func holdsEventFiles(_ dir: String) -> Bool {
        for sub in ["", "/train", "/validation"] {
            if listDirectory(dir + sub).contains(where: { isEventFileName($0.name) && !$0.isDirectory }) { return true }
        }
        return false
    }

    static func listDirectory(_ dir: String) -> [(name: String, isDirectory: Bool)] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [(String, Bool)] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            var st = stat()
            guard stat(dir + "/" + name, &st) == 0 else { continue }
            out.append((name, (st.st_mode & S_IFMT) == S_IFDIR))
        }
        return out
    }

    /// Event files under the logdir as (run, path), runs relative to it, sorted.
    private func discover() -> [(run: String, path: String)] {
        if singleFile { return [("", path)] }
        var found: [(run: String, path: String)] = []
        func walk(_ dir: String, run: String, depth: Int) {
            for entry in Self.listDirectory(dir).sorted(by: { $0.name < $1.name }) {
                guard found.count < Self.maxFiles else { return }
                let full = dir + "/" + entry.name
                if entry.isDirectory {
                    if depth < Self.maxDepth { walk(full, run: run.isEmpty ? entry.name : run + "/" + entry.name, depth: depth + 1) }
                } else if Self.isEventFileName(entry.name) {
                    found.append((run, full))
                }
            }
        }
        walk(path, run: "", depth: 0)
        return found.sorted { ($0.run, $0.path) < ($1.run, $1.path) }
    }

    /// Reads what was appended to the event files and picks up new ones. Returns true when the
    /// run changed.
    @discardableResult
    func poll() throws(ReadError) -> Bool {
        if !singleFile && !FileSystem.isDirectory(path) {
            throw ReadError(path: path, problem: FileSystem.exists(path) ? "is no longer a directory" : "no such file or directory")
        }
        let found = discover()
        var changed = !built
        var known = Set(files.map(\.reader.path))
        for f in found where !known.contains(f.path) {
            // A new file that sorts before one already read changes the order restarts are merged in.
            if let last = files.last(where: { $0.run == f.run }), last.reader.path > f.path {
                reset()
                return try poll()
            }
            files.append((f.run, TensorBoardEventFile(path: f.path, followLinks: singleFile), [:]))
            known.insert(f.path)
        }
        files.sort { ($0.run, $0.reader.path) < ($1.run, $1.reader.path) }
        let revisionBefore = scalars.revision
        guard try readAppended() else {
            reset()
            return try poll()
        }
        if scalars.revision != revisionBefore { changed = true }
        if changed {
            // Only what was appended was read; the run is extended in place where it can be.
            builder.update(from: scalars)
            built = true
        }
        return changed
    }

    /// Reads every file's new records; false when a file was replaced and all must be read again.
    private func readAppended() throws(ReadError) -> Bool {
        // Work on a local copy: a class property touched once per record costs a dynamic
        // exclusivity check each time.
        var scalars = self.scalars
        self.scalars = TensorBoardScalars()
        defer { self.scalars = scalars }
        for k in files.indices {
            let reader = files[k].reader
            let run = files[k].run
            let source = reader.path.hasPrefix(path + "/") ? String(reader.path.dropFirst(path.count + 1)) : reader.path
            var tags = files[k].tags
            let result: TensorBoardEventFile.PollResult
            do {
                result = try reader.poll(
                    record: { scalars.consume(record: $0, run: run, tags: &tags, source: source) },
                    corrupt: { scalars.skip("\($0) in \(source)") })
            } catch {
                // One unreadable file (a FIFO, a link planted in the logdir) does not hide the others.
                if singleFile { throw error }
                if !unreadable.contains(reader.path) {
                    unreadable.insert(reader.path)
                    scalars.skip("\(source) \(error.problem)")
                }
                continue
            }
            files[k].tags = tags
            // Open files stay bounded: with many event files, each is closed after its read.
            if files.count > Self.maxOpenFiles { reader.release() }
            switch result {
            case .appended, .missing:
                continue
            case .replaced:
                return false
            }
        }
        return true
    }

    /// Forgets everything read, to read all files again from the start.
    private func reset() {
        files = []
        unreadable = []
        scalars = TensorBoardScalars()
        builder = TensorBoardRunBuilder()
        built = false
    }

    /// How the run was kept up to date so far: polls answered by appending, and whole rebuilds.
    var updates: (appends: Int, rebuilds: Int) { (builder.appends, builder.rebuilds) }

    /// The files being followed (for a watcher that wants to know what to watch).
    var eventFiles: [String] { files.map(\.reader.path) }
}
