import KiteCore
import XCTest

/// Softmax, fully connected, scale-shift and standalone activations.
final class ElementwiseTests: XCTestCase {
    func testSoftmaxSumsToOneAndIsStable() throws {
        var r = Random(seed: 6)
        let x = T([2, 3, 4], (0..<24).map { _ in r.float(-50, 50) })
        for axis in [0, 1, 2, -1] {
            let y = try eval(.softmax(Softmax(axis: axis)), x)
            let a = axis < 0 ? axis + 3 : axis
            let shape = x.shape
            let strides = [12, 4, 1]
            for i in 0..<24 where (i / strides[a]) % shape[a] == 0 {
                let sum = (0..<shape[a]).reduce(Float(0)) { $0 + y.floats[i + $1 * strides[a]] }
                XCTAssertEqual(sum, 1, accuracy: 1e-5, "axis \(axis)")
            }
        }
        // Large logits must not overflow: softmax(1000, 1000 + ln 3) = (1/4, 3/4).
        let big = try eval(.softmax(Softmax(axis: 1)), T([1, 2], [1000, 1000 + log(3)]))
        assertClose(big, [1, 2], [0.25, 0.75], tolerance: 1e-4)
        assertShapeError(try Softmax(axis: 2).inferShapes([[1, 2]]), "axis out of range")
    }

    func testFullyConnected() throws {
        // y = x W^T + b, W = [[1, 2, 3], [-1, 0, 1]].
        let fc = FullyConnected(weight: T([2, 3], [1, 2, 3, -1, 0, 1]), bias: [0.5, -0.5], activation: .relu)
        let x = T([2, 3], [1, 1, 1, 3, 2, 1])
        assertClose(try eval(.fullyConnected(fc), x), [2, 2], [6.5, 0, 10.5, 0])
        // [M, K, 1, 1] (a pooled feature map) is the same memory as [M, K].
        assertClose(try eval(.fullyConnected(fc), T([2, 3, 1, 1], x.floats)), [2, 2], [6.5, 0, 10.5, 0])
        assertShapeError(try fc.inferShapes([[2, 4]]), "K = 4 vs 3")
        assertShapeError(try fc.inferShapes([[2, 3, 2, 1]]), "spatial 2x1 is not a vector")
        assertShapeError(try fc.inferShapes([[3]]), "rank 1")
        assertShapeError(try FullyConnected(weight: T([2, 3], [1, 2, 3, 4, 5, 6]), bias: [1]).inferShapes([[1, 3]]), "bias length")
    }

    func testScaleShiftAndActivations() throws {
        let s = ScaleShift(scale: [2, -1], shift: [1, 0], activation: .clip(min: 0, max: 6))
        let x = T([1, 2, 1, 3], [-1, 1, 4, 1, -2, -10])
        assertClose(try eval(.scaleShift(s), x), [1, 2, 1, 3], [0, 3, 6, 0, 2, 6])
        assertShapeError(try s.inferShapes([[1, 3, 2, 2]]), "3 channels vs 2 scales")
        let hs = ActivationOp(.hardSwish)
        assertClose(try eval(.activation(hs), T([4], [-4, -1, 1, 4])), [4], [0, -1.0 / 3, 2.0 / 3, 4], tolerance: 1e-6)
        assertClose(try eval(.activation(ActivationOp(.leakyRelu(alpha: 0.1))), T([2], [-2, 3])), [2], [-0.2, 3])
        XCTAssertEqual(Op.activation(ActivationOp(.clip(min: 0, max: 6))).kindName, "ReLU6")
        XCTAssertEqual(Op.activation(hs).typeName, "Activation")
    }
}
