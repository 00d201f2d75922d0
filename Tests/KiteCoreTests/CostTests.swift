import KiteCore
import XCTest

/// FLOPs and bytes, hand-computed. A multiply-add is 2 FLOPs; bytes are float32
/// activations read and written plus weights (and bias) read.
final class CostTests: XCTestCase {
    func cost(_ op: Op, _ inputs: [[Int]]) throws -> OpCost {
        let outputs = try op.nativeOperator.inferShapes(inputs)
        return op.nativeOperator.cost(inputs: inputs, outputs: outputs)
    }

    func testDenseConv() throws {
        // 3 -> 16 channels, 3x3, pad 1 on 8x8: 1024 outputs of 27 MACs, plus bias and ReLU per output.
        let c = conv(Tensor.zeros([16, 3, 3, 3]), bias: [Float](repeating: 0, count: 16), pads: [1, 1, 1, 1], activation: .relu)
        let k = try cost(.conv(c), [[1, 3, 8, 8]])
        XCTAssertEqual(k, OpCost(flops: 2 * 1024 * 27 + 1024 + 1024, activationBytesRead: 3 * 64 * 4,
                                 weightBytesRead: (432 + 16) * 4, bytesWritten: 1024 * 4))
        XCTAssertEqual(k.flops, 57344)
    }

    func testGroupConv() throws {
        // 8 -> 8 channels in 4 groups: each output sees 2 input channels x 3x3 = 18 MACs; 128 outputs.
        let c = conv(Tensor.zeros([8, 2, 3, 3]), groups: 4, pads: [1, 1, 1, 1])
        XCTAssertEqual(try cost(.conv(c), [[1, 8, 4, 4]]),
                       OpCost(flops: 4608, activationBytesRead: 512, weightBytesRead: 576, bytesWritten: 512))
    }

    func testDepthwiseConv() throws {
        // 4 channels, 3x3 stride 2 pad 1 on 6x6 -> 3x3: 36 outputs of 9 MACs, plus bias and ReLU6.
        let c = conv(Tensor.zeros([4, 1, 3, 3]), bias: [0, 0, 0, 0], groups: 4, strides: [2, 2], pads: [1, 1, 1, 1],
                     activation: .clip(min: 0, max: 6))
        XCTAssertEqual(try cost(.conv(c), [[1, 4, 6, 6]]),
                       OpCost(flops: 648 + 36 + 36, activationBytesRead: 576, weightBytesRead: 160, bytesWritten: 144))
    }

    func testPointwiseConvMatchesShuffleNetV2MAC() throws {
        // 1x1, 16 -> 32 channels on 7x7: B = h*w*c1*c2 MACs; MAC = h*w*(c1 + c2) + c1*c2 elements.
        let c = conv(Tensor.zeros([32, 16, 1, 1]))
        let k = try cost(.conv(c), [[1, 16, 7, 7]])
        XCTAssertEqual(k, OpCost(flops: 2 * 49 * 16 * 32, activationBytesRead: 3136, weightBytesRead: 2048, bytesWritten: 6272))
        XCTAssertEqual(k.totalBytes, (49 * (16 + 32) + 16 * 32) * 4)
    }

    func testResidualConvReadsTheSecondInput() throws {
        let c = conv(Tensor.zeros([4, 4, 1, 1]), residual: true)
        let k = try cost(.conv(c), [[1, 4, 2, 2], [1, 4, 2, 2]])
        XCTAssertEqual(k, OpCost(flops: 2 * 16 * 4 + 16, activationBytesRead: 32 * 4, weightBytesRead: 64, bytesWritten: 64))
    }

    func testMaxPool() throws {
        // 3x3 stride 2 on 5x5 -> 2x2, 2 channels: 8 outputs of 9 compares.
        let p = Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [0, 0, 0, 0])
        XCTAssertEqual(try cost(.pool(p), [[1, 2, 5, 5]]),
                       OpCost(flops: 72, activationBytesRead: 200, weightBytesRead: 0, bytesWritten: 32))
    }

    func testFullyConnected() throws {
        // M = 2, K = 1024, N = 10: 2*M*N*K plus one bias add per output.
        let fc = FullyConnected(weight: Tensor.zeros([10, 1024]), bias: [Float](repeating: 0, count: 10))
        XCTAssertEqual(try cost(.fullyConnected(fc), [[2, 1024]]),
                       OpCost(flops: 40960 + 20, activationBytesRead: 8192, weightBytesRead: 41000, bytesWritten: 80))
    }

    func testAdd() throws {
        XCTAssertEqual(try cost(.binary(Binary(kind: .add)), [[1, 8, 4, 4], [1, 8, 4, 4]]),
                       OpCost(flops: 128, activationBytesRead: 1024, weightBytesRead: 0, bytesWritten: 512))
        // Fused ReLU adds its FLOP per element; a constant operand is a weight.
        XCTAssertEqual(try cost(.binary(Binary(kind: .add, constant: Tensor.zeros([1, 8, 1, 1]), activation: .relu)), [[1, 8, 4, 4]]),
                       OpCost(flops: 256, activationBytesRead: 512, weightBytesRead: 32, bytesWritten: 512))
    }

    func testDataMovement() throws {
        XCTAssertEqual(try cost(.reshape(Reshape(shape: [1, 32])), [[1, 8, 2, 2]]), .zero, "a reshape is a view")
        XCTAssertEqual(try cost(.concat(Concat(axis: 1)), [[1, 2, 2, 2], [1, 3, 2, 2]]),
                       OpCost(flops: 0, activationBytesRead: 80, weightBytesRead: 0, bytesWritten: 80))
        XCTAssertEqual(try cost(.channelShuffle(ChannelShuffle(groups: 2)), [[1, 4, 2, 2]]),
                       OpCost(flops: 0, activationBytesRead: 64, weightBytesRead: 0, bytesWritten: 64))
        XCTAssertEqual(try cost(.slice(Slice(starts: [0, 2], ends: [1, 4], steps: [1, 1])), [[1, 4]]),
                       OpCost(flops: 0, activationBytesRead: 8, weightBytesRead: 0, bytesWritten: 8))
        // Pad reads only what lands in the output: 1x2 of the cropped 1x3 input, into 3x3.
        XCTAssertEqual(try cost(.pad(Pad(pads: [1, -1, 1, 1], value: 0)), [[1, 3]]),
                       OpCost(flops: 0, activationBytesRead: 8, weightBytesRead: 0, bytesWritten: 36))
        // Gather reads the gathered elements and its int64 indices.
        XCTAssertEqual(try cost(.gather(Gather(axis: 1, indices: [0, 2], indicesShape: [2])), [[1, 4, 3, 3]]),
                       OpCost(flops: 0, activationBytesRead: 72, weightBytesRead: 16, bytesWritten: 72))
    }

    func testCostNeverTrapsOnOddShapes() {
        let c = conv(Tensor.zeros([8, 2, 3, 3]))
        _ = c.cost(inputs: [[Int.max, Int.max, 2, 2]], outputs: [[Int.max, 8, Int.max, -1]])
        _ = Pad(pads: [1], value: 0).cost(inputs: [[1, 2]], outputs: [])
        _ = FullyConnected(weight: Tensor.zeros([2]), bias: nil).cost(inputs: [], outputs: [])
    }
}
