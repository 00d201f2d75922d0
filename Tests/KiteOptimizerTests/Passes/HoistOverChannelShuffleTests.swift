import KiteCore
@testable import KiteOptimizer
import XCTest

final class HoistOverChannelShuffleTests: XCTestCase {
    let pass = HoistOverChannelShuffle()

    /// IGCv1: group conv -> shuffle -> BatchNorm (+ReLU) ends as conv+ReLU -> shuffle.
    func testBatchNormAfterShuffleFoldsIntoTheConvBeforeIt() throws {
        for groups in [2, 3, 6] {
            var b = GraphBuilder(input: [1, 6, 4, 4])
            let c = b.conv("x", out: 12, kernel: 3, groups: 3, name: "conv")
            let s = b.node(.channelShuffle(ChannelShuffle(groups: groups)), c, name: "shuffle")
            b.output(b.act(b.batchNorm(s, name: "bn"), .relu, name: "relu"))
            let (g, report) = try optimize(&b, [pass, FoldScaleShiftIntoConv(), FuseActivation()])
            XCTAssertEqual(kinds(g), ["conv", "channelShuffle"], "groups \(groups)")
            XCTAssertEqual(g.conv(0)?.activation, .relu)
            XCTAssertEqual(g.nodes[0].origin, ["conv", "bn", "relu"])
            XCTAssertEqual(g.nodes[1].origin, ["shuffle"])
            XCTAssertEqual(report.rewrites(of: pass.name), 2, "the BN, then the ReLU")
        }
    }

    func testPerChannelMultiplyMovesToo() throws {
        var b = GraphBuilder(input: [1, 4, 3, 3])
        let s = b.node(.channelShuffle(ChannelShuffle(groups: 2)), b.conv("x", out: 8))
        b.output(b.binary(.mul, s, constant: b.random.tensor([1, 8, 1, 1])))
        let (g, _) = try optimize(&b, [pass, FoldScaleShiftIntoConv()])
        XCTAssertEqual(kinds(g), ["conv", "channelShuffle"])
    }

    /// IGCv1 exported with BatchNorm folded: conv -> shuffle -> Add(residual) -> ReLU. The Add
    /// sinks below the shuffle into the conv; the ReLU then follows it onto the conv. A
    /// BatchNorm cannot: its scale would apply to the residual too.
    func testActivationMovesOntoAConvWithAResidualAdd() throws {
        var b = GraphBuilder(input: [1, 8, 3, 3])
        let s = b.node(.channelShuffle(ChannelShuffle(groups: 2)), b.conv("x", out: 8, groups: 2))
        let sum = b.binary(.add, s, b.node(.channelShuffle(ChannelShuffle(groups: 2)), "x"))
        b.output(b.act(sum, .relu))
        let (g, _) = try optimize(&b, [RemoveDeadNodes(), SinkBinaryBelowChannelShuffle(), FuseResidualAdd(), pass, FuseActivation()])
        XCTAssertEqual(kinds(g), ["conv", "channelShuffle"])
        XCTAssertEqual(g.conv(0)?.residual, true)
        XCTAssertEqual(g.conv(0)?.activation, .relu)

        var kept = GraphBuilder(input: [1, 8, 3, 3])
        let s2 = kept.node(.channelShuffle(ChannelShuffle(groups: 2)), kept.conv("x", out: 8, groups: 2))
        let sum2 = kept.binary(.add, s2, kept.node(.channelShuffle(ChannelShuffle(groups: 2)), "x"))
        kept.output(kept.batchNorm(sum2))
        let (k, _) = try optimize(&kept, [RemoveDeadNodes(), SinkBinaryBelowChannelShuffle(), FuseResidualAdd(), pass, FoldScaleShiftIntoConv()])
        XCTAssertEqual(kinds(k), ["conv", "channelShuffle", "scaleShift"])
    }

    func testStaysWhenNoConvCanAbsorbIt() throws {
        var b = GraphBuilder(input: [1, 4, 3, 3])
        let s1 = b.node(.channelShuffle(ChannelShuffle(groups: 2)), b.conv("x", out: 4, activation: .relu))
        let o1 = b.batchNorm(s1)
        let s2 = b.node(.channelShuffle(ChannelShuffle(groups: 2)), "x")
        let o2 = b.act(s2, .relu)
        b.output(o1, o2)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}

final class FoldPadIntoConvTests: XCTestCase {
    let pass = FoldPadIntoConv()

    func testZeroSpatialPadBecomesConvPadding() throws {
        var b = GraphBuilder(input: [1, 3, 6, 6])
        let p = b.node(.pad(Pad(pads: [0, 0, 1, 0, 0, 0, 0, 1], value: 0)), "x", name: "pad")
        b.output(b.conv(p, out: 4, kernel: 3, stride: 2, name: "conv"))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["conv"])
        XCTAssertEqual(g.conv(0)?.pads, [2, 1, 1, 2])
        XCTAssertEqual(g.nodes[0].inputs, ["x"])
        XCTAssertEqual(g.nodes[0].origin, ["pad", "conv"])
    }

    /// PyTorch below opset 11: avg_pool2d(x, 3, 2, 1) as Pad + AveragePool; the padded zeros
    /// stay in the divisor. A pool not counting padding, or in ceil mode, keeps its Pad.
    func testZeroSpatialPadBecomesAveragePoolPadding() throws {
        var b = GraphBuilder(input: [1, 3, 7, 6])
        let p = b.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 2], value: 0)), "x", name: "pad")
        b.output(b.node(.pool(Pooling(kind: .average, kernel: [3, 3], strides: [2, 2], pads: [0, 0, 0, 0])), p, name: "pool"))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["pool"])
        guard case .pool(let pool) = g.nodes[0].op else { return XCTFail("not a pool") }
        XCTAssertEqual(pool.pads, [1, 1, 1, 2])
        XCTAssertTrue(pool.countIncludePad)
        XCTAssertEqual(g.nodes[0].inputs, ["x"])

        var kept = GraphBuilder(input: [1, 3, 7, 6])
        let p1 = kept.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0)), "x")
        let p2 = kept.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0)), "x")
        let p3 = kept.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0)), "x")
        kept.output(kept.node(.pool(Pooling(kind: .average, kernel: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1])), p1),
                    kept.node(.pool(Pooling(kind: .average, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceilMode: true)), p2),
                    kept.node(.pool(Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [0, 0, 0, 0])), p3))
        let before = kinds(kept.graph)
        let (k, _) = try optimize(&kept, [pass])
        XCTAssertEqual(kinds(k), before)
    }

    func testLeavesNonZeroChannelAndSharedPads() throws {
        var b = GraphBuilder(input: [1, 3, 4, 4])
        let o1 = b.conv(b.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 1)), "x"), out: 2)
        let o2 = b.conv(b.node(.pad(Pad(pads: [0, 1, 1, 1, 0, 0, 1, 1], value: 0)), "x"), out: 2)
        let shared = b.node(.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0)), "x")
        b.output(o1, o2, b.conv(shared, out: 2), shared)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
