import KiteCore
@testable import KiteONNX
import XCTest

/// Shape arithmetic that exporters write without constant folding resolves to
/// plain constants: only the data-moving native ops remain.
final class LoweringFoldingTests: XCTestCase {
    /// Channel shuffle as TorchScript exports it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    static func shuffleModel(opset: Int) -> ModelBuilder {
        var m = ModelBuilder(opset: opset)
        m.input("x", ["batch", 6, 2, 2])
        m.node("Shape", ["x"], ["shape"])
        var dims: [String] = []
        for (i, axis) in [0, 2, 3].enumerated() {
            m.ints("axis\(i)", [Int64(axis)], shape: [])
            m.node("Gather", ["shape", "axis\(i)"], ["d\(i)"], ["axis": int(0)])
            if opset >= 13 {
                m.ints("unsq\(i)", [0])
                m.node("Unsqueeze", ["d\(i)", "unsq\(i)"], ["u\(i)"])
            } else {
                m.node("Unsqueeze", ["d\(i)"], ["u\(i)"], ["axes": ints([0])])
            }
            dims.append("u\(i)")
        }
        m.ints("groups", [2])
        m.ints("perGroup", [-1])
        m.node("Concat", [dims[0], "groups", "perGroup", dims[1], dims[2]], ["shape5"], ["axis": int(0)])
        m.node("Reshape", ["x", "shape5"], ["r5"])
        m.node("Transpose", ["r5"], ["t5"], ["perm": ints([0, 2, 1, 3, 4])])
        m.ints("minusOne", [-1])
        m.node("Concat", [dims[0], "minusOne", dims[1], dims[2]], ["shape4"], ["axis": int(0)])
        m.node("Reshape", ["t5", "shape4"], ["y"])
        m.output("y")
        return m
    }

    func expectedShuffle() -> [Float] {
        var out: [Float] = []
        for i in 0..<3 {
            for j in 0..<2 {
                let c = j * 3 + i
                out += (0..<4).map { Float(c * 4 + $0) }
            }
        }
        return out
    }

    func testShapeGatherUnsqueezeConcatReshapeFoldsToConstantReshape() throws {
        for opset in [11, 13] {
            let model = Self.shuffleModel(opset: opset)
            let m0 = model.nodes.firstIndex { $0.opType == "Reshape" }!
            let graph = try model.lower()
            XCTAssertEqual(kinds(graph), ["reshape", "transpose", "reshape"], "opset \(opset)")
            XCTAssertEqual(graph.reshapes.map(\.shape), [[1, 2, 3, 2, 2], [1, 6, 2, 2]])
            XCTAssertTrue(graph.constants.isEmpty)
            XCTAssertEqual(graph.inputs, [ValueInfo(name: "x", shape: [1, 6, 2, 2])])
            XCTAssertEqual(graph.outputs, [ValueInfo(name: "y", shape: [1, 6, 2, 2])])
            XCTAssertEqual(graph.nodes.map(\.origin), [["Reshape_\(m0)"], ["Transpose_\(m0 + 1)"], ["Reshape_\(m0 + 3)"]])
            let out = try runReference(graph, ["x": ramp([1, 6, 2, 2])])
            assertTensor(out["y"], [1, 6, 2, 2], expectedShuffle())
        }
    }

    func testShuffleFollowsTheGivenBatch() throws {
        let graph = try Self.shuffleModel(opset: 13).lower(["x": [2, 6, 2, 2]])
        XCTAssertEqual(graph.reshapes.map(\.shape), [[2, 2, 3, 2, 2], [2, 6, 2, 2]])
        let out = try runReference(graph, ["x": ramp([2, 6, 2, 2])])
        let first = expectedShuffle()
        assertTensor(out["y"], [2, 6, 2, 2], first + first.map { $0 + 24 })
    }

    /// ShuffleNetV2's channel split as TorchScript writes `x[:, :c//2]` and `x[:, c//2:]`,
    /// with the half computed as (c + 1) / 2 * 1 through Shape, Gather, Add, Div and Mul.
    func testSliceBoundsFromShapeArithmeticResolveToChannelRanges() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 8, 2, 2])
        m.node("Shape", ["x"], ["s"])
        m.ints("one_index", [1], shape: [])
        m.node("Gather", ["s", "one_index"], ["c"], ["axis": int(0)])
        m.ints("one", [1], shape: [])
        m.ints("two", [2], shape: [])
        m.node("Add", ["c", "one"], ["c1"])
        m.node("Div", ["c1", "two"], ["half"])          // 9 / 2 = 4 (truncation)
        m.node("Mul", ["half", "one"], ["half1"])
        m.ints("zero_axis", [0])
        m.node("Unsqueeze", ["half1", "zero_axis"], ["half_1d"])
        m.ints("starts0", [0])
        m.ints("axes1", [1])
        m.ints("big", [Int64.max])
        m.node("Slice", ["x", "starts0", "half_1d", "axes1"], ["left"])
        m.node("Slice", ["x", "half_1d", "big", "axes1"], ["right"])
        m.output("left")
        m.output("right")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["slice", "slice"])
        XCTAssertEqual(graph.slices.map(\.starts), [[0, 0, 0, 0], [0, 4, 0, 0]])
        XCTAssertEqual(graph.slices.map(\.ends), [[1, 4, 2, 2], [1, 8, 2, 2]])
        XCTAssertEqual(graph.slices.map(\.steps), [[1, 1, 1, 1], [1, 1, 1, 1]])
        let out = try runReference(graph, ["x": ramp([1, 8, 2, 2])])
        assertTensor(out["left"], [1, 4, 2, 2], (0..<16).map(Float.init))
        assertTensor(out["right"], [1, 4, 2, 2], (16..<32).map(Float.init))
    }

    func testIntegerDivisionTruncatesTowardZero() throws {
        let a = Tensor(shape: [4], ints: [7, -7, 7, -7])
        let b = Tensor(shape: [4], ints: [2, 2, -2, -2])
        XCTAssertEqual(try Evaluate.binary(.div, a, b).ints, [3, -3, -3, 3])
        XCTAssertEqual(try Evaluate.binary(.mod(fmod: false), a, b).ints, [1, 1, -1, -1])
        XCTAssertEqual(try Evaluate.binary(.mod(fmod: true), a, b).ints, [1, -1, 1, -1])
    }

    func testNegativeStepAndExtremeBoundsReverseAnAxis() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 1, 1, 4])
        m.ints("starts", [-1])
        m.ints("ends", [Int64.min])
        m.ints("axes", [-1])
        m.ints("steps", [-1])
        m.node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.slices.first?.starts, [0, 0, 0, 3])
        XCTAssertEqual(graph.slices.first?.ends, [1, 1, 1, -1])
        let out = try runReference(graph, ["x": ramp([1, 1, 1, 4])])
        assertTensor(out["y"], [1, 1, 1, 4], [3, 2, 1, 0])
    }

    func testSliceAttributesBeforeOpset10() throws {
        var m = ModelBuilder(opset: 9)
        m.input("x", [1, 6, 1, 1])
        m.node("Slice", ["x"], ["y"], ["starts": ints([2]), "ends": ints([100]), "axes": ints([1])])
        m.output("y")
        let graph = try m.lower()
        let out = try runReference(graph, ["x": ramp([1, 6, 1, 1])])
        assertTensor(out["y"], [1, 4, 1, 1], [2, 3, 4, 5])
    }

    /// Constant subgraphs of every supported kind evaluate; unused constants leave no node.
    func testConstantOpsFoldAndVanish() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 4])
        m.node("Constant", [], ["c_shape"], ["value_ints": ints([2, 2])])
        m.node("ConstantOfShape", ["c_shape"], ["ones"], ["value": .tensor(Tensor(shape: [1], floats: [1]))])
        m.node("Constant", [], ["start"], ["value_int": int(0)])
        m.node("Constant", [], ["limit"], ["value_int": int(4)])
        m.node("Constant", [], ["delta"], ["value_int": int(1)])
        m.node("Range", ["start", "limit", "delta"], ["r"])                 // [0, 1, 2, 3]
        m.node("Cast", ["r"], ["rf"], ["to": int(1)])                        // float
        m.node("Reshape", ["ones", "c_shape"], ["ones2"])
        m.node("Flatten", ["ones2"], ["ones_flat"], ["axis": int(0)])          // [1, 4]
        m.node("Add", ["rf", "ones_flat"], ["bias"])                         // [1, 4]: 1, 2, 3, 4
        m.node("Sqrt", ["bias"], ["root"])
        m.node("Neg", ["root"], ["neg"])
        m.node("Add", ["x", "neg"], ["y"])
        m.node("Constant", [], ["unused"], ["value_float": .float(3)])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["binary"])
        let out = try runReference(graph, ["x": ramp([1, 4])])
        let roots: [Float] = [1, 2, 3, 4].map { -Float($0).squareRoot() }
        assertTensor(out["y"], [1, 4], (0..<4).map { Float($0) + roots[$0] })
    }

    func testExpandWhereEqualAndReduceProdFold() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [2, 3])
        m.node("Shape", ["x"], ["s"])                                     // [2, 3]
        m.node("ReduceProd", ["s"], ["n"], ["keepdims": int(1)])          // [6]
        m.ints("six", [6])
        m.node("Equal", ["n", "six"], ["eq"])                             // [true]
        m.ints("a", [-1])
        m.ints("b", [0])
        m.node("Where", ["eq", "a", "b"], ["w"])                          // [-1]
        m.node("Reshape", ["x", "w"], ["flat"])                           // [6]
        m.ints("target", [2, 6])
        m.node("Expand", ["flat", "target"], ["y"])                       // runtime Expand
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["reshape", "binary"])
        let out = try runReference(graph, ["x": ramp([2, 3])])
        let row = (0..<6).map(Float.init)
        assertTensor(out["y"], [2, 6], row + row)
    }

    func testShapeStartEndAtOpset15() throws {
        var m = ModelBuilder(opset: 15)
        m.input("x", [1, 3, 5, 7])
        m.node("Shape", ["x"], ["hw"], ["start": int(-2)])
        m.node("Shape", ["x"], ["c"], ["start": int(1), "end": int(2)])
        m.node("Concat", ["c", "hw"], ["chw"], ["axis": int(0)])
        m.node("Reshape", ["x", "chw"], ["y"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(graph.reshapes.map(\.shape), [[3, 5, 7]])
    }

    func testUnsortedNodesAreOrdered() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Relu", ["a"], ["y"])
        m.weight("w", [2], [1, -5])
        m.node("Add", ["x", "w"], ["a"])
        m.output("y")
        let graph = try m.lower()
        XCTAssertEqual(kinds(graph), ["binary", "activation"])
        let out = try runReference(graph, ["x": Tensor(shape: [1, 2], floats: [1, 1])])
        assertTensor(out["y"], [1, 2], [2, 0])
    }
}
