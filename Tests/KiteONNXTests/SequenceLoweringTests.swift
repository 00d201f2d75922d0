import KiteCore
@testable import KiteONNX
import XCTest

/// Sequences known when converting: SplitToSequence (dynamo's unoptimised channel split),
/// SequenceAt, SequenceConstruct/Insert/Erase/Length and ConcatFromSequence.
final class SequenceLoweringTests: XCTestCase {
    func testSplitToSequenceByScalarSizeThenSequenceAt() throws {
        // dim 1 of size 5 in pieces of 2: sizes 2, 2, 1; items 0 and -1 (the last).
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 5, 1, 2])
        m.ints("size", [2], shape: [])
        m.ints("first", [0], shape: [])
        m.ints("last", [-1], shape: [])
        m.node("SplitToSequence", ["x", "size"], ["seq"], ["axis": int(1)])
        m.node("SequenceAt", ["seq", "first"], ["a"])
        m.node("SequenceAt", ["seq", "last"], ["b"])
        m.output("a"); m.output("b")
        let graph = try m.lower()
        XCTAssertEqual(graph.splits, [Split(axis: 1, sizes: [2, 2, 1])])
        let out = try runReference(graph, ["x": ramp([1, 5, 1, 2])])
        assertTensor(out["a"], [1, 2, 1, 2], [0, 1, 2, 3])
        assertTensor(out["b"], [1, 1, 1, 2], [8, 9])
    }

    func testSplitToSequenceSizesAndKeepdimsZero() throws {
        // Sizes [1, 2] along axis -1 (keepdims is ignored when sizes are given).
        var m = ModelBuilder(opset: 11)
        m.input("x", [2, 3])
        m.ints("sizes", [1, 2])
        m.ints("one", [1], shape: [])
        m.node("SplitToSequence", ["x", "sizes"], ["seq"], ["axis": int(-1), "keepdims": int(0)])
        m.node("SequenceAt", ["seq", "one"], ["y"])
        m.output("y")
        var out = try runReference(try m.lower(), ["x": ramp([2, 3])])
        assertTensor(out["y"], [2, 2], [1, 2, 4, 5])

        // No sizes: pieces of 1, the axis dropped with keepdims 0.
        m = ModelBuilder(opset: 11)
        m.input("x", [2, 3])
        m.ints("one", [1], shape: [])
        m.node("SplitToSequence", ["x"], ["seq"], ["axis": int(0), "keepdims": int(0)])
        m.node("SequenceAt", ["seq", "one"], ["y"])
        m.node("SequenceLength", ["seq"], ["n"])
        m.output("y"); m.output("n")
        let graph = try m.lower()
        out = try runReference(graph, ["x": ramp([2, 3])])
        assertTensor(out["y"], [3], [3, 4, 5])
        XCTAssertEqual(out["n"]?.ints, [2])
        XCTAssertEqual(out["n"]?.shape, [])
    }

    func testConstantInputFoldsAndRuntimeSequenceOpsCompose() throws {
        // A constant split folds; Construct -> Insert -> Erase -> ConcatFromSequence (stacking).
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.weight("w", [2, 2], [10, 20, 30, 40])
        m.ints("zero", [0], shape: [])
        m.ints("minusOne", [-1], shape: [])
        m.node("SplitToSequence", ["w"], ["wseq"], ["axis": int(0)])
        m.node("SequenceAt", ["wseq", "minusOne"], ["w1"])          // [[30, 40]]
        m.node("Relu", ["x"], ["r"])
        m.node("SequenceConstruct", ["x", "w1"], ["s1"])            // [x, w1]
        m.node("SequenceInsert", ["s1", "r", "zero"], ["s2"])       // [r, x, w1]
        m.node("SequenceErase", ["s2"], ["s3"])                     // [r, x]
        m.node("ConcatFromSequence", ["s3"], ["stacked"], ["axis": int(0), "new_axis": int(1)])
        m.node("SequenceInsert", ["s3", "w1"], ["s4"])              // [r, x, w1]
        m.node("ConcatFromSequence", ["s4"], ["joined"], ["axis": int(1)])
        m.output("stacked"); m.output("joined")
        let out = try runReference(try m.lower(), ["x": Tensor(shape: [1, 2], floats: [-1, 2])])
        assertTensor(out["stacked"], [2, 1, 2], [0, 2, -1, 2])
        assertTensor(out["joined"], [1, 6], [0, 2, -1, 2, 30, 40])
    }

    func testSequenceErrorsNameTheNode() throws {
        func model(position: Int64) -> ModelBuilder {
            var m = ModelBuilder(opset: 18)
            m.input("x", [1, 4])
            m.ints("size", [2], shape: [])
            m.ints("p", [position], shape: [])
            m.node("SplitToSequence", ["x", "size"], ["seq"], name: "split", ["axis": int(1)])
            m.node("SequenceAt", ["seq", "p"], ["y"], name: "item")
            m.output("y")
            return m
        }
        XCTAssertNoThrow(try model(position: -2).lower())
        guard let e = lowerError({ try model(position: 2).lower() }) else { return }
        XCTAssertTrue(e.description.contains("item") && e.description.contains("position 2 is out of range"), e.description)

        // A sequence read where a tensor is expected.
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 4])
        m.node("SplitToSequence", ["x"], ["seq"], ["axis": int(1)])
        m.node("Relu", ["seq"], ["y"], name: "relu")
        m.output("y")
        guard let r = lowerError({ try m.lower() }) else { return }
        XCTAssertTrue(r.description.contains("relu") && r.description.contains("'seq' is a sequence"), r.description)

        // A sequence as a graph output, and a position computed at runtime.
        m = ModelBuilder(opset: 18)
        m.input("x", [1, 4])
        m.node("SplitToSequence", ["x"], ["seq"], ["axis": int(1)])
        m.output("seq")
        guard let o = lowerError({ try m.lower() }) else { return }
        XCTAssertTrue(o.description.contains("graph output 'seq' is a sequence"), o.description)

        m = ModelBuilder(opset: 18)
        m.input("x", [1, 4])
        m.input("p", [])
        m.node("SplitToSequence", ["x"], ["seq"], ["axis": int(1)])
        m.node("SequenceAt", ["seq", "p"], ["y"], name: "item")
        m.output("y")
        guard let p = lowerError({ try m.lower() }) else { return }
        XCTAssertTrue(p.description.contains("item") && p.description.contains("must be a constant"), p.description)
    }
}
