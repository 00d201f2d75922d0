import KiteCore
import XCTest

/// Convolution corners, hand-computed (each value also checked once against onnxruntime 1.32).
final class ConvolutionTests: XCTestCase {
    func testAsymmetricPadding() throws {
        // pads [top 1, left 0, bottom 0, right 1]: one zero row on top, one zero column on the right.
        let x = iota([1, 1, 3, 3], from: 1)
        let w = T([1, 1, 2, 2], [1, 2, 3, 4])
        let c = conv(w, pads: [1, 0, 0, 1])
        XCTAssertEqual(try c.inferShapes([[1, 1, 3, 3]]), [[1, 1, 3, 3]])
        assertClose(try eval(.conv(c), x), [1, 1, 3, 3], [11, 18, 9, 37, 47, 21, 67, 77, 33])
    }

    func testDepthwiseStride2WithBias() throws {
        // Channel 0 is 0...15, channel 1 all ones; 3x3 kernels of 1s and 2s, pad 1, stride 2.
        let x = T([1, 2, 4, 4], (0..<16).map(Float.init) + [Float](repeating: 1, count: 16))
        let w = T([2, 1, 3, 3], [Float](repeating: 1, count: 9) + [Float](repeating: 2, count: 9))
        let c = conv(w, bias: [0.5, -1], groups: 2, strides: [2, 2], pads: [1, 1, 1, 1])
        XCTAssertEqual(c.kind, .depthwise)
        assertClose(try eval(.conv(c), x), [1, 2, 2, 2], [10.5, 24.5, 51.5, 90.5, 7, 11, 11, 17])
    }

    func testGroupsBetweenOneAndChannels() throws {
        // 4 channels in 2 groups: output 0 sees channels 0-1, output 1 channels 2-3.
        let x = T([1, 4, 1, 1], [1, 2, 3, 4])
        let w = T([2, 2, 1, 1], [1, 10, 100, 1000])
        let c = conv(w, groups: 2)
        XCTAssertEqual(c.kind, .group)
        assertClose(try eval(.conv(c), x), [1, 2, 1, 1], [21, 4300])
    }

    func testGroupConvEqualsConvsOnChannelSlices() throws {
        var r = Random(seed: 1)
        let x = r.tensor([2, 6, 5, 5])
        let w = r.tensor([9, 2, 3, 3])
        let bias = (0..<9).map { _ in r.float() }
        let grouped = try eval(.conv(conv(w, bias: bias, groups: 3, strides: [2, 1], pads: [1, 0, 0, 1])), x)
        var parts: [Tensor] = []
        for g in 0..<3 {
            let wg = channelsOfWeight(w, g * 3..<(g + 1) * 3)
            let dense = conv(wg, bias: Array(bias[(g * 3)..<(g * 3 + 3)]), strides: [2, 1], pads: [1, 0, 0, 1])
            parts.append(try eval(.conv(dense), channels(x, g * 2..<(g + 1) * 2)))
        }
        let joined = try Concat(axis: 1).reference(parts)[0]
        assertClose(grouped, joined)
    }

    func testDilation() throws {
        // Kernel [[1,0],[0,1]] dilated by 2 reads x[y][x] + x[y+2][x+2] = 10y + 2x + 12.
        let x = iota([1, 1, 5, 5])
        let c = conv(T([1, 1, 2, 2], [1, 0, 0, 1]), dilations: [2, 2])
        assertClose(try eval(.conv(c), x), [1, 1, 3, 3], [12, 14, 16, 22, 24, 26, 32, 34, 36])
    }

    func testDilationEqualsKernelWithZerosInserted() throws {
        var r = Random(seed: 2)
        let x = r.tensor([1, 3, 9, 8])
        let w = r.tensor([4, 3, 2, 3])
        // Dilation (3, 2) on a 2x3 kernel is a 4x5 kernel with zeros between taps.
        var sparse = [Float](repeating: 0, count: 4 * 3 * 4 * 5)
        for o in 0..<4 { for i in 0..<3 { for ky in 0..<2 { for kx in 0..<3 {
            sparse[((o * 3 + i) * 4 + ky * 3) * 5 + kx * 2] = w.floats[((o * 3 + i) * 2 + ky) * 3 + kx]
        } } } }
        let dilated = try eval(.conv(conv(w, strides: [1, 2], pads: [2, 1, 0, 2], dilations: [3, 2])), x)
        let expanded = try eval(.conv(conv(T([4, 3, 4, 5], sparse), strides: [1, 2], pads: [2, 1, 0, 2])), x)
        assertClose(dilated, expanded)
    }

    func testResidualIsAddedBeforeActivation() throws {
        let x = T([1, 1, 1, 2], [1, -3])
        let residual = T([1, 1, 1, 2], [-2, 1])
        let c = conv(T([1, 1, 1, 1], [2]), bias: [0.5], activation: .relu, residual: true)
        // 2x + 0.5 + r: [0.5, -4.5] -> ReLU -> [0.5, 0].
        let y = try c.reference([x, residual])[0]
        assertClose(y, [1, 1, 1, 2], [0.5, 0])
        assertShapeError(try c.inferShapes([[1, 1, 1, 2]]), "residual input missing")
        assertShapeError(try c.inferShapes([[1, 1, 1, 2], [1, 1, 2, 1]]), "residual of another shape")
    }

    func testKinds() {
        XCTAssertEqual(conv(Tensor.zeros([8, 4, 1, 1])).kind, .pointwise)
        XCTAssertEqual(conv(Tensor.zeros([8, 4, 1, 1]), strides: [2, 2]).kind, .dense)
        XCTAssertEqual(conv(Tensor.zeros([8, 4, 3, 3]), pads: [1, 1, 1, 1]).kind, .dense)
        XCTAssertEqual(conv(Tensor.zeros([8, 1, 3, 3]), groups: 8).kind, .depthwise)
        XCTAssertEqual(conv(Tensor.zeros([16, 1, 3, 3]), groups: 8).kind, .group, "channel multiplier 2 is not depthwise")
        XCTAssertEqual(conv(Tensor.zeros([8, 2, 1, 1]), groups: 4).kind, .group)
        XCTAssertEqual(Op.conv(conv(Tensor.zeros([8, 1, 3, 3]), groups: 8)).kindName, "DepthwiseConv")
        XCTAssertEqual(Op.conv(conv(Tensor.zeros([8, 1, 3, 3]), groups: 8)).typeName, "Conv")
    }

    func testShapeErrors() {
        let c = conv(Tensor.zeros([8, 2, 3, 3]), groups: 2)
        XCTAssertEqual(try c.inferShapes([[1, 4, 5, 5]]), [[1, 8, 3, 3]])
        assertShapeError(try c.inferShapes([[1, 3, 5, 5]]), "channels vs weight")
        assertShapeError(try c.inferShapes([[1, 4, 5]]), "rank 3")
        assertShapeError(try c.inferShapes([[1, 4, 2, 2]]), "kernel larger than input")
        assertShapeError(try c.inferShapes([]), "no inputs")
        assertShapeError(try conv(Tensor.zeros([6, 2, 3, 3]), groups: 4).inferShapes([[1, 8, 5, 5]]), "Cout not divisible by groups")
        assertShapeError(try conv(Tensor.zeros([8, 2, 3, 3]), bias: [1, 2]).inferShapes([[1, 2, 5, 5]]), "bias length")
        assertShapeError(try conv(Tensor.zeros([8, 2, 3])).inferShapes([[1, 2, 5, 5]]), "weight rank")
        assertShapeError(try conv(Tensor.zeros([8, 2, 3, 3]), strides: [0, 1]).inferShapes([[1, 2, 5, 5]]), "stride 0")
        assertShapeError(try conv(Tensor.zeros([8, 2, 3, 3]), pads: [1, 1]).inferShapes([[1, 2, 5, 5]]), "two pads")
        assertShapeError(try conv(Tensor.zeros([8, 2, 3, 3]), groups: 0).inferShapes([[1, 2, 5, 5]]), "groups 0")
        // Weight data that does not match its shape (as a corrupt file could hold).
        let bad = Tensor(elementType: .float, shape: [8, 2, 3, 3], storage: .floats([1, 2, 3]))
        assertShapeError(try conv(bad).inferShapes([[1, 2, 5, 5]]), "short weight data")
        // Reference with input data shorter than its shape.
        let short = Tensor(elementType: .float, shape: [1, 4, 5, 5], storage: .floats([1]))
        assertShapeError(try c.reference([short]), "short input data")
    }
}

/// Output channels [range) of a conv weight [Cout, Cin/g, KH, KW].
func channelsOfWeight(_ w: Tensor, _ range: Range<Int>) -> Tensor {
    let inner = w.shape.dropFirst().reduce(1, *)
    var shape = w.shape
    shape[0] = range.count
    return T(shape, Array(w.floats[(range.lowerBound * inner)..<(range.upperBound * inner)]))
}
