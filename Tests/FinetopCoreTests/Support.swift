import Foundation
@testable import FinetopCore

enum Fixture {
    static var directory: String {
        (Bundle.module.resourcePath ?? ".") + "/Fixtures"
    }
    static func path(_ name: String) -> String { directory + "/" + name }
}

/// A fresh temporary directory per test.
func makeTempDir(_ tag: String = "finetop") -> String {
    let dir = NSTemporaryDirectory() + "\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func append(_ text: String, to path: String) {
    if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
    let h = FileHandle(forWritingAtPath: path)!
    h.seekToEndOfFile()
    h.write(text.data(using: .utf8)!)
    h.closeFile()
}

func builderRun(_ lines: [String]) -> Run {
    var b = RunBuilder()
    for l in lines { b.consume(line: l) }
    return b.snapshot
}
