import KiteCore
@testable import KiteOptimizer
import XCTest

final class FuseFCBiasTests: XCTestCase {
    let pass = FuseFCBias()

    func testAddOfBiasVectorFoldsIntoBias() throws {
        for (shape, bias, kind) in [([5], false, Binary.Kind.add), ([1, 5], true, .add), ([5], true, .sub), ([1], false, .add)] {
            var b = GraphBuilder(input: [3, 6])
            let f = b.fc("x", out: 5, bias: bias, name: "matmul")
            b.output(b.binary(kind, f, constant: b.random.tensor(shape), name: "add"))
            let (g, _) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["fullyConnected"], "\(shape) \(kind)")
            XCTAssertEqual(g.nodes[0].origin, ["matmul", "add"])
        }
    }

    func testAddActivationMovesOntoFullyConnected() throws {
        var b = GraphBuilder(input: [1, 6])
        b.output(b.binary(.add, b.fc("x", out: 4, bias: false), constant: b.random.tensor([4]), activation: .relu))
        let (g, _) = try optimize(&b, [pass])
        guard case .fullyConnected(let f) = g.nodes[0].op else { return XCTFail() }
        XCTAssertEqual(f.activation, .relu)
    }

    func testLeavesBroadcastingAndLeftSubtraction() throws {
        var b = GraphBuilder(input: [1, 6])
        let o1 = b.binary(.add, b.fc("x", out: 4), constant: b.random.tensor([3, 4]))
        let o2 = b.binary(.sub, b.fc("x", out: 4), constant: b.random.tensor([4]), onLeft: true)
        b.output(o1, o2)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["fullyConnected", "binary", "fullyConnected", "binary"])
    }
}

final class DropReshapeAfterGlobalPoolTests: XCTestCase {
    let pass = DropReshapeAfterGlobalPool()

    func testFlattenBeforeFullyConnectedIsDropped() throws {
        var b = GraphBuilder(input: [2, 6, 3, 3])
        let p = b.node(.globalPool(GlobalPooling(kind: .average)), "x")
        let r = b.reshape(p, [2, 6], name: "flatten")
        b.output(b.fc(r, out: 4, name: "gemm"))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["globalPool", "fullyConnected"])
        XCTAssertEqual(g.nodes[1].inputs, [p])
        XCTAssertEqual(g.nodes[1].origin, ["flatten", "gemm"])
    }

    func testFullyConnectedReferenceAcceptsFourDimensionalInput() throws {
        // The acceptance the pass relies on: [N,C,1,1] is read as [N,C].
        let f = FullyConnected(weight: Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), bias: [1, -1])
        XCTAssertEqual(try f.inferShapes([[1, 3, 1, 1]]), [[1, 2]])
        let y = try f.reference([Tensor(shape: [1, 3, 1, 1], floats: [1, 0, -1])])
        XCTAssertEqual(y[0].shape, [1, 2])
        XCTAssertEqual(y[0].floats, [-1, -3])
    }

    func testLeavesReshapesReadElsewhereOrOfSpatialValues() throws {
        var b = GraphBuilder(input: [1, 4, 2, 2])
        let p = b.node(.globalPool(GlobalPooling(kind: .average)), "x")
        let r = b.reshape(p, [1, 4])
        let o1 = b.fc(r, out: 3)
        let r2 = b.reshape("x", [1, 16])
        let o2 = b.fc(r2, out: 3)
        b.output(o1, r, o2)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
