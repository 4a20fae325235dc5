import Foundation
import Testing
import FinetopCore
@testable import FinetopDemo

/// The demo trainer follows the shared protocol: a stop is addressed to one job.
@Suite struct StopAddressTests {
    func trainer(in dir: String) throws -> DemoTrainer {
        try DemoTrainer(directory: dir, digits: digits(), scenario: .underfit, seed: 1)
    }

    @Test func aStopLeftFromAnEarlierJobDoesNotStopTheNextOneButItsTogglesApply() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        // Left by the previous job's dashboard: a stop without an address, plus a toggle.
        try writeControl(#"{"version": 1, "revision": 3, "trainable": {"dense_3": true}, "stop": true}"#, in: dir)
        let t = try trainer(in: dir)
        t.start()
        #expect(t.step() == nil, "an old stop must not end the new job")
        #expect(t.model.isTrainable("dense_3") == true)
        // A stop for another run id is ignored; one for ours is honoured.
        try writeControl(#"{"version": 1, "revision": 4, "trainable": {}, "stop": true, "stop_run_id": "someone-else"}"#, in: dir)
        #expect(t.step() == nil)
        try writeControl(#"{"version": 1, "revision": 5, "trainable": {}, "stop": true, "stop_run_id": "demo-underfit-1"}"#, in: dir)
        #expect(t.step()?.reason == "stopped")
    }

    @Test func anUnaddressedStopWrittenAfterTheStartIsHonoured() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        try writeControl(#"{"version": 1, "revision": 1, "trainable": {}, "stop": true}"#, in: dir)
        #expect(t.step()?.reason == "stopped")
    }

    @Test func aFifoAtControlJsonDoesNotHangTheTrainer() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        #expect(mkfifo(dir + "/control.json", 0o644) == 0)
        t.start()
        #expect(t.step() == nil)
        #expect(try readRun(dir).acks.last?.message?.contains("regular file") == true)
    }
}
