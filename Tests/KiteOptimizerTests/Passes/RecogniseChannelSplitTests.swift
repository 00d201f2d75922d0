import KiteCore
@testable import KiteOptimizer
import XCTest

final class RecogniseChannelSplitTests: XCTestCase {
    let pass = RecogniseChannelSplit()

    func testSliceHalvesBecomeOneSplit() throws {
        var b = GraphBuilder(input: [1, 8, 3, 3])
        let lo = b.slice("x", channels: 0..<4, name: "lo")
        let hi = b.slice("x", channels: 4..<8, name: "hi")
        b.output(b.node(.concat(Concat(axis: 1)), b.conv(hi, out: 4), lo))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["split", "conv", "concat"])
        XCTAssertEqual(g.nodes[0].op, .split(Split(axis: 1, sizes: [4, 4])))
        XCTAssertEqual(g.nodes[0].outputs, [lo, hi])
        XCTAssertEqual(g.nodes[0].origin, ["lo", "hi"])
    }

    func testUnevenSlicesInAnyGraphOrder() throws {
        var b = GraphBuilder(input: [2, 7, 2, 2])
        let c = b.slice("x", channels: 5..<7)
        let a = b.conv(b.slice("x", channels: 0..<2), out: 3)
        let m = b.slice("x", channels: 2..<5)
        b.output(a, m, c)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["split", "conv"])
        XCTAssertEqual(g.nodes[0].op, .split(Split(axis: 1, sizes: [2, 3, 2])))
    }

    func testLeavesGapsOverlapsStridesAndOtherAxes() throws {
        var b = GraphBuilder(input: [1, 8, 4, 4])
        let gap = [b.slice("x", channels: 0..<3), b.slice("x", channels: 4..<8)]
        var b2 = GraphBuilder(input: [1, 8, 4, 4])
        let overlap = [b2.slice("x", channels: 0..<5), b2.slice("x", channels: 4..<8)]
        var b3 = GraphBuilder(input: [1, 8, 4, 4])
        let strided = [b3.node(.slice(Slice(starts: [0, 0, 0, 0], ends: [1, 8, 4, 4], steps: [1, 2, 1, 1])), "x"),
                       b3.slice("x", channels: 4..<8)]
        var b4 = GraphBuilder(input: [1, 8, 4, 4])
        let spatial = [b4.node(.slice(Slice(starts: [0, 0, 0, 0], ends: [1, 4, 4, 2], steps: [1, 1, 1, 1])), "x"),
                       b4.slice("x", channels: 4..<8)]
        for (var builder, outs) in [(b, gap), (b2, overlap), (b3, strided), (b4, spatial)] {
            for o in outs { builder.output(o) }
            let (g, _) = try optimize(&builder, [pass])
            XCTAssertEqual(kinds(g), ["slice", "slice"])
        }
    }
}
