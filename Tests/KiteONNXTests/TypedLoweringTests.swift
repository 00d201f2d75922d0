import Foundation
import KiteCore
@testable import KiteONNX
import XCTest

/// Runtime values of other element types than float32, and the ops ONNX function bodies
/// (`_expanded` test cases) use, lowered and run on the reference executor.
final class TypedLoweringTests: XCTestCase {
    func typedInput(_ m: inout ModelBuilder, _ name: String, _ type: ElementType, _ dims: [Int]) {
        m.inputs.append(ONNXValueInfo(name: name, elementType: type, dims: dims.map { .value($0) }))
    }

    func ints(_ type: ElementType, _ shape: [Int], _ v: [Int64]) -> Tensor {
        Tensor(elementType: type, shape: shape, storage: .ints(v))
    }

    func testIntegerInputsStayIntegers() throws {
        var m = ModelBuilder(opset: 14)
        typedInput(&m, "x", .int8, [3])
        m.initializers.append((name: "b", tensor: ints(.int8, [1], [100])))
        m.node("Add", ["x", "b"], ["y"])
        m.node("Div", ["y", "b"], ["z"])
        m.output("y"); m.output("z")
        let graph = try m.lower()
        XCTAssertEqual(graph.elementType(of: "x"), .int8)
        XCTAssertEqual(graph.elementType(of: "y"), .int8)
        XCTAssertFalse(graph.isFloatOnly)
        let out = try runReference(graph, ["x": ints(.int8, [3], [100, -7, 27])])
        // 100 + 100 wraps to -56; -56 / 100 truncates to 0; 93 / 100 = 0; 127 / 100 = 1.
        XCTAssertEqual(out["y"]?.ints, [-56, 93, 127])
        XCTAssertEqual(out["z"]?.ints, [0, 0, 1])
        XCTAssertEqual(out["z"]?.elementType, .int8)
    }

    func testCastAndCastLikeAtRuntime() throws {
        var m = ModelBuilder(opset: 21)
        m.input("x", [4])
        m.node("Cast", ["x"], ["q"], ["to": int(Int(ElementType.int4.rawValue))])
        m.node("Cast", ["x"], ["f8"], ["to": int(Int(ElementType.float8e4m3fn.rawValue)), "saturate": int(0)])
        m.node("Cast", ["x"], ["same"], ["to": int(1)])                                   // float -> float: an alias
        m.initializers.append((name: "like", tensor: ints(.int64, [], [0])))
        m.node("CastLike", ["x", "like"], ["i"])
        m.weight("alpha", [], [2.7])
        m.node("CastLike", ["alpha", "i"], ["a"])                                        // constant: folded to int64 2
        m.node("Mul", ["i", "a"], ["ia"])
        for o in ["q", "f8", "same", "i", "ia"] { m.output(o) }
        let graph = try m.lower()
        XCTAssertEqual(graph.elementType(of: "q"), .int4)
        XCTAssertEqual(graph.elementType(of: "ia"), .int64)
        XCTAssertEqual(graph.nodes.filter { if case .cast = $0.op { return true } else { return false } }.count, 3)
        let out = try runReference(graph, ["x": T([4], [9.5, -1.5, 500, 0.3])])
        XCTAssertEqual(out["q"]?.ints, [0, -1, 0, 0])           // 9.5 and 500 are out of int4: 0, as ml_dtypes gives
        XCTAssertEqual(out["f8"]?.floats[0], 10)                // spacing 1 in [8, 16): the tie goes to even
        XCTAssertTrue(out["f8"]?.floats[2].isNaN ?? false)      // 500 > 448 without saturation
        XCTAssertEqual(out["same"]?.floats, [9.5, -1.5, 500, 0.3])
        XCTAssertEqual(out["i"]?.ints, [9, -1, 500, 0])
        XCTAssertEqual(out["ia"]?.ints, [18, -2, 1000, 0])
    }

    /// Clip's function body: Where(Less(x, min), min, x), then Where(Less(max, x), max, x).
    func testClipExpandedBody() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [4])
        m.weight("lo", [], [-1])
        m.weight("hi", [], [1])
        m.node("Less", ["x", "lo"], ["below"])
        m.node("Where", ["below", "lo", "x"], ["t"])
        m.node("Less", ["hi", "t"], ["above"])
        m.node("Where", ["above", "hi", "t"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.elementType(of: "below"), .bool)
        XCTAssertEqual(Set(kinds(graph)), ["constant", "elementwiseBinary", "whereSelect"])
        assertTensor(try runReference(graph, ["x": T([4], [-3, -0.5, 0.5, 3])])["y"], [4], [-1, -0.5, 0.5, 1])
    }

    /// Softmax's function body: Exp(x - ReduceMax(x)) / ReduceSum(...).
    func testSoftmaxExpandedBody() throws {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 2])
        m.ints("axes", [1])
        m.node("ReduceMax", ["x", "axes"], ["mx"], ["keepdims": int(1)])
        m.node("Sub", ["x", "mx"], ["d"])
        m.node("Exp", ["d"], ["e"])
        m.node("ReduceSum", ["e", "axes"], ["s"], ["keepdims": int(1)])
        m.node("Div", ["e", "s"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertTrue(graph.isFloatOnly)
        // softmax([0, ln 3]) = [1/4, 3/4]
        assertTensor(try runReference(graph, ["x": T([1, 2], [0, log(3)])])["y"], [1, 2], [0.25, 0.75])
    }

    func testMaxMinVariadicAndUnary() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [3])
        m.weight("a", [3], [0, 5, 0])
        m.weight("b", [1], [1])
        m.node("Max", ["x", "a", "b"], ["mx"])
        m.node("Min", ["x"], ["same"])
        m.node("Neg", ["mx"], ["n"])
        m.output("n"); m.output("same")
        let out = try runReference(try m.lower(), ["x": T([3], [-2, 2, 7])])
        assertTensor(out["n"], [3], [-1, -5, -7])
        assertTensor(out["same"], [3], [-2, 2, 7])
    }

    func testMatMulWithRuntimeAndBatchedOperands() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 1, 2])
        m.input("w", [2, 2, 1])
        m.node("MatMul", ["x", "w"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["matMul"])
        let out = try runReference(graph, ["x": T([2, 1, 2], [1, 2, 3, 4]), "w": T([2, 2, 1], [1, 1, 10, 100])])
        assertTensor(out["y"], [2, 1, 1], [3, 430])
        // A constant but batched B ([1, 2, 2, 1]) broadcasts too.
        var c = ModelBuilder(opset: 13)
        c.input("x", [2, 1, 2])
        c.weight("B", [1, 2, 2, 1], [1, 1, 10, 100])
        c.node("MatMul", ["x", "B"], ["y"])
        c.output("y")
        assertTensor(try runReference(try c.lower(), ["x": T([2, 1, 2], [1, 2, 3, 4])])["y"], [1, 2, 1, 1], [3, 430])
    }

    func testBatchNormalizationTrainingMode() throws {
        var m = ModelBuilder(opset: 15)
        m.input("x", [2, 1, 1, 1])
        m.weight("scale", [1], [2])
        m.weight("B", [1], [1])
        m.weight("mean", [1], [0])
        m.weight("var", [1], [1])
        m.node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y", "rm", "rv"],
               ["training_mode": int(1), "epsilon": .float(0), "momentum": .float(0.9)])
        m.output("y"); m.output("rm"); m.output("rv")
        // Batch [1, 3]: mean 2, population variance 1 -> y = (x - 2) * 2 + 1 = [-1, 3];
        // running mean 0 * 0.9 + 2 * 0.1 = 0.2, running var 1 * 0.9 + 1 * 0.1 = 1.
        let out = try runReference(try m.lower(), ["x": T([2, 1, 1, 1], [1, 3])])
        assertTensor(out["y"], [2, 1, 1, 1], [-1, 3])
        assertTensor(out["rm"], [1], [0.2])
        assertTensor(out["rv"], [1], [1])
    }

    func testZeroSizeDimensions() throws {
        var m = ModelBuilder(opset: 14)
        m.input("x", [0, 3])
        m.node("Relu", ["x"], ["r"])
        m.ints("shape", [3, 0])
        m.node("Reshape", ["r", "shape"], ["y"], ["allowzero": int(1)])
        m.output("y")
        let out = try runReference(try m.lower(["x": [0, 3]]), ["x": T([0, 3], [])])
        assertTensor(out["y"], [3, 0], [])
    }

    func testSequenceInputIsUnsupportedInOneLine() throws {
        var m = ModelBuilder(opset: 14)
        m.inputs.append(ONNXValueInfo(name: "s", elementType: .undefined, dims: nil, kind: .sequence))
        m.node("Identity", ["s"], ["y"])
        m.output("y")
        guard case .unsupported(let nodes)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(nodes.first?.context.tensor, "s")
        XCTAssertTrue(nodes[0].reason.contains("sequence"), nodes[0].reason)
        XCTAssertFalse(KiteError.unsupported(nodes).description.contains("\n"))
    }
}

private func T(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, floats: values) }
