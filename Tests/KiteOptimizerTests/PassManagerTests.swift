import KiteCore
@testable import KiteOptimizer
import XCTest

/// A deliberately wrong rewrite: flips the sign of every conv bias.
struct NegateConvBias: Pass {
    let name = "negate-conv-bias"
    func apply(_ graph: inout NativeGraph) throws -> Int {
        var n = 0
        for i in graph.nodes.indices {
            if case .conv(var c) = graph.nodes[i].op, let b = c.bias, b.contains(where: { $0 > 0 }) {
                c.bias = b.map { -abs($0) }
                graph.nodes[i].op = .conv(c)
                n += 1
            }
        }
        return n
    }
}

final class PassManagerTests: XCTestCase {
    /// conv -> BN -> ReLU6, the commonest pattern.
    func convBNReLU6() -> GraphBuilder {
        var b = GraphBuilder(input: [1, 3, 6, 6])
        let c = b.conv("x", out: 8, kernel: 3, name: "conv")
        let s = b.batchNorm(c, name: "bn")
        b.output(b.act(s, .clip(min: 0, max: 6), name: "clip"))
        return b
    }

    func testDefaultRunFusesToAFixedPointAndReports() throws {
        var b = convBNReLU6()
        let (g, report) = try optimize(&b, PassManager.allPasses)
        XCTAssertEqual(kinds(g), ["conv"])
        XCTAssertEqual(g.nodes[0].origin, ["conv", "bn", "clip"])
        XCTAssertEqual(g.nodes[0].passes, ["fold-scale-shift-into-conv", "fuse-activation"])
        XCTAssertTrue(report.converged)
        XCTAssertEqual(report.steps.map(\.pass), ["fold-scale-shift-into-conv", "fuse-activation"])
        XCTAssertEqual(report.summaryLines, ["folded 1 BatchNormalization into Conv/FullyConnected",
                                             "fused 1 ReLU6 into their producers"])
        XCTAssertEqual(report.rewrites.map(\.name), PassManager.allPasses.map(\.name))
    }

    func testNoFuseRunsOnlyCleanup() throws {
        var b = convBNReLU6()
        var g = b.graph
        let report = try PassManager(options: PassOptions(fuse: false)).run(&g)
        XCTAssertEqual(kinds(g), ["conv", "scaleShift", "activation"])
        XCTAssertEqual(report.rewrites.map(\.name), PassManager.cleanupPasses.map(\.name))
        _ = b.inputs()
    }

    func testOnlyRunsTheNamedPassesAndRejectsUnknownNames() throws {
        var g = convBNReLU6().graph
        let report = try PassManager(options: PassOptions(only: ["fuse-activation"])).run(&g)
        XCTAssertEqual(kinds(g), ["conv", "scaleShift"])
        XCTAssertEqual(report.rewrites.map(\.name), ["fuse-activation"])
        XCTAssertThrowsError(try PassManager(options: PassOptions(only: ["fuse-everything"])).run(&g)) { error in
            XCTAssertTrue("\(error)".contains("unknown pass 'fuse-everything'"))
            XCTAssertTrue("\(error)".contains("fold-scale-shift-into-conv"))
        }
    }

    func testStopAfterBisects() throws {
        var b = convBNReLU6()
        let inputs = b.inputs()
        for k in 0...3 {
            var g = b.graph
            let report = try PassManager(options: PassOptions(stopAfter: k)).run(&g)
            XCTAssertEqual(report.steps.count, min(k, 2))
            XCTAssertEqual(g.nodes.count, 3 - min(k, 2))
            XCTAssertEqual(report.stopped, k <= 2, "the limit ended the run before a round confirmed the fixed point")
            XCTAssertEqual(report.converged, k > 2)
            try assertSameOutputs(b.graph, g, inputs)
        }
    }

    func testVerifyNamesTheFirstPassThatDrifts() throws {
        var b = convBNReLU6()
        let inputs = b.inputs()
        var g = b.graph
        let good = try PassManager().runVerifying(&g, inputs: inputs)
        XCTAssertNil(good.firstDrift)
        XCTAssertEqual(good.drifts.count, 2)

        g = b.graph
        let passes: [any Pass] = [FoldScaleShiftIntoConv(), NegateConvBias(), FuseActivation()]
        let bad = try PassManager(passes: passes).runVerifying(&g, inputs: inputs)
        XCTAssertEqual(bad.firstDrift?.pass, "negate-conv-bias")
        XCTAssertEqual(bad.firstDrift?.step, 2)
        XCTAssertGreaterThan(bad.firstDrift?.error ?? 0, 1e-5)
        XCTAssertEqual(bad.drifts.first?.error ?? 1, 0, accuracy: 1e-5)
    }

    func testDriftIsRelativeToTheLargestReferenceValue() {
        let ref = ["y": Tensor(shape: [2], floats: [100, 1])]
        XCTAssertEqual(PassManager.drift(["y": Tensor(shape: [2], floats: [100.5, 1])], from: ref), 0.005, accuracy: 1e-6)
        XCTAssertEqual(PassManager.drift(["y": Tensor(shape: [2], floats: [0.5, 0.5])], from: ["y": Tensor(shape: [2], floats: [0.25, 0.5])]), 0.25)
        XCTAssertEqual(PassManager.drift([:], from: ref), .infinity)
        XCTAssertEqual(PassManager.drift(["y": Tensor(shape: [2], floats: [.nan, 1])], from: ref), .infinity)
    }

    func testInvalidGraphAfterAPassIsReportedWithThePassName() throws {
        struct Breaker: Pass {
            let name = "breaker"
            func apply(_ graph: inout NativeGraph) throws -> Int {
                graph.nodes.reverse()
                return 1
            }
        }
        var g = convBNReLU6().graph
        XCTAssertThrowsError(try PassManager(passes: [Breaker()], options: PassOptions(checkEachStep: true)).run(&g)) { error in
            XCTAssertTrue("\(error)".contains("pass 'breaker'"), "\(error)")
        }
    }

    func testEveryPassHasAUniqueNameAndSummary() {
        let names = PassManager.allPasses.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        for p in PassManager.allPasses {
            XCTAssertNotNil(PassManager.pass(named: p.name))
            XCTAssertFalse(p.summary(rewrites: 2, tally: ["X": 2]).isEmpty)
        }
    }
}
