import KiteCore
@testable import KiteOptimizer
import XCTest

/// Every pass over small hand-built pieces of the networks Kite serves: the
/// structure left must be the fused one, and the outputs the unoptimised graph's.
final class MiniNetworkTests: XCTestCase {
    func assertFullyFused(_ g: NativeGraph, file: StaticString = #filePath, line: UInt = #line) {
        for n in g.nodes {
            if case .scaleShift = n.op { XCTFail("ScaleShift \(n.name) left", file: file, line: line) }
            if case .activation = n.op { XCTFail("activation \(n.name) left", file: file, line: line) }
            if case .transpose = n.op { XCTFail("Transpose \(n.name) left", file: file, line: line) }
            if case .reshape = n.op { XCTFail("Reshape \(n.name) left", file: file, line: line) }
            if case .slice = n.op { XCTFail("Slice \(n.name) left", file: file, line: line) }
        }
    }

    /// MobileNetV2 inverted residual (t=6, stride 1) with BN + ReLU6, then the classifier head
    /// as exporters write it: GlobalAveragePool, Flatten, MatMul + Add.
    func testMobileNetV2Block() throws {
        var b = Self.mobileNetV2Block()
        let (g, report) = try optimize(&b, PassManager.allPasses)
        XCTAssertEqual(kinds(g), ["conv", "conv", "conv", "globalPool", "fullyConnected"])
        XCTAssertEqual(g.conv(0)?.activation, .clip(min: 0, max: 6))
        XCTAssertEqual(g.conv(1)?.groups, 48)
        XCTAssertEqual(g.conv(2)?.residual, true)
        XCTAssertEqual(g.conv(2)?.activation, nil)
        assertFullyFused(g)
        XCTAssertEqual(report.rewrites(of: "fold-scale-shift-into-conv"), 3)
        XCTAssertEqual(report.rewrites(of: "fuse-activation"), 2)
        XCTAssertTrue(report.summaryLines.contains("fused 2 ReLU6 into their producers"))
    }

    static func mobileNetV2Block() -> GraphBuilder {
        var b = GraphBuilder(input: [1, 8, 6, 6])
        var h = b.act(b.batchNorm(b.conv("x", out: 48, bias: false)), .clip(min: 0, max: 6))
        h = b.act(b.batchNorm(b.conv(h, out: 48, kernel: 3, groups: 48, bias: false)), .clip(min: 0, max: 6))
        h = b.batchNorm(b.conv(h, out: 8, bias: false))
        let y = b.binary(.add, "x", h)
        let pooled = b.node(.globalPool(GlobalPooling(kind: .average)), y)
        let logits = b.binary(.add, b.fc(b.reshape(pooled, [1, 8]), out: 10, bias: false), constant: b.random.tensor([10]))
        b.output(logits)
        return b
    }

    /// ShuffleNetV2 stride-1 unit: channel split (two Slices), one branch
    /// 1x1-BN-ReLU, dw3x3-BN, 1x1-BN-ReLU, concat, shuffle with 2 groups.
    func testShuffleNetV2Unit() throws {
        var b = Self.shuffleNetV2Unit()
        let (g, report) = try optimize(&b, PassManager.allPasses)
        XCTAssertEqual(kinds(g), ["split", "conv", "conv", "conv", "concat", "channelShuffle"])
        XCTAssertEqual(g.nodes.last?.op, .channelShuffle(ChannelShuffle(groups: 2)))
        assertFullyFused(g)
        XCTAssertTrue(report.summaryLines.contains("recognised 1 channel shuffle"))
    }

    static func shuffleNetV2Unit() -> GraphBuilder {
        var b = GraphBuilder(input: [1, 8, 5, 5])
        let left = b.slice("x", channels: 0..<4)
        let right = b.slice("x", channels: 4..<8)
        var h = b.act(b.batchNorm(b.conv(right, out: 4)), .relu)
        h = b.batchNorm(b.conv(h, out: 4, kernel: 3, groups: 4))
        h = b.act(b.batchNorm(b.conv(h, out: 4)), .relu)
        let cat = b.node(.concat(Concat(axis: 1)), left, h)
        let shuffled = b.reshape(b.transpose(b.reshape(cat, [1, 2, 4, 5, 5]), [0, 2, 1, 3, 4]), [1, 8, 5, 5])
        b.output(shuffled)
        return b
    }

    /// MobileNetV3 bneck piece: conv-BN, hardswish written as x * Clip(x+3,0,6) / 6,
    /// a squeeze-excite gate (pool, 1x1-ReLU, 1x1, HardSigmoid, Mul), then conv-BN
    /// and a second hardswish written as x * HardSigmoid(x).
    func testSqueezeExciteWithDecomposedHardSwish() throws {
        var b = GraphBuilder(input: [1, 8, 5, 5])
        let x = b.batchNorm(b.conv("x", out: 8, kernel: 3))
        let r = b.act(b.binary(.add, x, constant: Tensor(shape: [1], floats: [3])), .clip(min: 0, max: 6))
        let hs = b.binary(.div, b.binary(.mul, x, r), constant: Tensor(shape: [1], floats: [6]))
        let pooled = b.node(.globalPool(GlobalPooling(kind: .average)), hs)
        let squeezed = b.act(b.conv(pooled, out: 4), .relu)
        let gate = b.act(b.conv(squeezed, out: 8), .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        let excited = b.binary(.mul, hs, gate)
        let z = b.batchNorm(b.conv(excited, out: 8))
        let out = b.binary(.mul, z, b.act(z, .hardSigmoid(alpha: 0.16666667, beta: 0.5)))
        b.output(out)
        let (g, report) = try optimize(&b, PassManager.allPasses)
        XCTAssertEqual(kinds(g), ["conv", "globalPool", "conv", "conv", "binary", "conv"])
        XCTAssertEqual(g.conv(0)?.activation, .hardSwish)
        XCTAssertEqual(g.conv(2)?.activation, .relu)
        XCTAssertEqual(g.conv(3)?.activation, .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        XCTAssertEqual(g.conv(5)?.activation, .hardSwish)
        assertFullyFused(g)
        XCTAssertEqual(report.rewrites(of: "recognise-hardswish"), 2)
    }

    /// Every node keeps the ONNX names it came from: the union over the
    /// optimised graph is the set of the original nodes' origins minus nothing
    /// but what dead-node removal dropped.
    func testProvenanceCoversEveryOriginalNode() throws {
        var b = GraphBuilder(input: [1, 4, 4, 4])
        let c = b.act(b.batchNorm(b.conv("x", out: 4)), .relu)
        b.output(b.binary(.add, b.batchNorm(b.conv(c, out: 4, kernel: 3)), c))
        let original = Set(b.graph.nodes.flatMap(\.origin))
        let (g, _) = try optimize(&b, PassManager.allPasses)
        XCTAssertEqual(Set(g.nodes.flatMap(\.origin)), original)
        XCTAssertEqual(kinds(g), ["conv", "conv"])
    }
}
