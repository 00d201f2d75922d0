import KiteCore
@testable import KiteOptimizer
import XCTest

final class FuseActivationTests: XCTestCase {
    let pass = FuseActivation()
    let all: [Activation] = [.relu, .clip(min: 0, max: 6), .clip(min: -1, max: 2.5), .leakyRelu(alpha: 0.1), .sigmoid,
                             .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish]

    func testFusesEveryActivationIntoConv() throws {
        for a in all {
            var b = GraphBuilder(input: [1, 3, 5, 5])
            let c = b.conv("x", out: 4, kernel: 3, name: "conv")
            b.output(b.act(c, a, name: "act"))
            let (g, report) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["conv"], "\(a)")
            XCTAssertEqual(g.conv(0)?.activation, a)
            XCTAssertEqual(g.nodes[0].name, "conv")
            XCTAssertEqual(g.nodes[0].origin, ["conv", "act"])
            XCTAssertEqual(report.summaryLines, ["fused 1 \(a) into their producers"])
        }
    }

    func testFusesIntoFullyConnectedScaleShiftAndAdd() throws {
        var b = GraphBuilder(inputs: ["x": [2, 6], "y": [1, 4, 3, 3], "z": [1, 4, 3, 3]])
        let f = b.act(b.fc("x", out: 3), .relu)
        let s = b.act(b.batchNorm("y"), .clip(min: 0, max: 6))
        let a = b.act(b.binary(.add, "y", "z"), .relu)
        let k = b.act(b.binary(.add, "y", constant: Tensor(shape: [1], floats: [3])), .clip(min: 0, max: 6))
        b.output(f, s, a, k)
        let (g, report) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["fullyConnected", "scaleShift", "binary", "binary"])
        XCTAssertEqual(report.summaryLines, ["fused 2 ReLU, 2 ReLU6 into their producers"])
    }

    func testLeavesActivatedProducersSharedValuesAndOtherOps() throws {
        var b = GraphBuilder(input: [1, 3, 4, 4])
        let c1 = b.conv("x", out: 3, activation: .relu)
        let a1 = b.act(c1, .sigmoid)
        let c2 = b.conv("x", out: 3)
        let a2 = b.act(c2, .relu)
        let a3 = b.act(b.binary(.mul, "x", "x"), .relu)
        let c4 = b.conv("x", out: 3)
        let a4 = b.act(c4, .relu)
        b.output(a1, a2, c2, a3, a4)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), Array(before.dropLast(2)) + ["conv"], "only the last conv, read once, fuses")
    }

    func testRenamesTheProducersOutputToTheGraphOutput() throws {
        var b = GraphBuilder(input: [1, 3, 4, 4])
        let c = b.conv("x", out: 3, name: "conv")
        b.output(b.act(c, .relu, name: "relu"))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(g.nodes[0].outputs, ["relu_out"])
        XCTAssertEqual(g.outputs.map(\.name), ["relu_out"])
    }
}
