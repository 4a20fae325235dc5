import FinetopCore
@testable import FinetopDemo
import Foundation

/// The shipped digits, decoded once for all tests.
let shippedDigits: Result<Digits, DemoError> = Result { () throws(DemoError) -> Digits in
    try Digits.load(from: DemoAssets.locate(DemoAssets.digits, environment: [:], executablePaths: []))
}

func digits() throws -> Digits { try shippedDigits.get() }

/// A fresh empty directory under the system's temporary directory.
func temporaryDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "finetop-demo-tests-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The run as the dashboard would read it.
func readRun(_ directory: String) throws -> Run {
    let reader = EventsReader(path: directory + "/" + RunFiles.events)
    try reader.poll()
    return reader.run
}

func writeControl(_ text: String, in directory: String) throws {
    try FileSystem.writeAtomically(Array(text.utf8), to: directory + "/" + RunFiles.control)
}

/// Runs a scenario unpaced for `epochs` epochs and returns what it wrote.
func runScenario(_ scenario: Scenario, epochs: Int, seed: UInt64 = 1) throws -> Run {
    let dir = temporaryDirectory()
    defer { removeDirectory(dir) }
    var plan = scenario.plan
    plan.epochs = epochs
    let trainer = try DemoTrainer(directory: dir, digits: digits(), plan: plan, seed: seed,
                                  scenarioName: scenario.rawValue)
    _ = trainer.run(epochsPerSecond: 0)
    return try readRun(dir)
}

extension Array where Element == Double {
    var bitPatterns: [UInt64] { map(\.bitPattern) }
}
