import Foundation
import Testing
@testable import FinetopCore

/// Several dashboards on one run: each sends only its change; `ControlFile.update` merges it under
/// a lock, so no toggle is lost and no revision is used twice.
@Suite struct ControlMergeTests {
    let dir = makeTempDir("control-merge")

    @Test func aChangeIsMergedIntoTheFileKeepingEveryOtherFlag() throws {
        try ControlFile(revision: 5, trainable: ["a": true, "b": false]).write(to: dir)
        let written = try ControlFile.update(in: dir, ControlChange(trainable: ["c": true], atLeast: 2))
        #expect(written.revision == 6)
        #expect(written.trainable == ["a": true, "b": false, "c": true])
        #expect(try ControlFile.read(from: dir) == written)
        // A dashboard that has seen a higher revision (an ack) never goes below it.
        let next = try ControlFile.update(in: dir, ControlChange(trainable: ["a": false], atLeast: 10))
        #expect(next.revision == 10)
        #expect(next.trainable == ["a": false, "b": false, "c": true])
    }

    @Test func twoConcurrentWritersLoseNothingAndNeverReuseARevision() throws {
        // Two threads, each one dashboard toggling its own layers, 200 writes each, at once.
        final class Log: @unchecked Sendable {
            let lock = NSLock()
            var revisions: [Int] = []
            var failures: [String] = []
        }
        let log = Log()
        let group = DispatchGroup()
        let d = dir
        for writer in ["A", "B"] {
            group.enter()
            Thread.detachNewThread {
                for k in 0..<200 {
                    do {
                        let f = try ControlFile.update(in: d, ControlChange(trainable: ["\(writer)\(k)": k % 2 == 0], atLeast: 1), lockTimeout: 60)
                        log.lock.lock(); log.revisions.append(f.revision); log.lock.unlock()
                    } catch {
                        log.lock.lock(); log.failures.append("\(error)"); log.lock.unlock()
                    }
                }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(log.failures.isEmpty, "\(log.failures.prefix(3))")
        #expect(Set(log.revisions).count == 400, "a revision was used twice")
        #expect(log.revisions.sorted() == Array(1...400))
        let final = try #require(try ControlFile.read(from: dir))
        #expect(final.revision == 400)
        #expect(final.trainable.count == 400)
        for k in 0..<200 {
            #expect(final.trainable["A\(k)"] == (k % 2 == 0))
            #expect(final.trainable["B\(k)"] == (k % 2 == 0))
        }
    }

    @Test func twoProcessesWritingAtOnceLoseNothing() throws {
        // The lock is between processes, not threads: fork two writers.
        var pids: [pid_t] = []
        for writer in 0..<2 {
            let pid = fork()
            if pid == 0 {
                for k in 0..<100 {
                    if (try? ControlFile.update(in: dir, ControlChange(trainable: ["p\(writer)_\(k)": true]), lockTimeout: 60)) == nil { _exit(1) }
                }
                _exit(0)
            }
            pids.append(pid)
        }
        for pid in pids {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            #expect(status == 0)
        }
        let final = try #require(try ControlFile.read(from: dir))
        #expect(final.revision == 200)
        #expect(final.trainable.count == 200)
    }

    @Test func aStopIsAddressedToOneRunAndClearedWithItsAddress() throws {
        let stop = try ControlFile.update(in: dir, ControlChange(trainable: ["a": true], stop: true, stopRunID: "run-1"))
        #expect(stop.stop && stop.stopRunID == "run-1")
        let text = try String(contentsOfFile: dir + "/control.json", encoding: .utf8)
        #expect(text.contains(#""stop": true, "stop_run_id": "run-1""#))
        let cleared = try ControlFile.update(in: dir, ControlChange(stop: false))
        #expect(!cleared.stop && cleared.stopRunID == nil)
        #expect(cleared.trainable == ["a": true], "clearing the stop keeps the toggles")
        #expect(cleared.revision == 2)
    }

    @Test func aMalformedFileIsReplacedAboveTheRevisionItClaims() throws {
        try #"{"version": 1, "revision": 41, "trainable": {"a": 7}}"#.write(toFile: dir + "/control.json", atomically: true, encoding: .utf8)
        let f = try ControlFile.update(in: dir, ControlChange(trainable: ["b": true]))
        #expect(f.revision == 42)
        #expect(f.trainable == ["b": true])
    }

    @Test func aLinkAtTheLockFileIsNeverFollowed() throws {
        let target = makeTempDir("lock-victim") + "/x"
        try "keep".write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/control.json.lock", withDestinationPath: target)
        #expect(throws: ReadError.self) { try ControlFile.update(in: dir, ControlChange(trainable: ["a": true])) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        #expect(!FileManager.default.fileExists(atPath: dir + "/control.json"))
    }

    @Test func aLockHeldForeverBecomesAnErrorNotAHang() throws {
        let holder = try FileSystem.ExclusiveLock(path: ControlFile.lockPath(in: dir), timeout: 1)
        defer { holder.release() }
        // flock locks belong to the open file description: a second open in this process conflicts too.
        do {
            _ = try ControlFile.update(in: dir, ControlChange(trainable: ["a": true]), lockTimeout: 0.2)
            Issue.record("wrote without the lock")
        } catch {
            #expect(error.problem.contains("held this lock"), "\(error.problem)")
        }
    }
}
