import KiteCore
import KiteFormat
import XCTest

/// `.kite` files with sizes no model has (found by fuzzing): decoding throws one line naming the
/// file and the node or tensor, where it used to trap on arithmetic overflow.
final class MalformedFileTests: XCTestCase {
    /// Encodes a one-node graph as is (nothing checked on the way out) and decodes it.
    func decodeError(input: [Int], _ op: Op, output: [Int] = [1, 1, 1, 1]) -> KiteError? {
        let graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: input)], outputs: [ValueInfo(name: "y", shape: output)],
                                nodes: [NativeNode(name: "n0", op: op, inputs: ["x"], outputs: ["y"])],
                                shapes: ["x": input, "y": output])
        let bytes = KiteFormat.encode(KiteModelFile(producer: "test", source: "test.onnx", graph: graph))
        do {
            _ = try KiteFormat.decode(bytes, file: "bad.kite")
            XCTFail("expected an error")
        } catch let e as KiteError {
            XCTAssertTrue(e.description.hasPrefix("bad.kite: "), e.description)
            XCTAssertFalse(e.description.contains("\n"), e.description)
            return e
        } catch {
            XCTFail("unexpected error \(error)")
        }
        return nil
    }

    func conv(weightShape: [Int] = [1, 1, 1, 1], values: Int = 1, strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
              dilations: [Int] = [1, 1]) -> Op {
        let w = Tensor(elementType: .float, shape: weightShape, storage: .floats([Float](repeating: 1, count: values)))
        return .conv(Convolution(weight: w, bias: nil, groups: 1, strides: strides, pads: pads, dilations: dilations))
    }

    func testWeightShapeOverflowingTheByteCount() {
        guard case .invalidTensor(let c, let m)? = decodeError(input: [1, 1, 4, 4], conv(weightShape: [1 << 62, 1, 1, 1])) else { return XCTFail() }
        XCTAssertEqual(c.node, "n0")
        XCTAssertTrue(m.hasPrefix("weight has an invalid shape [4611686018427387904, 1, 1, 1]"), m)
    }

    func testConvolutionStrideOverflow() {
        guard case .invalidNode(let c, let m)? = decodeError(input: [1, 1, 4, 4], conv(strides: [1 << 62, 1])) else { return XCTFail() }
        XCTAssertEqual(c.node, "n0")
        XCTAssertTrue(m.hasPrefix("strides must be 2 values in 1...1073741824"), m)
    }

    func testPoolingPadOverflow() {
        let pool = Op.pool(Pooling(kind: .max, kernel: [2, 2], strides: [1, 1], pads: [Int.max, 0, Int.max, 0]))
        guard case .invalidNode(let c, let m)? = decodeError(input: [1, 1, 4, 4], pool) else { return XCTFail() }
        XCTAssertEqual(c.node, "n0")
        XCTAssertEqual(c.opType, "MaxPool")
        XCTAssertTrue(m.hasPrefix("pads (begins, then ends) must be 4 values in 0...1073741824"), m)
    }

    func testGraphInputShapeOverflow() {
        let relu = Op.activation(ActivationOp(.relu))
        guard case .invalidTensor(let c, let m)? = decodeError(input: [1 << 32, 1 << 32, 1, 1], relu) else { return XCTFail() }
        XCTAssertEqual(c.tensor, "x")
        XCTAssertTrue(m.contains("more than 2^40 elements"), m)
    }

    func testOutputShapeOverflowFromPadding() {
        guard case .shapeMismatch(let c, let m)? = decodeError(input: [1, 1, 1, 1], conv(pads: [1 << 30, 1 << 30, 1 << 30, 1 << 30])) else {
            return XCTFail()
        }
        XCTAssertEqual(c.node, "n0")
        XCTAssertEqual(c.tensor, "y")
        XCTAssertTrue(m.contains("more than 2^40 elements"), m)
    }
}
