import Foundation
import KiteCore
import KiteRuntime

/// Profiles a planned executor: per-step times over repeated runs, interleaved with untimed runs
/// that give the end-to-end time (so the profiler's own overhead shows).
public enum Profiler {
    /// Runs `warmup` untimed runs, then `runs` pairs of one untimed and one per-step timed run.
    ///
    /// - Parameters:
    ///   - graph: the graph the executor was planned from (for op costs, shapes and origins).
    ///   - machine: the limits to compare against; measured (and cached) for the executor's threads when nil.
    ///   - model: a label for reports.
    ///   - onnxNodeFLOPs: FLOPs of each original ONNX node, to split fused ops for `GroupBy.onnxNode`.
    public static func profile(executor: Executor, graph: NativeGraph, inputs: [String: Tensor], runs: Int, warmup: Int,
                               machine: Machine? = nil, model: String = "", onnxNodeFLOPs: [String: Int]? = nil) throws -> Profile {
        try profile(executor: executor, graph: graph, batchItems: [inputs], runs: runs, warmup: warmup, machine: machine,
                    model: model, onnxNodeFLOPs: onnxNodeFLOPs)
    }

    /// Profiles a batch that a graph made for one item runs item by item (`NativeGraph.runsPerBatchItem`):
    /// every run runs each of `batchItems` (the inputs of one item each), a step's time in a run is its
    /// time summed over the items, and its cost and the shapes of batched values count the whole batch.
    /// With more than one item, steps are laid end to end in the timeline (their items interleave).
    public static func profile(executor: Executor, graph: NativeGraph, batchItems items: [[String: Tensor]], runs: Int, warmup: Int,
                               machine: Machine? = nil, model: String = "", onnxNodeFLOPs: [String: Int]? = nil) throws -> Profile {
        guard !items.isEmpty else { throw KiteError.invalidArgument("profile: no inputs to run") }
        let batched: Set<String>
        if items.count > 1 {
            guard let values = graph.batchedValues else {
                throw KiteError.invalidArgument("profile: the graph does not run a batch item by item")
            }
            batched = values
        } else {
            batched = []
        }
        let runs = max(runs, 1)
        let steps = executor.steps
        guard steps.allSatisfy({ $0.nodeIndex >= 0 && $0.nodeIndex < graph.nodes.count }) else {
            throw KiteError.invalidArgument("profile: the executor's steps do not belong to the given graph")
        }
        var ops = steps.enumerated().map { OpProfile(step: $0.offset, info: $0.element, graph: graph) }
        if items.count > 1 {
            for i in ops.indices { ops[i].countBatch(of: items.count, batched: batched, graph: graph) }
        }
        let scheduled = Set(steps.flatMap { [$0.nodeIndex] + $0.absorbedNodes })
        let unscheduled = graph.nodes.indices.filter { !scheduled.contains($0) }.map {
            UnscheduledNode(name: graph.nodes[$0].name, type: graph.nodes[$0].op.typeName, origin: graph.nodes[$0].origin)
        }
        for _ in 0..<max(warmup, 0) {
            for inputs in items { _ = try executor.run(inputs) }
        }

        var times = [UInt64](repeating: 0, count: max(steps.count, 1))
        var spans = [UInt64](repeating: 0, count: max(2 * steps.count, 2))
        var timed: [Double] = [], plain: [Double] = [], starts: [Double] = []
        var first: UInt64?
        for op in ops.indices {
            ops[op].nanoseconds.reserveCapacity(runs)
            ops[op].startOffsets.reserveCapacity(runs)
        }
        for _ in 0..<runs {
            let p0 = monotonicNanoseconds()
            for inputs in items { _ = try executor.run(inputs) }
            plain.append(Double(monotonicNanoseconds() - p0))

            for i in times.indices { times[i] = 0 }
            let t0 = monotonicNanoseconds()
            // The executor adds each step's time to `times`, so items accumulate; spans only for one item.
            for inputs in items {
                _ = try times.withUnsafeMutableBufferPointer { t in
                    try spans.withUnsafeMutableBufferPointer { s in
                        try executor.run(inputs, stepNanoseconds: t.baseAddress, stepSpans: items.count == 1 ? s.baseAddress : nil)
                    }
                }
            }
            let t1 = monotonicNanoseconds()
            timed.append(Double(t1 - t0))
            if first == nil { first = t0 }
            starts.append(Double(t0 - first!))
            for i in ops.indices {
                ops[i].nanoseconds.append(Double(times[i]))
                // Spans are absolute uptimes; a zero start means the executor did not fill them.
                let start = spans[2 * i]
                ops[i].startOffsets.append(start >= t0 ? Double(start - t0) : -1)
            }
        }
        fillMissingStarts(&ops)
        return Profile(model: model, threads: executor.threads, batchItems: items.count, runs: runs, warmup: max(warmup, 0),
                       machine: machine ?? Machine.measure(threads: executor.threads), ops: ops, unscheduled: unscheduled,
                       graphStats: GraphShapeStats(graph), timedRunNanoseconds: timed, endToEndNanoseconds: plain,
                       runStarts: starts, onnxNodeFLOPs: onnxNodeFLOPs)
    }

    /// Where the executor gave no start times, lays steps end to end from the run's start.
    static func fillMissingStarts(_ ops: inout [OpProfile]) {
        guard let runs = ops.first?.startOffsets.count else { return }
        for r in 0..<runs where ops.contains(where: { $0.startOffsets[r] < 0 }) {
            var t = 0.0
            for i in ops.indices {
                ops[i].startOffsets[r] = t
                t += ops[i].nanoseconds[r]
            }
        }
    }
}

extension Profiler {
    /// FLOPs of each origin (ONNX) node in a graph that was lowered without fusion, for
    /// `onnxNodeFLOPs`: a node's FLOPs are shared evenly by its origins (normally exactly one);
    /// a node with no recorded origin counts under its own name.
    public static func originFLOPs(of unfusedGraph: NativeGraph) -> [String: Int] {
        var flops: [String: Int] = [:]
        for node in unfusedGraph.nodes {
            let cost = unfusedGraph.cost(of: node)
            let origins = node.origin.isEmpty ? [node.name] : node.origin
            for origin in origins { flops[origin, default: 0] += cost.flops / origins.count }
        }
        return flops
    }
}
