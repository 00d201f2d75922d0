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
