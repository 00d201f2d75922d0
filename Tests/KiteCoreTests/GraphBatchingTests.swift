import KiteCore
import XCTest

/// `NativeGraph.runsPerBatchItem`: which batch-1 graphs may run a batch item by item.
final class GraphBatchingTests: XCTestCase {
    /// x [1, 4, 5, 5] -> `body` -> output; shapes inferred.
    func graph(input: [Int] = [1, 4, 5, 5], extraInputs: [ValueInfo] = [], _ nodes: [NativeNode], output: String) throws -> NativeGraph {
        var g = NativeGraph(inputs: [ValueInfo(name: "x", shape: input)] + extraInputs, outputs: [ValueInfo(name: output, shape: [])],
                            nodes: nodes, shapes: [:])
        try g.reinferShapes()
        return g
    }

    func node(_ name: String, _ op: Op, _ inputs: [String], _ outputs: [String]? = nil) -> NativeNode {
        NativeNode(name: name, op: op, inputs: inputs, outputs: outputs ?? [name])
    }

    func testClassifierRunsPerItem() throws {
        var r = Random(seed: 3)
        let g = try graph([
            node("conv", .conv(conv(r.tensor([8, 4, 3, 3]), pads: [1, 1, 1, 1], activation: .relu)), ["x"]),
            node("shuffle", .channelShuffle(ChannelShuffle(groups: 2)), ["conv"]),
            node("split", .split(Split(axis: 1, sizes: [4, 4])), ["shuffle"], ["a", "b"]),
            node("cat", .concat(Concat(axis: -3)), ["b", "a"]),
            node("gap", .globalPool(GlobalPooling(kind: .average)), ["cat"]),
            node("flat", .reshape(Reshape(shape: [1, 8])), ["gap"]),
            node("fc", .fullyConnected(FullyConnected(weight: r.tensor([3, 8]), bias: nil)), ["flat"]),
            node("softmax", .softmax(Softmax(axis: -1)), ["fc"]),
        ], output: "softmax")
        XCTAssertTrue(g.runsPerBatchItem)
    }

    /// Ops that mix the items of a batch, or move its axis, make the graph run whole.
    func testOpsAcrossTheBatchAxis() throws {
        let cases: [(String, [NativeNode], String)] = [
            ("softmax over axis 0", [node("s", .softmax(Softmax(axis: 0)), ["x"])], "s"),
            ("transpose moving axis 0", [node("t", .transpose(Transpose(perm: [1, 0, 2, 3])), ["x"])], "t"),
            ("concat along axis 0", [node("c", .concat(Concat(axis: 0)), ["x", "x"])], "c"),
            ("mean over axis 0", [node("m", .reduceMean(ReduceMean(axes: [0, 2], keepDims: true)), ["x"])], "m"),
            ("mean over every axis", [node("m", .reduceMean(ReduceMean(axes: [], keepDims: false)), ["x"])], "m"),
            ("sum over axis 0", [node("m", .reduce(Reduce(kind: .sum, axes: [0], keepDims: true)), ["x"])], "m"),
            ("gather along axis 0", [node("g", .gather(Gather(axis: 0, indices: [0], indicesShape: [1])), ["x"])], "g"),
            ("pad of axis 0", [node("p", .pad(Pad(pads: [1, 0, 0, 0, -1, 0, 0, 0], value: 0)), ["x"])], "p"),
            ("reshape folding channels into axis 0", [node("r", .reshape(Reshape(shape: [2, 2, 5, 5])), ["x"])], "r"),
            // [1, 100] + [1, 4, 5, 5] broadcasts x's batch axis onto the other's channels.
            ("batched operand of a lower rank", [
                node("f", .reshape(Reshape(shape: [1, 100])), ["x"]),
                node("y", .reshape(Reshape(shape: [1, 1, 1, 100])), ["x"]),
                node("add", .binary(Binary(kind: .add)), ["f", "y"]),
            ], "add"),
            ("constant output", [node("k", .constant(Constant(Tensor.zeros([1, 2]))), [])], "k"),
        ]
        for (what, nodes, output) in cases {
            XCTAssertFalse(try graph(nodes, output: output).runsPerBatchItem, what)
        }
        // The same ops away from axis 0 keep items apart.
        let fine: [(String, [NativeNode], String)] = [
            ("softmax over axis 1", [node("s", .softmax(Softmax(axis: 1)), ["x"])], "s"),
            ("transpose keeping axis 0", [node("t", .transpose(Transpose(perm: [0, 2, 3, 1])), ["x"])], "t"),
            ("mean over the map", [node("m", .reduceMean(ReduceMean(axes: [2, 3], keepDims: false)), ["x"])], "m"),
            ("gather of channels", [node("g", .gather(Gather(axis: 1, indices: [3, 0], indicesShape: [2])), ["x"])], "g"),
            ("pad of the map", [node("p", .pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0)), ["x"])], "p"),
            ("add of a per-channel constant", [
                node("k", .constant(Constant(Tensor.zeros([4, 1, 1]))), []),
                node("add", .binary(Binary(kind: .add)), ["x", "k"]),
            ], "add"),
        ]
        for (what, nodes, output) in fine {
            XCTAssertTrue(try graph(nodes, output: output).runsPerBatchItem, what)
        }
    }

    func testInputsWithoutABatchOfOne() throws {
        XCTAssertFalse(try graph(input: [2, 4, 5, 5], [node("r", .activation(ActivationOp(.relu)), ["x"])], output: "r").runsPerBatchItem)
        XCTAssertFalse(try graph(input: [], [node("r", .activation(ActivationOp(.relu)), ["x"])], output: "r").runsPerBatchItem)
        // Two batched inputs of one rank: item i of the sum reads item i of each.
        let two = try graph(extraInputs: [ValueInfo(name: "y", shape: [1, 4, 5, 5])],
                            [node("add", .binary(Binary(kind: .add)), ["x", "y"])], output: "add")
        XCTAssertTrue(two.runsPerBatchItem)
    }

    func testBatchItemsRoundTrip() {
        let t = iota([3, 2, 2])
        let items = (0..<3).map { t.batchItem($0) }
        XCTAssertEqual(items[1], Tensor(shape: [1, 2, 2], floats: [4, 5, 6, 7]))
        XCTAssertEqual(Tensor(stackingBatchItems: items), t)
        let ints = Tensor(shape: [2, 3], ints: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(ints.batchItem(1), Tensor(shape: [1, 3], ints: [4, 5, 6]))
        XCTAssertEqual(Tensor(stackingBatchItems: [ints.batchItem(0), ints.batchItem(1)]), ints)
    }
}
