import Foundation
import Testing
@testable import FinetopCore

/// Rows grouped into blocks by name (issue 13, item 4), on real layer lists.
@Suite struct LayerBlocksTests {
    static func model(_ events: String) throws -> LayerTable {
        let reader = EventsReader(path: Fixture.path(events))
        try reader.poll()
        return try #require(reader.run.model)
    }

    @Test func mobileNetV2GroupsIntoItsSixteenBlocksAndTheStem() throws {
        let table = try Self.model("mobilenetv2_224_frozen.events.jsonl")
        let blocks = LayerBlocks.group(table.layers)
        let names = blocks.map(\.name)
        #expect(names == ["input_layer", "Conv1", "expanded_conv"] + (1...16).map { "block_\($0)" }
            + ["Conv_1", "out_relu"])
        let b16 = try #require(blocks.first { $0.name == "block_16" })
        #expect(table.layers[b16.rows].map(\.name) == [
            "block_16_expand", "block_16_expand_BN", "block_16_expand_relu", "block_16_depthwise",
            "block_16_depthwise_BN", "block_16_depthwise_relu", "block_16_project", "block_16_project_BN",
        ])
        #expect(b16.params == table.layers[b16.rows].reduce(0) { $0 + $1.params })
        #expect(blocks.reduce(0) { $0 + $1.params } == table.totals.total)
        #expect(blocks.reduce(0) { $0 + $1.rows.count } == table.layers.count)
        // Consecutive and in order.
        #expect(zip(blocks, blocks.dropFirst()).allSatisfy { $0.rows.upperBound == $1.rows.lowerBound })
    }

    @Test func aPartlyUnfrozenMobileNetShowsWhichBlocksTrain() throws {
        let reader = EventsReader(path: Fixture.path("mobilenetv2_96_unfreeze20.events.jsonl"))
        try reader.poll()
        let table = try #require(reader.run.model)
        let blocks = LayerBlocks.group(table.layers)
        let training = blocks.filter { $0.trainableParams > 0 }.map(\.name)
        #expect(training.contains("block_16"))
        #expect(!training.contains("block_1"))
    }

    @Test func nestedKerasNamesKeepTheOuterModel() {
        let names = ["input_layer_3", "mobilenetv2_1.00_96/Conv1", "mobilenetv2_1.00_96/bn_Conv1",
                     "mobilenetv2_1.00_96/block_2_expand", "mobilenetv2_1.00_96/block_2_expand_BN",
                     "mobilenetv2_1.00_96/block_3_expand", "head_dense"]
        let layers = names.map { Layer(name: $0, className: "X", params: 1, trainableParams: 0, trainable: false) }
        #expect(LayerBlocks.group(layers).map(\.name) == [
            "input_layer_3", "mobilenetv2_1.00_96/Conv1", "mobilenetv2_1.00_96/bn_Conv1",
            "mobilenetv2_1.00_96/block_2", "mobilenetv2_1.00_96/block_3", "head_dense",
        ])
    }

    @Test func torchvisionAndTransformerNames() throws {
        #expect(LayerBlocks.key(of: "features.3.conv.0.0") == "features.3")
        #expect(LayerBlocks.key(of: "classifier.1") == "classifier")
        #expect(LayerBlocks.key(of: "model.layers.5.self_attn.q_proj") == "model.layers.5")
        #expect(LayerBlocks.key(of: "block1_conv2") == "block1")
        #expect(LayerBlocks.key(of: "dense_1") == "dense_1")

        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("bert_tiny_rows.json")))
        let rows = try JSONParser.parse(data)["layers"]?.array ?? []
        let layers = rows.compactMap { r -> Layer? in
            guard let name = r["name"]?.string, let params = r["params"]?.int else { return nil }
            return Layer(name: name, className: r["class"]?.string ?? "", params: params,
                         trainableParams: r["trainable_params"]?.int ?? 0, trainable: true)
        }
        #expect(layers.count == 22)
        let blocks = LayerBlocks.group(layers)
        #expect(blocks.map(\.name) == ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1",
                                       "bert.pooler", "classifier"])
        #expect(blocks[1].rows.count == 8)
        #expect(blocks.reduce(0) { $0 + $1.params } == layers.reduce(0) { $0 + $1.params })
    }
}
