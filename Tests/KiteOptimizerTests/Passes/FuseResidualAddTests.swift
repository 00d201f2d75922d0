import KiteCore
@testable import KiteOptimizer
import XCTest

final class FuseResidualAddTests: XCTestCase {
    let pass = FuseResidualAdd()

    func testConvPlusShortcutEitherOrder() throws {
        for convFirst in [true, false] {
            var b = GraphBuilder(input: [1, 4, 5, 5])
            let c = b.conv("x", out: 4, kernel: 3, name: "conv")
            b.output(convFirst ? b.binary(.add, c, "x", name: "add") : b.binary(.add, "x", c, name: "add"))
            let (g, _) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["conv"])
            XCTAssertEqual(g.conv(0)?.residual, true)
            XCTAssertEqual(g.nodes[0].inputs, ["x", "x"])
            XCTAssertEqual(g.nodes[0].outputs, ["add_out"])
            XCTAssertEqual(g.nodes[0].origin, ["conv", "add"])
        }
    }

    func testFollowingActivationFusesAfterTheResidual() throws {
        var b = GraphBuilder(input: [1, 4, 5, 5])
        let s = b.act(b.conv("x", out: 4), .relu)
        let c = b.conv(s, out: 4, kernel: 3)
        b.output(b.act(b.binary(.add, c, s), .relu))
        for order in [[pass, FuseActivation()], [FuseActivation(), pass]] as [[any Pass]] {
            var copy = b
            let (g, _) = try optimize(&copy, order)
            XCTAssertEqual(kinds(g), ["conv", "conv"])
            XCTAssertEqual(g.conv(1)?.residual, true)
            XCTAssertEqual(g.conv(1)?.activation, .relu)
        }
    }

    func testShortcutComputedAfterTheConvPutsTheFusedConvAtTheAdd() throws {
        var b = GraphBuilder(input: [1, 4, 5, 5])
        let c = b.conv("x", out: 4, name: "main")
        let shortcut = b.conv("x", out: 4, activation: .relu, name: "shortcut")
        b.output(b.binary(.add, c, shortcut))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(g.nodes.map(\.name), ["shortcut", "main"])
        XCTAssertEqual(g.conv(1)?.residual, true)
    }

    func testTwoConvOperandsTheLaterOneAbsorbs() throws {
        var b = GraphBuilder(input: [1, 4, 5, 5])
        let a = b.conv("x", out: 6, stride: 2, name: "projection")
        let m = b.conv("x", out: 6, kernel: 3, stride: 2, name: "main")
        b.output(b.binary(.add, a, m))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(g.nodes.map(\.name), ["projection", "main"])
        XCTAssertEqual(g.conv(1)?.residual, true)
        XCTAssertEqual(g.nodes[1].inputs, ["x", a])
    }

    func testLeavesActivatedConvsSharedConvsBroadcastsAndConstants() throws {
        var b = GraphBuilder(inputs: ["x": [1, 4, 5, 5], "v": [1, 4, 1, 1]])
        let o1 = b.binary(.add, b.conv("x", out: 4, activation: .relu), "x")
        let c2 = b.conv("x", out: 4)
        let o2 = b.binary(.add, c2, "x")
        let o3 = b.binary(.add, b.conv("x", out: 4), "v")
        let o4 = b.binary(.add, b.conv("x", out: 4), constant: Tensor(shape: [1], floats: [1]))
        let c5 = b.conv("x", out: 4)
        let o5 = b.binary(.add, c5, c5)
        b.output(o1, o2, c2, o3, o4, o5)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
