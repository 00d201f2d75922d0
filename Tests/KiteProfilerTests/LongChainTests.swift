import KiteCore
import KiteProfiler
import KiteRuntime
import XCTest

/// A 3000-op chain: every report is built (they once summed all ops once per row, minutes at
/// this size) and agrees on the total. No assertion is about speed.
final class LongChainTests: XCTestCase {
    func testLongChainReportsTotalOfOpMedians() throws {
        var b = GraphBuilder(shape: [1, 4])
        var x = "input"
        for i in 0..<3000 { x = b.add("relu\(i)", .activation(ActivationOp(.relu)), [x]) }
        let graph = b.graph(outputs: [x])
        let executor = try Executor(graph: graph, threads: 1)
        let input = Tensor(shape: [1, 4], floats: [-1, 0, 1, 2])
        var profile = try Profiler.profile(executor: executor, graph: graph, inputs: ["input": input], runs: 1, warmup: 0,
                                           machine: CostTests.machine, model: "chain")
        XCTAssertEqual(profile.ops.count, executor.steps.count)
        let sum = profile.ops.reduce(0.0) { $0 + $1.medianNanoseconds }
        XCTAssertEqual(profile.totalNanoseconds, sum)
        let rows = profile.rows(groupBy: .op)
        XCTAssertEqual(rows.count, profile.ops.count)
        XCTAssertEqual(rows.reduce(0.0) { $0 + $1.share }, 1, accuracy: 1e-9)
        for report in [profile.table(), profile.csv(), profile.json(), profile.html()] { XCTAssertFalse(report.isEmpty) }
        XCTAssertTrue(profile.table().contains(String(format: "total     %.3f ms", sum / 1e6)))

        // The stored total follows edits to the ops.
        profile.ops[0].nanoseconds = [profile.ops[0].medianNanoseconds + 1000]
        XCTAssertEqual(profile.totalNanoseconds, profile.ops.reduce(0.0) { $0 + $1.medianNanoseconds })
    }
}
