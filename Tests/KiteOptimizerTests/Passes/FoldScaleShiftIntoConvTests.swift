import KiteCore
@testable import KiteOptimizer
import XCTest

final class FoldScaleShiftIntoConvTests: XCTestCase {
    let pass = FoldScaleShiftIntoConv()

    func testFoldsIntoDenseGroupAndDepthwiseConvWithAndWithoutBias() throws {
        for (groups, bias) in [(1, true), (1, false), (2, true), (4, false), (8, true)] {
            var b = GraphBuilder(input: [1, 8, 5, 5])
            let c = b.conv("x", out: 8, kernel: 3, groups: groups, bias: bias, name: "conv")
            let y = b.batchNorm(c, name: "bn")
            b.output(y)
            let (g, report) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["conv"], "groups \(groups) bias \(bias)")
            XCTAssertEqual(g.nodes[0].outputs, [y])
            XCTAssertEqual(g.nodes[0].origin, ["conv", "bn"])
            XCTAssertEqual(g.nodes[0].passes, ["fold-scale-shift-into-conv"])
            XCTAssertNotNil(g.conv(0)?.bias)
            XCTAssertEqual(report.rewrites(of: pass.name), 1)
            XCTAssertEqual(report.summaryLines, ["folded 1 BatchNormalization into Conv/FullyConnected"])
        }
    }

    func testScaleShiftActivationMovesOntoConv() throws {
        var b = GraphBuilder(input: [1, 4, 4, 4])
        let c = b.conv("x", out: 6, kernel: 3)
        let y = b.node(.scaleShift(ScaleShift(scale: b.random.floats(6), shift: b.random.floats(6), activation: .clip(min: 0, max: 6))), c)
        b.output(y)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["conv"])
        XCTAssertEqual(g.conv(0)?.activation, .clip(min: 0, max: 6))
    }

    func testFoldsIntoFullyConnected() throws {
        var b = GraphBuilder(input: [2, 6])
        let f = b.fc("x", out: 5, name: "fc")
        b.output(b.batchNorm(f, name: "bn"))
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["fullyConnected"])
        XCTAssertEqual(g.nodes[0].origin, ["fc", "bn"])
    }

    func testAbsorbsPerChannelBinaryConstants() throws {
        let cases: [(Binary.Kind, [Int], Bool)] = [
            (.mul, [1, 6, 1, 1], false), (.mul, [6, 1, 1], true), (.add, [1, 6, 1, 1], false), (.add, [6, 1, 1], true),
            (.sub, [1, 6, 1, 1], false), (.sub, [1, 6, 1, 1], true), (.div, [1, 6, 1, 1], false), (.mul, [1], false), (.add, [], true),
        ]
        for (k, shape, onLeft) in cases {
            var b = GraphBuilder(input: [1, 3, 5, 5])
            let c = b.conv("x", out: 6, kernel: 3, bias: k != .add)
            let constant = b.random.tensor(shape, 0.5, 2)
            b.output(b.binary(k, c, constant: constant, onLeft: onLeft, name: "affine"))
            let (g, _) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["conv"], "\(k) \(shape) onLeft \(onLeft)")
        }
    }

    func testAffineThenAffineFoldsTwice() throws {
        var b = GraphBuilder(input: [1, 3, 5, 5])
        let c = b.conv("x", out: 4)
        let m = b.binary(.mul, b.batchNorm(c), constant: b.random.tensor([1, 4, 1, 1]))
        b.output(b.binary(.add, m, constant: b.random.tensor([4, 1, 1])))
        let (g, report) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["conv"])
        XCTAssertEqual(g.nodes[0].origin.count, 4)
        XCTAssertEqual(report.rewrites(of: pass.name), 3)
    }

    func testLeavesWhatCannotFold() throws {
        // A constant that varies along W, not channels; a left division; a conv already activated;
        // a conv read twice; a conv with a residual; a conv that is itself a graph output.
        var b = GraphBuilder(inputs: ["x": [1, 4, 4, 4], "r": [1, 4, 4, 4]])
        let c1 = b.conv("x", out: 4)
        let w = b.binary(.mul, c1, constant: b.random.tensor([4]))
        let c2 = b.conv("x", out: 4)
        let d = b.binary(.div, c2, constant: b.random.tensor([1, 4, 1, 1], 1, 2), onLeft: true)
        let c3 = b.conv("x", out: 4, activation: .relu)
        let s3 = b.batchNorm(c3)
        let c4 = b.conv("x", out: 4)
        let s4 = b.batchNorm(c4)
        var res = Convolution(weight: b.random.tensor([4, 4, 1, 1]), bias: nil, groups: 1, strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1])
        res.residual = true
        let c5 = b.node(.conv(res), "x", "r")
        let s5 = b.batchNorm(c5)
        let c6 = b.conv("x", out: 4)
        let s6 = b.batchNorm(c6)
        b.output(w, d, s3, s4, c4, s5, s6, c6)
        let before = kinds(b.graph)
        let (g, report) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
        XCTAssertEqual(report.rewrites(of: pass.name), 0)
    }

    func testPreActivationBatchNormStaysAndTakesTheActivation() throws {
        // CondenseNet: BN -> ReLU -> Conv. The BN cannot fold; the ReLU fuses into it.
        var b = GraphBuilder(input: [1, 4, 5, 5])
        let s = b.batchNorm("x", name: "bn")
        let r = b.act(s, .relu, name: "relu")
        b.output(b.conv(r, out: 8, kernel: 3, groups: 4, name: "conv"))
        let (g, _) = try optimize(&b, [pass, FuseActivation()])
        XCTAssertEqual(kinds(g), ["scaleShift", "conv"])
        guard case .scaleShift(let ss) = g.nodes[0].op else { return XCTFail() }
        XCTAssertEqual(ss.activation, .relu)
        XCTAssertEqual(g.nodes[0].origin, ["bn", "relu"])
        XCTAssertEqual(g.nodes[0].passes, ["fuse-activation"])
    }

    func testGraphOutputNameIsKept() throws {
        var b = GraphBuilder(input: [1, 2, 3, 3])
        let c = b.conv("x", out: 3)
        let y = b.batchNorm(c)
        b.output(y)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(g.nodes.map(\.outputs), [[y]])
        XCTAssertNil(g.shapes[c], "the folded-away value's shape is gone")
    }
}
