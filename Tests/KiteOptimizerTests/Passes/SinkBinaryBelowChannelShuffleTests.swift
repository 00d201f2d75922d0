import KiteCore
@testable import KiteOptimizer
import XCTest

final class SinkBinaryBelowChannelShuffleTests: XCTestCase {
    let pass = SinkBinaryBelowChannelShuffle()

    /// IGCv3: `Add(shuffle(projection), shuffle(previous projection))`, the previous shuffle also
    /// read by the next expansion, ends as the projection with a residual, then one shuffle.
    func testResidualAddOfTwoShuffledProjections() throws {
        var b = GraphBuilder(input: [1, 12, 5, 7])
        let p0 = b.conv("x", out: 24, groups: 2, name: "proj0")
        let s0 = b.node(.channelShuffle(ChannelShuffle(groups: 12)), p0, name: "shuffle0")
        let e = b.conv(s0, out: 36, groups: 2, activation: .relu, name: "expand")
        let p1 = b.conv(e, out: 24, groups: 2, name: "proj1")
        let s1 = b.node(.channelShuffle(ChannelShuffle(groups: 12)), p1, name: "shuffle1")
        b.output(b.binary(.add, s1, s0, name: "add"))
        let (g, report) = try optimize(&b, [pass, FuseResidualAdd(), RemoveDeadNodes()])
        XCTAssertEqual(report.rewrites(of: pass.name), 1)
        XCTAssertEqual(kinds(g), ["conv", "channelShuffle", "conv", "conv", "channelShuffle"])
        XCTAssertEqual(g.conv(3)?.residual, true)
        XCTAssertEqual(g.nodes[3].inputs, [e, p0], "the Add reads the projections themselves")
    }

    /// Sub, Mul and Div commute with the permutation too, and an activation stays on the op.
    func testOtherElementwiseOps() throws {
        for kind in [Binary.Kind.sub, .mul, .div] {
            var b = GraphBuilder(input: [1, 6, 3, 4])
            let a = b.node(.channelShuffle(ChannelShuffle(groups: 3)), b.conv("x", out: 6, name: "a"))
            let c = b.node(.channelShuffle(ChannelShuffle(groups: 3)), b.conv("x", out: 6, name: "c"))
            b.output(b.binary(kind, a, c, activation: .relu))
            let (g, _) = try optimize(&b, [pass, RemoveDeadNodes()])
            XCTAssertEqual(kinds(g), ["conv", "conv", "binary", "channelShuffle"], "\(kind)")
        }
    }

    /// Different shuffles, or a shuffle on one side only, stay as they are.
    func testStaysUnlessBothSidesShareTheShuffle() throws {
        var b = GraphBuilder(input: [1, 12, 3, 3])
        let s2 = b.node(.channelShuffle(ChannelShuffle(groups: 2)), b.conv("x", out: 12))
        let s3 = b.node(.channelShuffle(ChannelShuffle(groups: 3)), b.conv("x", out: 12))
        let o1 = b.binary(.add, s2, s3)
        let o2 = b.binary(.add, s2, b.conv("x", out: 12))
        b.output(o1, o2)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
