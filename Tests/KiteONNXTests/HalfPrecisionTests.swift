import KiteCore
@testable import KiteONNX
import XCTest

/// A model exported after `model.half()`: float16 inputs, weights and outputs, computed in
/// float32 so the fast executor and the passes take it.
final class HalfPrecisionTests: XCTestCase {
    /// x -> Conv(3x3, pad 1, bias) -> Relu -> Cast(float) -> y, all float16 but the Cast's output.
    func halfModel(inputType: ElementType) -> ModelBuilder {
        var m = ModelBuilder(opset: 13)
        m.inputs.append(ONNXValueInfo(name: "x", elementType: inputType, dims: [.value(1), .value(2), .value(3), .value(3)]))
        let weights = (0..<36).map { Float($0 % 7 - 3) * 0.25 }   // exact in float16
        m.initializers.append((name: "w", tensor: Tensor(elementType: .float16, shape: [2, 2, 3, 3], storage: .floats(weights))))
        m.initializers.append((name: "b", tensor: Tensor(elementType: .float16, shape: [2], storage: .floats([0.5, -1]))))
        var input = "x"
        if inputType != .float16 {
            m.node("Cast", ["x"], ["x16"], ["to": int(10)])
            input = "x16"
        }
        m.node("Conv", [input, "w", "b"], ["c"], ["pads": ints([1, 1, 1, 1])])
        m.node("Relu", ["c"], ["r"])
        m.node("Cast", ["r"], ["y"], ["to": int(1)])
        m.output("y")
        return m
    }

    func testHalfModelIsComputedInFloat32() throws {
        let result = try Lowering.lowerWithNotes(halfModel(inputType: .float16).model)
        XCTAssertTrue(result.graph.isFloatOnly)
        XCTAssertTrue(result.notes.contains("float16 values are computed in float32 (inputs and outputs are float32)"), "\(result.notes)")
        XCTAssertFalse(kinds(result.graph).contains("cast"))
        // The same model with float32 weights, by hand: the values are exact in both.
        var reference = ModelBuilder(opset: 13)
        reference.input("x", [1, 2, 3, 3])
        reference.weight("w", [2, 2, 3, 3], (0..<36).map { Float($0 % 7 - 3) * 0.25 })
        reference.weight("b", [2], [0.5, -1])
        reference.node("Conv", ["x", "w", "b"], ["c"], ["pads": ints([1, 1, 1, 1])])
        reference.node("Relu", ["c"], ["y"])
        reference.output("y")
        let x = ramp([1, 2, 3, 3], start: -4, step: 0.5)
        let got = try runReference(result.graph, ["x": x])["y"]
        let expected = try runReference(try reference.lower(), ["x": x])["y"]
        XCTAssertEqual(got?.shape, [1, 2, 3, 3])
        XCTAssertEqual(got?.floats, expected?.floats)
        XCTAssertGreaterThan(expected?.floats.filter { $0 > 0 }.count ?? 0, 3)
    }

    /// A float32 model that casts to float16 on purpose keeps its Casts (and their rounding).
    func testFloat32ModelCastingToHalfIsLeftAsItIs() throws {
        let graph = try halfModel(inputType: .float).lower()
        XCTAssertFalse(graph.isFloatOnly)
        XCTAssertEqual(kinds(graph).filter { $0 == "cast" }.count, 2)
    }
}
