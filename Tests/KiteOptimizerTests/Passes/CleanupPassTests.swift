import KiteCore
@testable import KiteOptimizer
import XCTest

final class CleanupPassTests: XCTestCase {
    func testRemovesDeadChainsButKeepsGraphOutputsAndPartlyUsedNodes() throws {
        var b = GraphBuilder(input: [1, 4, 2, 2])
        let dead = b.act(b.conv("x", out: 4), .relu)
        _ = b.act(dead, .sigmoid)
        let parts = b.add(.split(Split(axis: 1, sizes: [2, 2])), ["x"])
        b.output(b.conv(parts[0], out: 2))
        let (g, report) = try optimize(&b, [RemoveDeadNodes()])
        XCTAssertEqual(kinds(g), ["split", "conv"])
        XCTAssertEqual(report.summaryLines, ["removed 3 dead nodes"])
        XCTAssertNil(g.shapes[dead])
    }

    func testRemovesNoopReshapeUnlessItIsAGraphOutput() throws {
        var b = GraphBuilder(input: [1, 4, 2, 2])
        let r = b.reshape("x", [1, 4, 2, 2])
        let o1 = b.conv(r, out: 2)
        let o2 = b.reshape(o1, [1, 2, 2, 2])
        b.output(o1, o2)
        let (g, _) = try optimize(&b, [RemoveNoopReshape()])
        XCTAssertEqual(kinds(g), ["conv", "reshape"])
        XCTAssertEqual(g.nodes[0].inputs, ["x"])
    }

    func testCollapsesReshapeChainsThenDropsTheNoop() throws {
        var b = GraphBuilder(input: [2, 3, 4])
        let flat = b.reshape("x", [6, 4], name: "flatten")
        let back = b.reshape(flat, [2, 3, 4], name: "unflatten")
        let y = b.binary(.add, back, "x")
        let r2 = b.reshape(b.reshape(y, [24]), [4, 6])
        b.output(r2)
        let (g, report) = try optimize(&b, [RemoveNoopReshape()])
        XCTAssertEqual(kinds(g), ["binary", "reshape"])
        XCTAssertEqual(g.nodes[0].inputs, ["x", "x"])
        XCTAssertEqual(report.summaryLines, ["removed 2 Reshape of a Reshape, 1 no-op Reshape"])
    }

    func testFoldsNodesOfConstantsAndSharesDuplicates() throws {
        var b = GraphBuilder(input: [1, 3])
        let k = b.constant(Tensor(shape: [1, 3], floats: [1, 2, 3]), name: "k")
        let k2 = b.constant(Tensor(shape: [1, 3], floats: [1, 2, 3]), name: "k2")
        let folded = b.binary(.mul, k, constant: Tensor(shape: [1], floats: [2]), name: "double")
        let s = b.binary(.add, "x", folded)
        b.output(b.binary(.add, s, k2))
        let (g, report) = try optimize(&b, [FoldConstants(), ShareConstants(), RemoveDeadNodes()])
        XCTAssertEqual(kinds(g), ["constant", "constant", "binary", "binary"])
        XCTAssertEqual(g.node(named: "double")?.op, .constant(Constant(Tensor(shape: [1, 3], floats: [2, 4, 6]))))
        XCTAssertEqual(g.node(named: "k")?.origin, ["k", "k2"])
        XCTAssertEqual(g.nodes[3].inputs, [s, k])
        XCTAssertEqual(report.rewrites(of: "fold-constants"), 1)
        XCTAssertEqual(report.rewrites(of: "share-constants"), 1)
    }
}

final class FoldConstantsLimitTests: XCTestCase {
    func testDoesNotFoldABroadcastThatGrowsTheConstant() throws {
        var b = GraphBuilder(input: [1, 3])
        let k = b.constant(Tensor(shape: [1, 1, 1, 1], floats: [2]))
        // 1 element + a [1,8,128,128] payload: folding would store 131072 floats.
        let big = b.binary(.add, k, constant: Tensor.zeros([1, 8, 128, 128]))
        b.output(b.node(.globalPool(GlobalPooling(kind: .average)), big))
        let (g, _) = try optimize(&b, [FoldConstants()])
        XCTAssertEqual(kinds(g), ["constant", "binary", "globalPool"])
    }
}
