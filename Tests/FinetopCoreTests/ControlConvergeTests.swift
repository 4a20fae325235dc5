import Testing
@testable import FinetopCore

/// control.json's desired state converges on what the job really has, so a stale entry can
/// neither undo a later change (a plan step) nor get every later revision rejected (a name the
/// model no longer has, after another model was started in the same directory).
@Suite struct ControlConvergeTests {
    func file(_ trainable: [String: Bool], revision: Int) -> ControlFile {
        ControlFile(revision: revision, trainable: trainable)
    }

    @Test func answeredEntriesTakeTheModelsFlagAndUnknownNamesGo() throws {
        let dir = makeTempDir("converge")
        try file(["dense_1": false, "old_layer": true], revision: 5).write(to: dir)
        // The job answered revision 5, then a plan step unfroze dense_1; its model has no old_layer.
        let change = ControlChange(trainable: ["dense_2": true], atLeast: 6,
                                   actual: ["dense_1": true, "dense_2": false, "dense_3": true], acknowledged: 5)
        let written = try ControlFile.update(in: dir, change)
        #expect(written.trainable == ["dense_1": true, "dense_2": true])
        #expect(written.revision == 6)
    }

    @Test func anEntryTheJobHasNotAnsweredYetIsKept() throws {
        let dir = makeTempDir("converge-pending")
        // Another dashboard wrote revision 7 (dense_1: false); the job has answered only up to 6.
        try file(["dense_1": false], revision: 7).write(to: dir)
        let change = ControlChange(trainable: ["dense_2": true], atLeast: 7,
                                   actual: ["dense_1": true, "dense_2": false], acknowledged: 6)
        let written = try ControlFile.update(in: dir, change)
        #expect(written.trainable == ["dense_1": false, "dense_2": true])
        #expect(written.revision == 8)
    }

    @Test func withoutAModelLineNothingIsPruned() throws {
        let dir = makeTempDir("converge-nomodel")
        try file(["anything": true], revision: 2).write(to: dir)
        let written = try ControlFile.update(in: dir, ControlChange(trainable: ["x": false], atLeast: 3, acknowledged: 2))
        #expect(written.trainable == ["anything": true, "x": false])
    }
}
