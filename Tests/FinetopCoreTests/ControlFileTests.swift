import Foundation
import Testing
@testable import FinetopCore

@Suite struct ControlFileTests {
    let dir = makeTempDir("control")

    @Test func writesAtomicallyAndReadsBack() throws {
        let c = ControlFile(revision: 7, trainable: ["Conv_1": true, "block_16_project": false], stop: false)
        try c.write(to: dir)
        #expect(try ControlFile.read(from: dir) == c)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "control.json" }
        #expect(leftovers.isEmpty)
        let text = try String(contentsOfFile: dir + "/control.json", encoding: .utf8)
        #expect(text == #"{"version": 1, "revision": 7, "trainable": {"Conv_1": true, "block_16_project": false}, "stop": false}"# + "\n")
    }

    @Test func noFileMeansNoControlYet() throws {
        #expect(try ControlFile.read(from: dir) == nil)
    }

    @Test(arguments: [
        ("[]", "must be a JSON object"),
        (#"{"revision": 1}"#, "version"),
        (#"{"version": 2, "revision": 1}"#, "version 2"),
        (#"{"version": 1, "revision": -1}"#, "revision"),
        (#"{"version": 1, "revision": 1, "trainable": {"a": 1}}"#, "true or false"),
        (#"{"version": 1, "revision": 1, "trainable": []}"#, "must be an object"),
        (#"{"version": 1, "revision": 1, "stop": "yes"}"#, "stop"),
        (#"{"version": 1, "revis"#, "not valid JSON"),
    ])
    func invalidControlFilesAreRejectedWithAReason(text: String, reason: String) throws {
        try text.write(toFile: dir + "/control.json", atomically: true, encoding: .utf8)
        do {
            _ = try ControlFile.read(from: dir)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
        }
    }

    @Test func namesWithQuotesAndControlCharactersRoundTrip() throws {
        let c = ControlFile(revision: 1, trainable: ["a\"b\\c\n\u{1b}": true], stop: true)
        try c.write(to: dir)
        #expect(try ControlFile.read(from: dir) == c)
    }
}
