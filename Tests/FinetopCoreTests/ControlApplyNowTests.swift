import Foundation
import Testing
@testable import FinetopCore

/// `"apply_now": true` (Keras ends the epoch early to apply a trainable change): said by one
/// revision, never carried over to the next write, refused when not a boolean.
@Suite struct ControlApplyNowTests {
    func directory() -> String {
        let dir = NSTemporaryDirectory() + "finetop-apply-now-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func roundTripsAndOldFilesKeepTheirBytes() throws {
        let file = ControlFile(revision: 3, trainable: ["a": true], applyNow: true)
        #expect(file.json.contains("\"apply_now\": true"))
        #expect(try ControlFile.parse(Array(file.json.utf8)) == file)
        #expect(!ControlFile(revision: 3, trainable: ["a": true]).json.contains("apply_now"))
    }

    @Test func refusesANonBoolean() throws {
        let text = #"{"version": 1, "revision": 2, "trainable": {}, "stop": false, "apply_now": "yes"}"#
        #expect(throws: ReadError.self) { try ControlFile.parse(Array(text.utf8)) }
        let null = #"{"version": 1, "revision": 2, "trainable": {}, "stop": false, "apply_now": null}"#
        #expect(try ControlFile.parse(Array(null.utf8)).applyNow == false)
    }

    @Test func onlyTheWriteThatAsksCarriesIt() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try ControlFile.update(in: dir, ControlChange(trainable: ["a": true], atLeast: 1, applyNow: true))
        #expect(first.applyNow)
        #expect(try ControlFile.read(from: dir)?.applyNow == true)
        let second = try ControlFile.update(in: dir, ControlChange(trainable: ["b": true], atLeast: 2))
        #expect(!second.applyNow)
        #expect(second.trainable == ["a": true, "b": true])
        #expect(try ControlFile.read(from: dir)?.applyNow == false)
    }
}
