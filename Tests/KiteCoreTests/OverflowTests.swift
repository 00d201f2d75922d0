import KiteCore
import XCTest

/// Sizes and window parameters a corrupt file can hold (found by fuzzing): each must become a
/// thrown error naming what is wrong, never an arithmetic trap.
final class OverflowTests: XCTestCase {
    func error(_ body: () throws -> Any) -> KiteError? {
        do {
            _ = try body()
            XCTFail("expected an error")
        } catch let e as KiteError {
            XCTAssertFalse(e.description.contains("\n"), e.description)
            return e
        } catch {
            XCTFail("unexpected error \(error)")
        }
        return nil
    }

    func testElementCountsAreBounded() {
        XCTAssertEqual(checkedElementCount([2, 3, 4]), 24)
        XCTAssertEqual(checkedElementCount([1 << 20, 1 << 20]), 1 << 40)
        XCTAssertNil(checkedElementCount([1 << 20, (1 << 20) + 1]))
        XCTAssertNil(checkedElementCount([1 << 62, 0]))
        XCTAssertNil(checkedElementCount([1 << 32, 1 << 32]))
        XCTAssertNil(checkedElementCount([3, -1]))
    }

    func testConvolutionWithHugeWindowParametersThrows() {
        let w = Tensor(shape: [1, 1, 3, 3], floats: [Float](repeating: 1, count: 9))
        for (strides, pads, dilations, name) in [([1 << 62, 1], [0, 0, 0, 0], [1, 1], "strides"),
                                                 ([1, 1], [Int.max, 0, Int.max, 0], [1, 1], "pads"),
                                                 ([1, 1], [0, 0, 0, 0], [1, Int.max], "dilations")] {
            let conv = Convolution(weight: w, bias: nil, groups: 1, strides: strides, pads: pads, dilations: dilations)
            guard case .invalidNode(let c, let m)? = error({ try conv.inferShapes([[1, 1, 8, 8]]) }) else { XCTFail("wrong error"); continue }
            XCTAssertEqual(c.opType, "Conv")
            XCTAssertTrue(m.hasPrefix(name), m)
        }
    }

    func testPoolingWithHugeWindowParametersThrows() {
        for pool in [Pooling(kind: .max, kernel: [3, 1 << 62], strides: [1, 1], pads: [0, 0, 0, 0]),
                     Pooling(kind: .average, kernel: [3, 3], strides: [1, 1], pads: [1 << 62, 0, 1 << 62, 0]),
                     Pooling(kind: .max, kernel: [3, 3], strides: [1, Int.max], pads: [0, 0, 0, 0])] {
            guard case .invalidNode(let c, let m)? = error({ try pool.inferShapes([[1, 1, 8, 8]]) }) else { XCTFail("wrong error"); continue }
            XCTAssertEqual(c.opType, pool.typeName)
            XCTAssertTrue(m.contains("values in 1...") || m.contains("values in 0..."), m)
        }
        // Within bounds the sizes are right: (8 + 2 - 3) / 2 + 1 = 4.
        let ok = Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        XCTAssertEqual(try ok.inferShapes([[1, 2, 8, 8]]), [[1, 2, 4, 4]])
    }

    func testInputShapesOverflowingTheElementCountThrow() {
        let conv = Convolution(weight: Tensor(shape: [1, 1, 1, 1], floats: [1]), bias: nil, groups: 1, strides: [1, 1],
                               pads: [0, 0, 0, 0], dilations: [1, 1])
        guard case .shapeMismatch? = error({ try conv.inferShapes([[1, 1, Int.max, 2]]) }) else { return XCTFail("wrong error") }
    }

    /// ONNX's INT64_MIN step means "as far as it goes": one element, the first.
    func testSliceWithStepIntMinTakesOneElement() throws {
        let s = Slice(starts: [4], ends: [-1], steps: [Int.min])
        XCTAssertEqual(try s.inferShapes([[5]]), [[1]])
        let y = try s.reference([Tensor(shape: [5], floats: [10, 11, 12, 13, 14])])
        XCTAssertEqual(y[0].floats, [14])
        let back = Slice(starts: [4], ends: [-1], steps: [-2])
        XCTAssertEqual(try back.reference([Tensor(shape: [5], floats: [10, 11, 12, 13, 14])])[0].floats, [14, 12, 10])
    }

    func graph(input: [Int], _ nodes: [NativeNode], outputs: [String]) -> NativeGraph {
        NativeGraph(inputs: [ValueInfo(name: "x", shape: input)], outputs: outputs.map { ValueInfo(name: $0, shape: []) },
                    nodes: nodes, shapes: ["x": input])
    }

    func testReinferRejectsGraphInputsWithTooManyElements() {
        var g = graph(input: [1 << 32, 1 << 32], [NativeNode(name: "relu", op: .activation(ActivationOp(.relu)), inputs: ["x"], outputs: ["y"])],
                      outputs: ["y"])
        guard case .shapeMismatch(let c, let m)? = error({ try g.reinferShapes() }) else { return XCTFail("wrong error") }
        XCTAssertEqual(c.tensor, "x")
        XCTAssertTrue(m.contains("more than 2^40 elements"), m)
    }

    /// A pad of 2^30 on each side of a 1x1 image gives 2^62 outputs: every input and parameter is
    /// in bounds, the output is not.
    func testReinferRejectsOutputsWithTooManyElements() {
        let conv = Convolution(weight: Tensor(shape: [1, 1, 1, 1], floats: [1]), bias: nil, groups: 1, strides: [1, 1],
                               pads: [1 << 30, 1 << 30, 1 << 30, 1 << 30], dilations: [1, 1])
        var g = graph(input: [1, 1, 1, 1], [NativeNode(name: "big", op: .conv(conv), inputs: ["x"], outputs: ["y"])], outputs: ["y"])
        guard case .shapeMismatch(let c, let m)? = error({ try g.reinferShapes() }) else { return XCTFail("wrong error") }
        XCTAssertEqual(c.node, "big")
        XCTAssertEqual(c.tensor, "y")
        XCTAssertTrue(m.contains("[1,1,2147483649,2147483649]"), m)
    }

    /// One float padded to 2^40 (4.4 TB): the reference executor throws before allocating it.
    func testReferenceExecutorChecksOutputsAgainstMemory() throws {
        var g = graph(input: [1], [NativeNode(name: "pad", op: .pad(Pad(pads: [0, (1 << 40) - 1], value: 0)), inputs: ["x"], outputs: ["y"])],
                      outputs: ["y"])
        try g.reinferShapes()
        guard case .tooLarge(let c, let m)? = error({ try ReferenceExecutor.run(g, inputs: ["x": Tensor(shape: [1], floats: [1])]) }) else {
            return XCTFail("wrong error")
        }
        XCTAssertEqual(c.node, "pad")
        XCTAssertEqual(c.tensor, "y")
        XCTAssertTrue(m.hasPrefix("the model needs 4398.0 GB of memory for one value, more than this machine's "), m)
    }

    func testMemoryCheckNamesBothSizes() throws {
        try checkFitsInMemory(1 << 20, "activation memory")
        guard case .tooLarge(_, let m)? = error({ try checkFitsInMemory(1 << 60, "activation memory") }) else { return XCTFail("wrong error") }
        XCTAssertTrue(m.hasPrefix("the model needs 1152921504.6 GB of activation memory, more than this machine's "), m)
    }
}
