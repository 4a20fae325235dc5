import Testing
@testable import FinetopCore

/// control.json says what the user sees (issue 16, item 6): the rules of `consistentChange`.
@Suite struct TrainableChangeTests {
    /// input, a frozen nested base (three layers, one nested block), a trainable head.
    static let table = LayerTable(revision: 0, layers: [
        Layer(name: "input", className: "InputLayer", params: 0, trainableParams: 0, trainable: true),
        Layer(name: "base", className: "Functional", params: 60, trainableParams: 0, trainable: false),
        Layer(name: "base/conv_1", className: "Conv2D", params: 10, trainableParams: 0, trainable: false, depth: 1),
        Layer(name: "base/block", className: "Sequential", params: 30, trainableParams: 0, trainable: false, depth: 1),
        Layer(name: "base/block/conv_2", className: "Conv2D", params: 30, trainableParams: 0, trainable: false, depth: 2),
        Layer(name: "base/conv_3", className: "Conv2D", params: 20, trainableParams: 0, trainable: false, depth: 1),
        Layer(name: "head", className: "Dense", params: 5, trainableParams: 5, trainable: true),
    ])

    static func shown(_ layer: Layer) -> Bool { layer.trainable }

    @Test func unfreezingAnInnerLayerUnfreezesItsModelAndPinsTheOthers() {
        let out = Self.table.consistentChange(["base/conv_3": true], desired: [:], shown: Self.shown)
        #expect(out == ["base/conv_3": true, "base": true,
                        "base/conv_1": false, "base/block": false, "base/block/conv_2": false])
    }

    @Test func unfreezingTwoLevelsDownUnfreezesEveryFrozenAncestor() {
        let out = Self.table.consistentChange(["base/block/conv_2": true], desired: [:], shown: Self.shown)
        #expect(out == ["base/block/conv_2": true, "base": true, "base/block": true,
                        "base/conv_1": false, "base/conv_3": false])
    }

    @Test func flagsAlreadyInTheFileAreNotRepeated() {
        let out = Self.table.consistentChange(["base/conv_3": true], desired: ["base/conv_1": false], shown: Self.shown)
        #expect(out["base/conv_1"] == nil && out["base"] == true)
    }

    @Test func aTopLevelChangeOrATrainableAncestorAddsNothing() {
        #expect(Self.table.consistentChange(["head": false], desired: [:], shown: Self.shown) == ["head": false])
        let open = Self.table.consistentChange(["base/conv_3": true], desired: ["base": true]) { l in
            l.name == "base" ? true : l.trainable
        }
        #expect(open == ["base/conv_3": true])
    }

    @Test func freezingAModelClearsInnerTrueFlagsThatWouldUnfreezeItAgain() {
        let desired = ["base": true, "base/conv_3": true, "base/conv_1": false]
        let out = Self.table.consistentChange(["base": false], desired: desired) { l in desired[l.name] ?? l.trainable }
        #expect(out == ["base": false, "base/conv_3": false])
    }

    @Test func theChangeItselfAlwaysWins() {
        // `u` on the base row: the base and everything in it, true.
        let change = ["base": true, "base/conv_1": true, "base/block": true, "base/block/conv_2": true, "base/conv_3": true]
        #expect(Self.table.consistentChange(change, desired: [:], shown: Self.shown) == change)
    }

    @Test func ancestorsAndDescendantsFollowDepth() {
        #expect(Self.table.ancestors(of: 4) == [1, 3])
        #expect(Self.table.ancestors(of: 6) == [])
        #expect(Self.table.descendants(of: 1) == [2, 3, 4, 5])
        #expect(Self.table.descendants(of: 3) == [4])
    }
}
