import Foundation
import Testing
@testable import FinetopCore

/// control.json lives in run directories that may be shared (/tmp, NFS): the dashboard never writes
/// through a planted link, never blocks on a special file, and both sides agree on one revision range.
@Suite struct ControlFileSafetyTests {
    let dir = makeTempDir("control-safety")

    /// The file a planted link points at, with content that must survive.
    func victim() throws -> String {
        let path = makeTempDir("victim") + "/precious.txt"
        try "do not touch\n".write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func aLinkPlantedAtTheOldFixedTemporaryNameIsNeverFollowed() throws {
        let target = try victim()
        // The name the dashboard used to write: control.json.tmp.<pid>.
        let planted = dir + "/control.json.tmp.\(getpid())"
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: target)
        try ControlFile(revision: 1, trainable: ["conv": true]).write(to: dir)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "do not touch\n")
        #expect(try ControlFile.read(from: dir)?.trainable == ["conv": true])
        // The link is left alone (not ours), and the real file is a regular file, not a link.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: planted) == target)
        var st = stat()
        #expect(lstat(dir + "/control.json", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
    }

    @Test func linksPlantedAtEveryPredictableNameAreNeverFollowed() throws {
        let target = try victim()
        // Every name an attacker could predict from the pid, a counter or the time.
        var names = ["control.json.tmp", "control.json.new", "control.json~", ".control.json.tmp", "control.json.lock.tmp"]
        for pid in max(1, getpid() - 50)...(getpid() + 50) { names.append("control.json.tmp.\(pid)") }
        for name in names {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: target)
        }
        for r in 1...20 { try ControlFile(revision: r, trainable: ["conv": r % 2 == 0]).write(to: dir) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "do not touch\n")
        #expect(try ControlFile.read(from: dir)?.revision == 20)
    }

    @Test func aLinkAtControlJsonItselfIsReplacedNotFollowed() throws {
        let target = try victim()
        try FileManager.default.createSymbolicLink(atPath: dir + "/control.json", withDestinationPath: target)
        // Reading refuses to follow it…
        #expect(throws: ReadError.self) { try ControlFile.read(from: dir) }
        // …and writing replaces the link itself.
        try ControlFile(revision: 2, trainable: ["a": true]).write(to: dir)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "do not touch\n")
        #expect(try ControlFile.read(from: dir)?.revision == 2)
    }

    /// Reads control.json on another thread; a read that never returns is a failure, not a hang.
    func readWithDeadline(_ seconds: Double = 5) -> Result<ControlFile?, ReadError>? {
        final class Box: @unchecked Sendable { var result: Result<ControlFile?, ReadError>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let d = dir
        Thread.detachNewThread {
            do throws(ReadError) { box.result = .success(try ControlFile.read(from: d)) } catch { box.result = .failure(error) }
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success ? box.result : nil
    }

    @Test func aFifoAtControlJsonNeverBlocks() throws {
        #expect(mkfifo(dir + "/control.json", 0o644) == 0)
        let result = try #require(readWithDeadline(), "reading a FIFO at control.json blocked")
        guard case .failure(let e) = result else { Issue.record("a FIFO was accepted"); return }
        #expect(e.problem.contains("regular file"), "\(e.problem)")
    }

    @Test func aDeviceOrDirectoryAtControlJsonIsRefusedWithAReason() throws {
        try FileManager.default.createSymbolicLink(atPath: dir + "/control.json", withDestinationPath: "/dev/zero")
        guard case .failure(let link) = try #require(readWithDeadline()) else { Issue.record("link to /dev/zero followed"); return }
        #expect(link.problem.contains("symbolic link"), "\(link.problem)")
        try FileManager.default.removeItem(atPath: dir + "/control.json")
        try FileManager.default.createDirectory(atPath: dir + "/control.json", withIntermediateDirectories: false)
        guard case .failure(let d) = try #require(readWithDeadline()) else { Issue.record("a directory was read"); return }
        #expect(d.problem.contains("directory"), "\(d.problem)")
    }

    @Test(arguments: [
        ("9007199254740991", true),     // 2^53 − 1: the largest both sides accept
        ("9007199254740992", false),    // 2^53: a double can no longer tell it from 2^53 + 1
        ("100000000000000000000", false),
        ("1e20", false),
        ("1e15", true),
        ("-1", false),
        ("1.5", false),
    ])
    func revisionsAreIntegersFrom0To2Pow53Minus1(text: String, accepted: Bool) {
        let bytes = Array(#"{"version": 1, "revision": \#(text), "trainable": {}, "stop": false}"#.utf8)
        let parsed = try? ControlFile.parse(bytes)
        #expect((parsed != nil) == accepted, "revision \(text)")
    }

    @Test func aRevisionBeyond2Pow53IsNeverWritten() throws {
        #expect(throws: ReadError.self) { try ControlFile(revision: 9_007_199_254_740_992).write(to: dir) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/control.json"))
    }

    @Test func aWriteThatCannotHappenSaysWhy() throws {
        // A directory where control.json should go: the rename fails; the reason is given and no
        // temporary file is left behind.
        try FileManager.default.createDirectory(atPath: dir + "/control.json/x", withIntermediateDirectories: true)
        do {
            try ControlFile(revision: 1, trainable: ["a": true]).write(to: dir)
            Issue.record("wrote over a directory")
        } catch {
            #expect(error.description.contains("cannot replace"), "\(error.description)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["control.json"])
    }
}
