import Foundation
import KiteCore
@testable import KiteONNX
import XCTest

/// Each ONNX op family, in its opset forms, lowers to native ops that compute
/// the values the ONNX spec defines (checked with the reference executor).
final class LoweringOpTests: XCTestCase {
    /// A one-node model over input `x` with output `y`.
    func single(_ opset: Int, _ shape: [Int], _ opType: String, _ extraInputs: [String] = [],
                _ attributes: [String: ONNXAttribute] = [:], setup: (inout ModelBuilder) -> Void = { _ in }) -> ModelBuilder {
        var m = ModelBuilder(opset: opset)
        m.input("x", shape)
        setup(&m)
        m.node(opType, ["x"] + extraInputs, ["y"], attributes)
        m.output("y")
        return m
    }

    func run(_ m: ModelBuilder, _ x: Tensor) throws -> Tensor? {
        try runReference(try m.lower(), ["x": x])["y"]
    }

    // MARK: Clip

    func testClipAttributesBeforeOpset11AndInputsFrom11() throws {
        let x = Tensor(shape: [1, 4], floats: [-2, 1, 5, 8])
        let attr = single(6, [1, 4], "Clip", [], ["min": .float(0), "max": .float(6)])
        XCTAssertEqual(try attr.lower().activations, [.clip(min: 0, max: 6)])
        assertTensor(try run(attr, x), [1, 4], [0, 1, 5, 6])

        let inputs = single(11, [1, 4], "Clip", ["lo", "hi"]) { m in
            m.weight("lo", [], [0])
            m.weight("hi", [], [6])
        }
        XCTAssertEqual(try inputs.lower().activations, [.clip(min: 0, max: 6)])
        assertTensor(try run(inputs, x), [1, 4], [0, 1, 5, 6])

        let minOnly = single(13, [1, 4], "Clip", ["lo"]) { $0.weight("lo", [], [0]) }
        assertTensor(try run(minOnly, x), [1, 4], [0, 1, 5, 8])
        let maxOnly = single(13, [1, 4], "Clip", ["", "hi"]) { $0.weight("hi", [], [6]) }
        assertTensor(try run(maxOnly, x), [1, 4], [-2, 1, 5, 6])
        let unbounded = single(6, [1, 4], "Clip")
        assertTensor(try run(unbounded, x), [1, 4], [-2, 1, 5, 8])
    }

    func testClipWithRuntimeBoundIsUnsupported() throws {
        var m = ModelBuilder(opset: 11)
        m.input("x", [1, 4])
        m.input("lo", [])
        m.node("Clip", ["x", "lo"], ["y"], name: "clip")
        m.output("y")
        guard case .unsupported(let nodes)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(nodes.map(\.context.node), ["clip"])
        XCTAssertTrue(nodes[0].reason.contains("must be a constant"), nodes[0].reason)
    }

    // MARK: Other activations

    func testActivationDefaults() throws {
        let x = Tensor(shape: [1, 3], floats: [-4, 0, 2])
        assertTensor(try run(single(13, [1, 3], "Relu"), x), [1, 3], [0, 0, 2])
        assertTensor(try run(single(13, [1, 3], "LeakyRelu"), x), [1, 3], [-0.04, 0, 2])
        assertTensor(try run(single(13, [1, 3], "LeakyRelu", [], ["alpha": .float(0.1)]), x), [1, 3], [-0.4, 0, 2])
        assertTensor(try run(single(13, [1, 3], "HardSigmoid"), x), [1, 3], [0, 0.5, 0.9])
        assertTensor(try run(single(13, [1, 3], "HardSigmoid", [], ["alpha": .float(1.0 / 6), "beta": .float(0.5)]), x),
                     [1, 3], [0, 0.5, 2.0 / 6 + 0.5])
        assertTensor(try run(single(14, [1, 3], "HardSwish"), x), [1, 3], [0, 0, 2 * (2.0 / 6 + 0.5)])
        assertTensor(try run(single(13, [1, 3], "Sigmoid"), x), [1, 3], [1 / (1 + exp(4)), 0.5, 1 / (1 + exp(-2))])
    }

    func testHardSwishBeforeOpset14IsUnsupported() throws {
        let m = single(13, [1, 3], "HardSwish")
        guard case .unsupported(let nodes)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertTrue(nodes[0].reason.contains("opset 14"), nodes[0].reason)
    }

    // MARK: Split

    func testSplitAttributeInputNumOutputsAndEqualForms() throws {
        let x = ramp([1, 4, 1, 1])
        // opset 11: `split` attribute.
        var m = ModelBuilder(opset: 11)
        m.input("x", [1, 4, 1, 1])
        m.node("Split", ["x"], ["a", "b"], ["axis": int(1), "split": ints([1, 3])])
        m.output("a"); m.output("b")
        var graph = try m.lower()
        XCTAssertEqual(graph.splits, [Split(axis: 1, sizes: [1, 3])])
        var out = try runReference(graph, ["x": x])
        assertTensor(out["a"], [1, 1, 1, 1], [0])
        assertTensor(out["b"], [1, 3, 1, 1], [1, 2, 3])

        // opset 13: sizes as an input, negative axis.
        m = ModelBuilder(opset: 13)
        m.input("x", [1, 4, 1, 1])
        m.ints("sizes", [3, 1])
        m.node("Split", ["x", "sizes"], ["a", "b"], ["axis": int(-3)])
        m.output("a"); m.output("b")
        graph = try m.lower()
        XCTAssertEqual(graph.splits, [Split(axis: 1, sizes: [3, 1])])
        out = try runReference(graph, ["x": x])
        assertTensor(out["a"], [1, 3, 1, 1], [0, 1, 2])
        assertTensor(out["b"], [1, 1, 1, 1], [3])

        // opset 13 without sizes: equal pieces.
        m = ModelBuilder(opset: 13)
        m.input("x", [1, 4, 1, 1])
        m.node("Split", ["x"], ["a", "b"], ["axis": int(1)])
        m.output("a"); m.output("b")
        graph = try m.lower()
        XCTAssertEqual(graph.splits, [Split(axis: 1, sizes: [2, 2])])
        out = try runReference(graph, ["x": x])
        assertTensor(out["b"], [1, 2, 1, 1], [2, 3])

        // opset 18: num_outputs with a smaller last chunk (7 -> 3, 3, 1).
        m = ModelBuilder(opset: 18)
        m.input("x", [1, 7])
        m.node("Split", ["x"], ["a", "b", "c"], ["axis": int(1), "num_outputs": int(3)])
        m.output("a"); m.output("b"); m.output("c")
        graph = try m.lower()
        XCTAssertEqual(graph.splits, [Split(axis: 1, sizes: [3, 3, 1])])
        out = try runReference(graph, ["x": ramp([1, 7])])
        assertTensor(out["a"], [1, 3], [0, 1, 2])
        assertTensor(out["b"], [1, 3], [3, 4, 5])
        assertTensor(out["c"], [1, 1], [6])
    }

    func testUnevenEqualSplitIsAShapeMismatch() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 5])
        m.node("Split", ["x"], ["a", "b"], name: "split", ["axis": int(1)])
        m.output("a"); m.output("b")
        guard case .shapeMismatch(let ctx, _)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.node, "split")
        XCTAssertEqual(ctx.file, "test.onnx")
    }

    // MARK: Softmax

    func testSoftmaxBeforeOpset13CoercesTo2DAndFrom13UsesOneAxis() throws {
        let x = ramp([1, 2, 2])
        let e = (0..<4).map { exp(Float($0)) }
        let total = e.reduce(0, +)

        let old = single(11, [1, 2, 2], "Softmax", [], ["axis": int(1)])
        let oldGraph = try old.lower()
        XCTAssertEqual(kinds(oldGraph), ["reshape", "softmax", "reshape"])
        XCTAssertEqual(oldGraph.reshapes.map(\.shape), [[1, 4], [1, 2, 2]])
        assertTensor(try run(old, x), [1, 2, 2], e.map { $0 / total })

        let new = single(13, [1, 2, 2], "Softmax", [], ["axis": int(1)])
        XCTAssertEqual(kinds(try new.lower()), ["softmax"])
        let s = { (v: Float) in 1 / (1 + exp(-v)) }
        assertTensor(try run(new, x), [1, 2, 2], [s(-2), s(-2), s(2), s(2)])

        // Already the last axis of a 2-D input: no reshapes, even before 13.
        let flat = single(11, [2, 2], "Softmax")
        XCTAssertEqual(kinds(try flat.lower()), ["softmax"])
        assertTensor(try run(flat, ramp([2, 2])), [2, 2], [s(-1), s(1), s(-1), s(1)])

        // Default axis -1 from 13.
        let last = single(13, [1, 2, 2], "Softmax")
        assertTensor(try run(last, x), [1, 2, 2], [s(-1), s(1), s(-1), s(1)])
    }

    // MARK: Gemm / MatMul

    let a: [Float] = [1, 2, 3, 4, 5, 6]               // [2, 3]
    let b: [Float] = [1, 0, 0, 1, 1, 1]               // [3, 2]; A * B = [[4, 5], [10, 11]]
    let bT: [Float] = [1, 0, 1, 0, 1, 1]              // [2, 3]

    func gemm(transB: Bool, alpha: Float, beta: Float, c: (shape: [Int], values: [Float])?) -> ModelBuilder {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 3])
        m.weight("B", transB ? [2, 3] : [3, 2], transB ? bT : b)
        var inputs = ["x", "B"]
        if let c {
            m.weight("C", c.shape, c.values)
            inputs.append("C")
        }
        m.node("Gemm", inputs, ["y"], ["transB": int(transB ? 1 : 0), "alpha": .float(alpha), "beta": .float(beta)])
        m.output("y")
        return m
    }

    func testGemmTransBAlphaBeta() throws {
        let x = Tensor(shape: [2, 3], floats: a)
        for transB in [false, true] {
            let m = gemm(transB: transB, alpha: 0.5, beta: 2, c: ([2], [1, -1]))
            let graph = try m.lower()
            XCTAssertEqual(kinds(graph), ["fullyConnected"])
            guard case .fullyConnected(let fc) = graph.nodes[0].op else { return XCTFail() }
            XCTAssertEqual(fc.weight.shape, [2, 3])
            XCTAssertEqual(fc.weight.floats, bT.map { $0 * 0.5 })
            XCTAssertEqual(fc.bias, [2, -2])
            assertTensor(try runReference(graph, ["x": x])["y"], [2, 2], [4, 0.5, 7, 3.5])
        }
        // A full [M, N] C whose rows differ is added after the product.
        let full = gemm(transB: true, alpha: 0.5, beta: 1, c: ([2, 2], [1, 2, 3, 4]))
        XCTAssertEqual(kinds(try full.lower()), ["fullyConnected", "binary"])
        assertTensor(try run(full, x), [2, 2], [3, 4.5, 8, 9.5])
        // No C.
        assertTensor(try run(gemm(transB: false, alpha: 1, beta: 1, c: nil), x), [2, 2], [4, 5, 10, 11])
    }

    func testGemmTransAAndRuntimeBUnsupported() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [3, 2])
        m.weight("B", [3, 2], b)
        m.node("Gemm", ["x", "B"], ["y"], ["transA": int(1)])
        m.output("y")
        // x^T = A
        assertTensor(try runReference(try m.lower(), ["x": Tensor(shape: [3, 2], floats: [1, 4, 2, 5, 3, 6])])["y"],
                     [2, 2], [4, 5, 10, 11])

        var r = ModelBuilder(opset: 13)
        r.input("x", [2, 3])
        r.input("w", [3, 2])
        r.node("Gemm", ["x", "w"], ["y"], name: "fc")
        r.output("y")
        guard case .unsupported(let nodes)? = lowerError({ try r.lower() }) else { return XCTFail() }
        XCTAssertEqual(nodes.first?.context.opType, "Gemm")
        XCTAssertTrue(nodes[0].reason.contains("constant B"), nodes[0].reason)
    }

    func testMatMulOfRank3InputReshapesAroundFullyConnected() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 1, 3])
        m.weight("B", [3, 2], b)
        m.node("MatMul", ["x", "B"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["reshape", "fullyConnected", "reshape"])
        XCTAssertEqual(graph.outputs, [ValueInfo(name: "y", shape: [2, 1, 2])])
        assertTensor(try runReference(graph, ["x": Tensor(shape: [2, 1, 3], floats: a)])["y"], [2, 1, 2], [4, 5, 10, 11])
    }

    // MARK: Conv

    /// Sums of each 2x2 window of a 4x4 ramp padded by `pads` [top, left, bottom, right].
    func windowSums(_ pads: [Int]) -> [Float] {
        let x = (0..<16).map(Float.init)
        var out: [Float] = []
        for i in 0..<4 {
            for j in 0..<4 {
                var s: Float = 0
                for di in 0..<2 {
                    for dj in 0..<2 {
                        let r = i + di - pads[0], c = j + dj - pads[1]
                        if r >= 0 && r < 4 && c >= 0 && c < 4 { s += x[r * 4 + c] }
                    }
                }
                out.append(s)
            }
        }
        return out
    }

    func testAutoPadSameUpperAndSameLower() throws {
        for (mode, pads) in [("SAME_UPPER", [0, 0, 1, 1]), ("SAME_LOWER", [1, 1, 0, 0])] {
            var m = ModelBuilder(opset: 11)
            m.input("x", [1, 1, 4, 4])
            m.weight("w", [1, 1, 2, 2], [1, 1, 1, 1])
            m.node("Conv", ["x", "w"], ["y"], ["auto_pad": .string(mode), "kernel_shape": ints([2, 2])])
            m.output("y")
            let graph = try m.lower()
            XCTAssertEqual(graph.convs.first?.pads, pads, mode)
            assertTensor(try runReference(graph, ["x": ramp([1, 1, 4, 4])])["y"], [1, 1, 4, 4], windowSums(pads))
        }
        // Stride 2, kernel 3 on 5: output 3, total padding 2, split evenly.
        var m = ModelBuilder(opset: 11)
        m.input("x", [1, 1, 5, 5])
        m.weight("w", [1, 1, 3, 3], [Float](repeating: 1, count: 9))
        m.node("Conv", ["x", "w"], ["y"], ["auto_pad": .string("SAME_UPPER"), "strides": ints([2, 2])])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.convs.first?.pads, [1, 1, 1, 1])
        XCTAssertEqual(graph.outputs.first?.shape, [1, 1, 3, 3])
    }

    func testGroupConvWithBiasAndExplicitPads() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2, 2, 2])
        m.weight("w", [2, 1, 1, 1], [2, -1])
        m.weight("bias", [2], [1, 10])
        m.node("Conv", ["x", "w", "bias"], ["y"], ["group": int(2), "pads": ints([0, 1, 0, 0])])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.convs.first?.groups, 2)
        XCTAssertEqual(graph.convs.first?.pads, [0, 1, 0, 0])
        // channel 0: 2x+1 with a zero column on the left; channel 1: -x+10.
        assertTensor(try runReference(graph, ["x": ramp([1, 2, 2, 2])])["y"], [1, 2, 2, 3],
                     [1, 1, 3, 1, 5, 7, 10, 6, 5, 10, 4, 3])
    }

    // MARK: BatchNormalization

    func testBatchNormBecomesScaleShift() throws {
        for opset in [7, 9, 14, 15] {
            var m = ModelBuilder(opset: opset)
            m.input("x", [1, 2, 1, 2])
            m.weight("scale", [2], [2, 0.5])
            m.weight("B", [2], [1, -1])
            m.weight("mean", [2], [3, 0])
            m.weight("var", [2], [3, 0])
            m.node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"], ["epsilon": .float(1)])
            m.output("y")
            let graph = try m.lower()
            guard case .scaleShift(let ss)? = graph.nodes.first?.op else { return XCTFail("opset \(opset)") }
            XCTAssertEqual(ss.scale, [1, 0.5])
            XCTAssertEqual(ss.shift, [-2, -1])
            assertTensor(try runReference(graph, ["x": Tensor(shape: [1, 2, 1, 2], floats: [1, 2, 3, 4])])["y"],
                         [1, 2, 1, 2], [-1, 0, 0.5, 1])
        }
    }

    // MARK: Pooling and reductions

    func testPoolingForms() throws {
        let x = ramp([1, 1, 3, 3])
        let ceil = single(10, [1, 1, 3, 3], "MaxPool", [], ["kernel_shape": ints([2, 2]), "strides": ints([2, 2]), "ceil_mode": int(1)])
        assertTensor(try run(ceil, x), [1, 1, 2, 2], [4, 5, 7, 8])
        let floor = single(10, [1, 1, 3, 3], "MaxPool", [], ["kernel_shape": ints([2, 2]), "strides": ints([2, 2])])
        assertTensor(try run(floor, x), [1, 1, 1, 1], [4])

        let exclude = single(11, [1, 1, 3, 3], "AveragePool", [], ["kernel_shape": ints([3, 3]), "pads": ints([1, 1, 1, 1]), "strides": ints([2, 2])])
        assertTensor(try run(exclude, x), [1, 1, 2, 2], [2, 3, 5, 6])
        let include = single(11, [1, 1, 3, 3], "AveragePool", [], ["kernel_shape": ints([3, 3]), "pads": ints([1, 1, 1, 1]),
                                                                     "strides": ints([2, 2]), "count_include_pad": int(1)])
        assertTensor(try run(include, x), [1, 1, 2, 2], [8.0 / 9, 12.0 / 9, 20.0 / 9, 24.0 / 9])

        assertTensor(try run(single(13, [1, 1, 3, 3], "GlobalAveragePool"), x), [1, 1, 1, 1], [4])
        assertTensor(try run(single(13, [1, 1, 3, 3], "GlobalMaxPool"), x), [1, 1, 1, 1], [8])
    }

    func testMaxPoolIndicesOutputRowAndColumnMajor() throws {
        // 2 images of 2x2: the max of [1, 4, 3, 2] is at (h 0, w 1), of [7, 5, 6, 8] at (1, 1).
        let x = Tensor(shape: [2, 1, 2, 2], floats: [1, 4, 3, 2, 7, 5, 6, 8])
        for (order, idx) in [(0, [Float(1), 7]), (1, [2, 7])] {
            var m = ModelBuilder(opset: 12)
            m.input("x", [2, 1, 2, 2])
            m.node("MaxPool", ["x"], ["y", "idx"], name: "pool", ["kernel_shape": ints([2, 2]), "storage_order": int(order)])
            m.output("y"); m.output("idx")
            let graph = try m.lower()
            XCTAssertEqual(graph.elementType(of: "idx"), .int64)
            let out = try runReference(graph, ["x": x])
            assertTensor(out["y"], [2, 1, 1, 1], [4, 8])
            // Flat offsets into the input: image 1 starts at 4; column-major (0, 1) is 0 + 1 * 2.
            assertTensor(out["idx"], [2, 1, 1, 1], idx)
            XCTAssertEqual(out["idx"]?.elementType, .int64)
        }
    }

    func testOneAndThreeDimensionalPooling() throws {
        // 1-D: [1, 3, 2, 5, 4], k 2, s 2, pad end 1 -> max [3, 5, 4], average (pad excluded) [2, 3.5, 4].
        let x1 = Tensor(shape: [1, 1, 5], floats: [1, 3, 2, 5, 4])
        let maxPool = single(13, [1, 1, 5], "MaxPool", [], ["kernel_shape": ints([2]), "strides": ints([2]), "pads": ints([0, 1])])
        assertTensor(try run(maxPool, x1), [1, 1, 3], [3, 5, 4])
        let avgPool = single(13, [1, 1, 5], "AveragePool", [], ["kernel_shape": ints([2]), "strides": ints([2]), "pads": ints([0, 1])])
        assertTensor(try run(avgPool, x1), [1, 1, 3], [2, 3.5, 4])
        // 3-D: a 2x2x2 ramp 0..7 with a 2x2x2 window -> max 7, mean 3.5.
        let x3 = ramp([1, 1, 2, 2, 2])
        assertTensor(try run(single(13, [1, 1, 2, 2, 2], "MaxPool", [], ["kernel_shape": ints([2, 2, 2])]), x3), [1, 1, 1, 1, 1], [7])
        assertTensor(try run(single(13, [1, 1, 2, 2, 2], "AveragePool", [], ["kernel_shape": ints([2, 2, 2])]), x3), [1, 1, 1, 1, 1], [3.5])
    }

    func testReduceMeanAxesAttributeAndInput() throws {
        let x = ramp([1, 2, 2, 2])
        let attr = single(13, [1, 2, 2, 2], "ReduceMean", [], ["axes": ints([2, 3])])
        assertTensor(try run(attr, x), [1, 2, 1, 1], [1.5, 5.5])
        let input = single(18, [1, 2, 2, 2], "ReduceMean", ["axes"], ["keepdims": int(0)]) { $0.ints("axes", [-1, -2]) }
        assertTensor(try run(input, x), [1, 2], [1.5, 5.5])
        let noop = single(18, [1, 2, 2, 2], "ReduceMean", [], ["noop_with_empty_axes": int(1)])
        assertTensor(try run(noop, x), [1, 2, 2, 2], x.floats)
        let all = single(18, [1, 2, 2, 2], "ReduceMean", [], ["keepdims": int(0)])
        assertTensor(try run(all, x), [], [3.5])
    }

    // MARK: Data movement

    func testPadForms() throws {
        let x = Tensor(shape: [1, 1, 1, 1], floats: [5])
        let v2 = single(2, [1, 1, 1, 1], "Pad", [], ["pads": ints([0, 0, 1, 0, 0, 0, 0, 1]), "value": .float(9)])
        assertTensor(try run(v2, x), [1, 1, 2, 2], [9, 9, 5, 9])
        let v11 = single(11, [1, 1, 1, 1], "Pad", ["pads", "value"]) { m in
            m.ints("pads", [0, 0, 1, 0, 0, 0, 0, 1])
            m.weight("value", [], [9])
        }
        assertTensor(try run(v11, x), [1, 1, 2, 2], [9, 9, 5, 9])
        let v18 = single(18, [1, 1, 1, 1], "Pad", ["pads", "", "axes"]) { m in
            m.ints("pads", [1, 0, 0, 1])
            m.ints("axes", [2, 3])
        }
        assertTensor(try run(v18, x), [1, 1, 2, 2], [0, 0, 5, 0])
        // [1, 2, 3] padded by 2 on both sides of the last axis.
        let row = Tensor(shape: [1, 3], floats: [1, 2, 3])
        for (opset, mode, want) in [(11, "reflect", [Float(3), 2, 1, 2, 3, 2, 1]), (11, "edge", [1, 1, 1, 2, 3, 3, 3]),
                                    (19, "wrap", [2, 3, 1, 2, 3, 1, 2])] {
            let m = single(opset, [1, 3], "Pad", ["pads"], ["mode": .string(mode)]) { $0.ints("pads", [0, 2, 0, 2]) }
            assertTensor(try run(m, row), [1, 7], want)
        }
        // wrap only exists from opset 19.
        let early = single(18, [1, 3], "Pad", ["pads"], ["mode": .string("wrap")]) { $0.ints("pads", [0, 2, 0, 2]) }
        guard case .invalidNode(let ctx, _)? = lowerError({ try early.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.attribute, "mode")
    }

    func testRuntimeGatherWithConstantIndices() throws {
        let m = single(13, [1, 4, 1, 1], "Gather", ["idx"], ["axis": int(1)]) { $0.ints("idx", [3, 0, -2]) }
        let graph = try m.lower()
        guard case .gather(let g)? = graph.nodes.first?.op else { return XCTFail() }
        XCTAssertEqual(g, Gather(axis: 1, indices: [3, 0, 2], indicesShape: [3]))
        assertTensor(try runReference(graph, ["x": ramp([1, 4, 1, 1])])["y"], [1, 3, 1, 1], [3, 0, 2])
    }

    func testUnsqueezeSqueezeFlattenTransposeOnRuntimeValues() throws {
        var m = ModelBuilder(opset: 11)
        m.input("x", [1, 3])
        m.node("Unsqueeze", ["x"], ["u"], ["axes": ints([2, -1])])
        m.node("Squeeze", ["u"], ["s"], ["axes": ints([2])])
        m.node("Transpose", ["s"], ["t"])
        m.node("Flatten", ["t"], ["y"], ["axis": int(-1)])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.shapes["u"], [1, 3, 1, 1])
        XCTAssertEqual(graph.shapes["s"], [1, 3, 1])
        XCTAssertEqual(graph.shapes["t"], [1, 3, 1])
        assertTensor(try runReference(graph, ["x": ramp([1, 3])])["y"], [3, 1], [0, 1, 2])

        var n = ModelBuilder(opset: 13)
        n.input("x", [1, 3, 1, 1])
        n.ints("axes", [2, 3])
        n.node("Squeeze", ["x", "axes"], ["s"])
        n.node("Unsqueeze", ["s", "axes"], ["y"])
        n.output("y")
        let g = try n.lower()
        XCTAssertEqual(g.shapes["s"], [1, 3])
        assertTensor(try runReference(g, ["x": ramp([1, 3, 1, 1])])["y"], [1, 3, 1, 1], [0, 1, 2])
    }

    func testReshapeZeroCopiesUnlessAllowZero() throws {
        let m = single(14, [2, 3, 4], "Reshape", ["shape"]) { $0.ints("shape", [0, -1]) }
        XCTAssertEqual(try m.lower().outputs.first?.shape, [2, 12])
        let z = single(14, [2, 3, 4], "Reshape", ["shape"], ["allowzero": int(1)]) { $0.ints("shape", [0, -1]) }
        guard case .shapeMismatch? = lowerError({ try z.lower() }) else { return XCTFail() }
        let old = single(4, [2, 3, 4], "Reshape", [], ["shape": ints([-1, 4])])
        XCTAssertEqual(try old.lower().outputs.first?.shape, [6, 4])
    }

    func testBinaryWithConstantOnEitherSideAndLegacyBroadcast() throws {
        let x = ramp([1, 2, 1, 2])
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2, 1, 2])
        m.weight("ten", [], [10])
        m.node("Sub", ["ten", "x"], ["y"])
        m.output("y")
        assertTensor(try runReference(try m.lower(), ["x": x])["y"], [1, 2, 1, 2], [10, 9, 8, 7])

        // opset 6: B [2] broadcast along axis 1 of [1, 2, 1, 2].
        var old = ModelBuilder(opset: 6)
        old.input("x", [1, 2, 1, 2])
        old.weight("b", [2], [100, 200])
        old.node("Add", ["x", "b"], ["y"], ["broadcast": int(1), "axis": int(1)])
        old.output("y")
        assertTensor(try runReference(try old.lower(), ["x": x])["y"], [1, 2, 1, 2], [100, 101, 202, 203])

        // Two runtime inputs.
        var two = ModelBuilder(opset: 13)
        two.input("x", [1, 2, 1, 2])
        two.input("z", [1, 2, 1, 1])
        two.node("Mul", ["x", "z"], ["y"])
        two.output("y")
        let out = try runReference(try two.lower(), ["x": x, "z": Tensor(shape: [1, 2, 1, 1], floats: [2, 3])])
        assertTensor(out["y"], [1, 2, 1, 2], [0, 2, 6, 9])
    }

    // MARK: Aliases

    func testAliasesThatAreGraphOutputsStillExist() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Relu", ["x"], ["r"])
        m.node("Identity", ["r"], ["id"])
        m.node("Dropout", ["r"], ["drop"])
        m.node("Cast", ["r"], ["cast"], ["to": int(1)])
        m.ints("same", [1, 2])
        m.node("Reshape", ["r", "same"], ["reshaped"])
        m.node("Identity", ["x"], ["passthrough"])
        for name in ["id", "drop", "cast", "reshaped", "passthrough", "r"] { m.output(name) }
        let graph = try m.lower()
        XCTAssertEqual(graph.outputs.map(\.name), ["id", "drop", "cast", "reshaped", "passthrough", "r"])
        XCTAssertEqual(kinds(graph), ["activation", "reshape", "reshape", "reshape", "reshape", "reshape"])
        let out = try runReference(graph, ["x": Tensor(shape: [1, 2], floats: [-1, 2])])
        for name in ["id", "drop", "cast", "reshaped", "r"] { assertTensor(out[name], [1, 2], [0, 2]) }
        assertTensor(out["passthrough"], [1, 2], [-1, 2])
    }

    func testConstantGraphOutputBecomesAConstantNode() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Shape", ["x"], ["s"])
        m.node("Cast", ["s"], ["y"], ["to": int(1)])
        m.node("Relu", ["x"], ["r"])
        m.output("y"); m.output("r")
        let graph = try m.lower()
        XCTAssertEqual(graph.constants.map(\.value.floats), [[1, 2]])
        let out = try runReference(graph, ["x": Tensor(shape: [1, 2], floats: [-1, 2])])
        assertTensor(out["y"], [2], [1, 2])
    }

    func testDropoutMaskInInferenceIsAConstantOfTrues() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Dropout", ["x"], ["y", "mask"], name: "drop")
        m.node("Cast", ["mask"], ["maskf"], name: "castmask", ["to": int(1)])
        m.output("y"); m.output("maskf")
        let out = try runReference(try m.lower(), ["x": Tensor(shape: [1, 2], floats: [3, 4])])
        assertTensor(out["y"], [1, 2], [3, 4])
        assertTensor(out["maskf"], [1, 2], [1, 1])
    }

    // MARK: Older and newer forms

    func testPadPaddingsAttributeAtOpset1() throws {
        let m = single(1, [1, 1, 1, 1], "Pad", [], ["paddings": ints([0, 0, 0, 1, 0, 0, 0, 0]), "value": .float(2)])
        assertTensor(try run(m, Tensor(shape: [1, 1, 1, 1], floats: [5])), [1, 1, 1, 2], [2, 5])
    }

    func testDropoutTrainingModeInput() throws {
        let off = single(12, [1, 2], "Dropout", ["ratio", "mode"]) { m in
            m.weight("ratio", [], [0.5])
            m.initializers.append((name: "mode", tensor: Tensor(elementType: .bool, shape: [], storage: .ints([0]))))
        }
        XCTAssertEqual(kinds(try off.lower()), ["reshape"])   // the alias, made to exist as the graph output
        assertTensor(try run(off, Tensor(shape: [1, 2], floats: [3, 4])), [1, 2], [3, 4])
        let on = single(12, [1, 2], "Dropout", ["ratio", "mode"]) { m in
            m.weight("ratio", [], [0.5])
            m.initializers.append((name: "mode", tensor: Tensor(elementType: .bool, shape: [], storage: .ints([1]))))
        }
        // MT19937 seeded 0 draws 0.5488135, 0.71518937 (numpy's np.random.seed(0); uniform(0, 1, 2)):
        // with ratio 0.5 both are kept and scaled by 2; with ratio 0.6 the first is dropped.
        XCTAssertEqual(kinds(try on.lower()), ["dropout"])
        assertTensor(try run(on, Tensor(shape: [1, 2], floats: [3, 4])), [1, 2], [6, 8])
        var masked = ModelBuilder(opset: 12)
        masked.input("x", [1, 2])
        masked.weight("ratio", [], [0.6])
        masked.initializers.append((name: "mode", tensor: Tensor(elementType: .bool, shape: [], storage: .ints([1]))))
        masked.node("Dropout", ["x", "ratio", "mode"], ["y", "mask"], ["seed": int(0)])
        masked.output("y"); masked.output("mask")
        let out = try runReference(try masked.lower(), ["x": Tensor(shape: [1, 2], floats: [3, 4])])
        assertTensor(out["y"], [1, 2], [0, 10])
        assertTensor(out["mask"], [1, 2], [0, 1])
        XCTAssertEqual(out["mask"]?.elementType, .bool)
    }

    func testConstantAttributeForms() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Constant", [], ["a"], ["value_floats": .floats([1, 2])])
        m.node("Constant", [], ["b"], ["value_float": .float(10)])
        m.node("Constant", [], ["c"], ["value": .tensor(Tensor(shape: [1, 2], floats: [100, 200]))])
        m.node("Mul", ["a", "b"], ["ab"])
        m.node("Add", ["ab", "c"], ["abc"])
        m.node("Identity", ["abc"], ["k"])
        m.node("Add", ["x", "k"], ["y"])
        m.output("y")
        assertTensor(try run(m, Tensor(shape: [1, 2], floats: [1, 1])), [1, 2], [111, 221])
    }

    func testMissingDefaultOpsetAssumesTheNewestWithANote() throws {
        var m = single(13, [1, 2], "Relu")
        m.importsDefault = false
        let result = try Lowering.lowerWithNotes(m.model)
        XCTAssertEqual(result.notes.count, 1)
        XCTAssertTrue(result.notes[0].contains("assuming opset"), result.notes[0])
    }

    func testOpsetNewerThanKnownIsReadWithANote() throws {
        let m = single(30, [1, 2], "Relu")
        let result = try Lowering.lowerWithNotes(m.model)
        XCTAssertEqual(result.notes.count, 1)
        XCTAssertTrue(result.notes[0].contains("opset 30") && result.notes[0].contains("opset 21"), result.notes[0])
        XCTAssertTrue(try Lowering.lowerWithNotes(single(21, [1, 2], "Relu").model).notes.isEmpty)
    }
}
