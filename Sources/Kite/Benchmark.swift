import Foundation
import KiteCore
import KiteProfiler

/// Latency statistics of repeated runs.
public struct BenchmarkResult: Sendable {
    public var runs: Int
    public var threads: Int
    public var medianMilliseconds: Double
    public var p10Milliseconds: Double
    public var p90Milliseconds: Double
    public var minMilliseconds: Double
    public var loadMilliseconds: Double
    public var peakRSSMegabytes: Double
    public var arenaBytes: Int?
    /// The largest sum of activation bytes alive at once in the plan: no arena can be smaller.
    public var arenaLowerBoundBytes: Int?
    /// FLOPs of one run by the ops' cost model (direct convolution: 2 x MACs, whatever the kernel).
    public var flops: Int = 0
    /// The machine's measured peak for the threads used (when asked for): with `flops`, the floor.
    public var peakGFLOPS: Double?

    /// The time one run would take at the machine's peak (2 x MACs / peak), when the peak was measured.
    public var floorMilliseconds: Double? {
        peakGFLOPS.map { Double(flops) / ($0 * 1e6) }
    }

    public var json: String {
        var o: [String: Any] = [
            "schema_version": 1,
            "runs": runs, "threads": threads,
            "median_ms": medianMilliseconds, "p10_ms": p10Milliseconds, "p90_ms": p90Milliseconds,
            "min_ms": minMilliseconds, "load_ms": loadMilliseconds, "peak_rss_mb": peakRSSMegabytes,
        ]
        if let arenaBytes { o["arena_bytes"] = arenaBytes }
        if let arenaLowerBoundBytes { o["arena_lower_bound_bytes"] = arenaLowerBoundBytes }
        o["flops"] = flops
        if let peakGFLOPS, let floor = floorMilliseconds {
            o["peak_gflops"] = peakGFLOPS
            o["floor_ms"] = floor
            o["floor_ratio"] = medianMilliseconds / floor
        }
        return jsonString(o)
    }
}

/// Times a session on a fixed input.
public enum Benchmark {
    /// `measurePeak` also measures the machine's peak, for the FLOP floor.
    public static func run(session: Session, inputs: [String: Tensor], runs: Int, warmup: Int,
                           measurePeak: Bool = false) throws -> BenchmarkResult {
        for _ in 0..<max(warmup, 0) { _ = try session.run(inputs) }
        var times: [Double] = []
        for _ in 0..<max(runs, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(inputs)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        let graph = session.graph
        // A batch the graph runs item by item costs the graph's FLOPs per item.
        let items = try session.checkInputs(inputs) ?? 1
        let flops = items * graph.nodes.reduce(0) { $0 + graph.cost(of: $1).flops }
        let threads = session.executor?.threads ?? 1
        let cores = min(threads, Machine.availableCores)
        var result = BenchmarkResult(
            runs: times.count, threads: threads,
            medianMilliseconds: percentile(times, 0.5), p10Milliseconds: percentile(times, 0.1),
            p90Milliseconds: percentile(times, 0.9), minMilliseconds: times.first ?? 0,
            loadMilliseconds: session.loadMilliseconds, peakRSSMegabytes: peakRSSMegabytes(),
            arenaBytes: session.executor?.arenaBytes, arenaLowerBoundBytes: session.executor?.arenaLowerBound)
        result.flops = flops
        if measurePeak { result.peakGFLOPS = Machine.measurePeakPerCore().gflops * Double(max(cores, 1)) }
        return result
    }
}

/// Linear-interpolated percentile of sorted values.
public func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let pos = q * Double(sorted.count - 1)
    let lo = Int(pos.rounded(.down))
    let hi = min(lo + 1, sorted.count - 1)
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
}

/// The process's peak resident set size so far, in MiB.
public func peakRSSMegabytes() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Double(usage.ru_maxrss) / 1024 / 1024
    #endif
}
