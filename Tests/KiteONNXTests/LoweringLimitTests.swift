import KiteCore
@testable import KiteONNX
import XCTest

/// Models found by fuzzing that onnxruntime rejects (or runs) and Kite trapped on or accepted.
final class LoweringLimitTests: XCTestCase {
    func testDuplicateGraphInputIsRejected() {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.input("x", [1, 2])
        m.node("Relu", ["x"], ["y"])
        m.output("y")
        guard case .malformed(let c, let message)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(c.file, "test.onnx")
        XCTAssertEqual(c.tensor, "x")
        XCTAssertEqual(message, "the graph declares this input more than once")
    }

    func testPoolingPadsNotSmallerThanTheKernelAreRejected() {
        for op in ["MaxPool", "AveragePool"] {
            var m = ModelBuilder(opset: 13)
            m.input("x", [1, 1, 4, 4])
            m.node(op, ["x"], ["y"], name: "pool", ["kernel_shape": ints([2, 2]), "pads": ints([0, 2, 0, 0])])
            m.output("y")
            guard case .invalidNode(let c, let message)? = lowerError({ try m.lower() }) else { XCTFail(op); continue }
            XCTAssertEqual(c.node, "pool")
            XCTAssertEqual(c.attribute, "pads")
            XCTAssertEqual(message, "pads [0, 2, 0, 0] must be smaller than kernel_shape [2, 2] (axis 1)")
        }
        var ok = ModelBuilder(opset: 13)
        ok.input("x", [1, 1, 4, 4])
        ok.node("MaxPool", ["x"], ["y"], ["kernel_shape": ints([2, 2]), "pads": ints([1, 1, 1, 1])])
        ok.output("y")
        XCTAssertEqual(try ok.lower().outputs.first?.shape, [1, 1, 5, 5])
    }

    /// K = 0 is legal ONNX (onnxruntime gives zeros, plus C for Gemm); it lowers and runs.
    func testGemmWithEmptyInnerDimensionGivesTheBias() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 0])
        m.weight("w", [0, 3], [])
        m.weight("c", [3], [1, 2, 3])
        m.node("Gemm", ["x", "w", "c"], ["y"])
        m.output("y")
        let graph = try m.lower()
        let out = try runReference(graph, ["x": Tensor(shape: [2, 0], floats: [])])
        assertTensor(out["y"], [2, 3], [1, 2, 3, 1, 2, 3])
    }

    func testMatMulWithNoOutputColumnsGivesAnEmptyOutput() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 3])
        m.weight("w", [3, 0], [])
        m.node("MatMul", ["x", "w"], ["y"])
        m.output("y")
        let graph = try m.lower()
        let out = try runReference(graph, ["x": ramp([2, 3])])
        assertTensor(out["y"], [2, 0], [])
    }

    /// ends and steps of INT64_MIN (as a fuzzer wrote them) mean "backwards, as far as it goes".
    func testSliceWithInt64MinEndsAndSteps() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [5])
        m.ints("starts", [-1])
        m.ints("ends", [Int64.min])
        m.ints("axes", [0])
        m.ints("steps", [Int64.min])
        m.node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
        m.output("y")
        let graph = try m.lower()
        let out = try runReference(graph, ["x": ramp([5], start: 10)])
        assertTensor(out["y"], [1], [14])
    }
}
