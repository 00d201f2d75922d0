import KiteCore
import XCTest

/// The reference executor, graph validation, shape re-inference and the text dump.
final class GraphTests: XCTestCase {
    /// x [1,4,6,6] -> depthwise 3x3 s2 + ReLU6 -> shuffle(2) -> channel split 2+2 -> concat(b, a) -> GAP -> FC(3) -> softmax.
    func smallGraph() throws -> NativeGraph {
        var r = Random(seed: 9)
        let dw = conv(r.tensor([4, 1, 3, 3]), bias: [0.1, 0.2, 0.3, 0.4], groups: 4, strides: [2, 2], pads: [1, 1, 1, 1],
                      activation: .clip(min: 0, max: 6))
        var g = NativeGraph(
            inputs: [ValueInfo(name: "x", shape: [1, 4, 6, 6])], outputs: [ValueInfo(name: "prob", shape: [])],
            nodes: [
                NativeNode(name: "dw", op: .conv(dw), inputs: ["x"], outputs: ["d"], origin: ["Conv_0", "Clip_1"]),
                NativeNode(name: "shuffle", op: .channelShuffle(ChannelShuffle(groups: 2)), inputs: ["d"], outputs: ["s"]),
                NativeNode(name: "split", op: .split(Split(axis: 1, sizes: [2, 2])), inputs: ["s"], outputs: ["a", "b"]),
                NativeNode(name: "cat", op: .concat(Concat(axis: 1)), inputs: ["b", "a"], outputs: ["c"]),
                NativeNode(name: "gap", op: .globalPool(GlobalPooling(kind: .average)), inputs: ["c"], outputs: ["p"]),
                NativeNode(name: "fc", op: .fullyConnected(FullyConnected(weight: r.tensor([3, 4]), bias: [0, 0, 1])),
                           inputs: ["p"], outputs: ["logits"]),
                NativeNode(name: "softmax", op: .softmax(Softmax(axis: 1)), inputs: ["logits"], outputs: ["prob"]),
            ],
            shapes: [:])
        try g.reinferShapes()
        return g
    }

    func testReinferThenValidate() throws {
        let g = try smallGraph()
        XCTAssertEqual(g.shapes["d"], [1, 4, 3, 3])
        XCTAssertEqual(g.shapes["a"], [1, 2, 3, 3])
        XCTAssertEqual(g.shapes["p"], [1, 4, 1, 1])
        XCTAssertEqual(g.outputs, [ValueInfo(name: "prob", shape: [1, 3])], "graph outputs take the inferred shapes")
        XCTAssertEqual(g.shapes.count, 9)
        XCTAssertNoThrow(try g.validate())
    }

    func testExecutorRunsEveryNode() throws {
        let g = try smallGraph()
        var r = Random(seed: 10)
        let x = r.tensor([1, 4, 6, 6])
        let all = try ReferenceExecutor.runAll(g, inputs: ["x": x])
        XCTAssertEqual(Set(all.keys), Set(g.shapes.keys))
        for (name, t) in all { XCTAssertEqual(t.shape, g.shapes[name], name) }
        let out = try ReferenceExecutor.run(g, inputs: ["x": x])
        XCTAssertEqual(Array(out.keys), ["prob"])
        XCTAssertEqual(out["prob"], all["prob"])
        XCTAssertEqual(out["prob"]!.floats.reduce(0, +), 1, accuracy: 1e-5)
        // The split-then-swapped concat undoes half of the shuffle: c = [s2, s3, s0, s1] = d channels [1, 3, 0, 2].
        let d = all["d"]!, c = all["c"]!
        for (k, src) in [1, 3, 0, 2].enumerated() {
            XCTAssertEqual(channels(c, k..<(k + 1)).floats, channels(d, src..<(src + 1)).floats)
        }
    }

    func testExecutorInputErrors() throws {
        let g = try smallGraph()
        let x = Tensor.zeros([1, 4, 6, 6])
        XCTAssertThrowsError(try ReferenceExecutor.run(g, inputs: [:])) { XCTAssertTrue("\($0)".contains("missing input 'x'")) }
        XCTAssertThrowsError(try ReferenceExecutor.run(g, inputs: ["x": Tensor.zeros([1, 4, 6, 5])])) {
            XCTAssertTrue("\($0)".contains("[1,4,6,5]"))
        }
        XCTAssertThrowsError(try ReferenceExecutor.run(g, inputs: ["x": x, "y": x])) { XCTAssertTrue("\($0)".contains("unknown input 'y'")) }
        let short = Tensor(elementType: .float, shape: [1, 4, 6, 6], storage: .floats([1, 2]))
        XCTAssertThrowsError(try ReferenceExecutor.run(g, inputs: ["x": short]))
    }

    func testExecutorNamesTheFailingNode() throws {
        var g = try smallGraph()
        // A corrupt op (as a damaged file could hold): the error names the node.
        g.nodes[2].op = .split(Split(axis: 1, sizes: [3, 3]))
        XCTAssertThrowsError(try ReferenceExecutor.run(g, inputs: ["x": Tensor.zeros([1, 4, 6, 6])])) { error in
            XCTAssertTrue("\(error)".contains("node 'split'"), "\(error)")
        }
    }

    func testValidateFindsInconsistencies() throws {
        let good = try smallGraph()
        func expectInvalid(_ mutate: (inout NativeGraph) -> Void, _ fragment: String, line: UInt = #line) {
            var g = good
            mutate(&g)
            XCTAssertThrowsError(try g.validate(), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error) lacks '\(fragment)'", line: line)
            }
        }
        expectInvalid({ $0.nodes.swapAt(0, 1) }, "input 'd' is not defined before it is read")
        expectInvalid({ $0.nodes[3].outputs = ["d"] }, "value defined twice")
        expectInvalid({ $0.shapes["s"] = [1, 4, 3, 2] }, "recorded shape [1,4,3,2] but the op infers [1,4,3,3]")
        expectInvalid({ $0.shapes["s"] = nil }, "no recorded shape")
        expectInvalid({ $0.outputs.append(ValueInfo(name: "nowhere", shape: [1])) }, "graph output is not produced")
        expectInvalid({ $0.outputs[0].shape = [3] }, "graph output declared [3]")
        expectInvalid({ $0.inputs[0].shape = [1, 4, 6, 7] }, "graph input declared")
        expectInvalid({ $0.nodes[0].op = .conv(conv(Tensor.zeros([4, 2, 3, 3]), groups: 4)) }, "node 'dw'")
        expectInvalid({ $0.nodes[2].outputs = ["a"] }, "the op gives 2 outputs, the node names 1")
    }

    func testReinferRejectsBrokenGraphs() throws {
        var g = try smallGraph()
        g.nodes.remove(at: 0)
        XCTAssertThrowsError(try g.reinferShapes()) { XCTAssertTrue("\($0)".contains("'d' is not defined")) }
        var h = try smallGraph()
        h.inputs[0].shape = [1, 4, 10, 10]
        try h.reinferShapes()
        XCTAssertEqual(h.shapes["d"], [1, 4, 5, 5], "shapes follow new input shapes")
        XCTAssertNoThrow(try h.validate())
    }

    func testDumpSnapshot() throws {
        let g = try smallGraph()
        let expected = """
        input x [1,4,6,6]
        dw Conv/DepthwiseConv (x) -> (d [1,4,3,3]) k=3x3 s=2,2 p=1,1,1,1 d=1,1 g=4 cout=4 bias act=ReLU6
        shuffle ChannelShuffle (d) -> (s [1,4,3,3]) groups=2
        split ChannelSplit (s) -> (a [1,2,3,3], b [1,2,3,3]) axis=1 sizes=2,2
        cat Concat (b, a) -> (c [1,4,3,3]) axis=1
        gap GlobalAveragePool (c) -> (p [1,4,1,1])
        fc FullyConnected (p) -> (logits [1,3]) n=3 k=4 bias
        softmax Softmax (logits) -> (prob [1,3]) axis=1
        output prob [1,3]

        """
        XCTAssertEqual(g.dump(), expected)
        XCTAssertEqual(g.dump(), try smallGraph().dump(), "deterministic")
        XCTAssertTrue(g.dump(origins: true).contains("act=ReLU6 <- Conv_0, Clip_1\n"))
    }
}

extension GraphTests {
    func testDumpOfMalformedOpsDoesNotTrap() {
        let bad = NativeNode(name: "c", op: .conv(conv(Tensor.zeros([2]))), inputs: ["x"], outputs: ["y"])
        XCTAssertEqual(bad.dumpLine(shapes: [:]), "c Conv (x) -> (y ?) k=? s=1,1 p=0,0,0,0 d=1,1 g=1 cout=2")
        let fc = NativeNode(name: "f", op: .fullyConnected(FullyConnected(weight: Tensor.zeros([3]), bias: nil)), inputs: ["x"], outputs: ["y"])
        XCTAssertEqual(fc.dumpLine(shapes: ["y": [1, 3]]), "f FullyConnected (x) -> (y [1,3]) n=3 k=0")
    }
}
