import KiteCore

/// A node that ran no step: a view (reshape, a concat or split the planner made free) or a constant.
public struct UnscheduledNode: Sendable, Equatable {
    public var name: String
    public var type: String
    public var origin: [String]
}

/// Counts that show how fragmented a graph is (G3).
public struct GraphShapeStats: Sendable, Equatable {
    public var nodes: Int
    public var concats: Int
    public var splits: Int
    /// Channel shuffles, slices and gathers: the other ops that cut or reorder branches.
    public var shuffles: Int
    public var slices: Int
    /// Values read by two or more nodes: where the graph forks into branches.
    public var forks: Int

    init(_ graph: NativeGraph) {
        nodes = graph.nodes.count
        var readers: [String: Int] = [:]
        var concats = 0, splits = 0, shuffles = 0, slices = 0
        for node in graph.nodes {
            for input in Set(node.inputs) { readers[input, default: 0] += 1 }
            switch node.op {
            case .concat: concats += 1
            case .split: splits += 1
            case .channelShuffle: shuffles += 1
            case .slice, .gather: slices += 1
            default: break
            }
        }
        self.concats = concats
        self.splits = splits
        self.shuffles = shuffles
        self.slices = slices
        forks = readers.values.filter { $0 >= 2 }.count
    }
}

/// The result of profiling one model: every step's cost and times, end-to-end times of runs without
/// timers, and the machine's measured limits. Reports are methods (`table`, `json`, `csv`,
/// `chromeTrace`, `html`).
public struct Profile: Sendable {
    /// A label for reports (usually the model's path).
    public var model: String
    public var threads: Int
    /// Items of the batch each run ran one by one through a graph made for one item (1: one run of the graph).
    public var batchItems: Int
    /// Profiled runs (each timed per step) and untimed warm-up runs before them.
    public var runs: Int
    public var warmup: Int
    public var machine: Machine
    /// One entry per executed step, in run order.
    public var ops: [OpProfile] {
        didSet { totalNanoseconds = Self.sumOfMedians(ops) }
    }
    /// Nodes that ran no step (views and constants).
    public var unscheduled: [UnscheduledNode]
    public var graphStats: GraphShapeStats
    /// Wall time of each profiled (per-step timed) run, in nanoseconds.
    public var timedRunNanoseconds: [Double]
    /// Wall time of each run without per-step timers, interleaved with the timed ones.
    public var endToEndNanoseconds: [Double]
    /// Start of each timed run, in nanoseconds since the first one began.
    public var runStarts: [Double]
    /// FLOPs of each original ONNX node, when known; used to split fused ops for `--group-by onnx-node`.
    public var onnxNodeFLOPs: [String: Int]?
    /// Whether the profiler was built optimised ("release") or not ("debug").
    public var build: String

    public init(model: String, threads: Int, batchItems: Int = 1, runs: Int, warmup: Int, machine: Machine, ops: [OpProfile],
                unscheduled: [UnscheduledNode], graphStats: GraphShapeStats, timedRunNanoseconds: [Double],
                endToEndNanoseconds: [Double], runStarts: [Double], onnxNodeFLOPs: [String: Int]? = nil) {
        self.model = model
        self.threads = threads
        self.batchItems = max(batchItems, 1)
        self.runs = runs
        self.warmup = warmup
        self.machine = machine
        self.ops = ops
        totalNanoseconds = Self.sumOfMedians(ops)
        self.unscheduled = unscheduled
        self.graphStats = graphStats
        self.timedRunNanoseconds = timedRunNanoseconds
        self.endToEndNanoseconds = endToEndNanoseconds
        self.runStarts = runStarts
        self.onnxNodeFLOPs = onnxNodeFLOPs
        #if DEBUG
        build = "debug"
        #else
        build = "release"
        #endif
    }

    /// Sum of the per-op medians, in nanoseconds: the total every report's shares are of.
    /// Stored (kept current by `ops`' observer) because reports read it once per row: summed on
    /// every read, a 5000-op profile took minutes.
    public private(set) var totalNanoseconds: Double

    private static func sumOfMedians(_ ops: [OpProfile]) -> Double { ops.reduce(0) { $0 + $1.medianNanoseconds } }
    /// Median wall time of runs without per-step timers.
    public var endToEndMedianNanoseconds: Double { median(endToEndNanoseconds) }
    public var endToEndP90Nanoseconds: Double { quantile(endToEndNanoseconds, 0.9) }
    /// Median wall time of the per-step timed runs.
    public var timedRunMedianNanoseconds: Double { median(timedRunNanoseconds) }
    /// The profiler's own cost: how much slower a timed run is than an untimed one (a fraction).
    public var overheadFraction: Double {
        let e2e = endToEndMedianNanoseconds
        return e2e > 0 ? (timedRunMedianNanoseconds - e2e) / e2e : 0
    }
    /// End-to-end time not inside any op (input and output copies, dispatch), in nanoseconds.
    public var unattributedNanoseconds: Double { endToEndMedianNanoseconds - totalNanoseconds }

    /// Totals of FLOPs and bytes over every step.
    public var totalCost: OpCost {
        ops.reduce(OpCost.zero) {
            OpCost(flops: $0.flops + $1.cost.flops, activationBytesRead: $0.activationBytesRead + $1.cost.activationBytesRead,
                   weightBytesRead: $0.weightBytesRead + $1.cost.weightBytesRead, bytesWritten: $0.bytesWritten + $1.cost.bytesWritten)
        }
    }

    /// Ops whose achieved GFLOP/s is above the measured peak (a sign the peak is underestimated).
    public var opsAbovePeak: Int {
        ops.filter { $0.medianNanoseconds > 0 && Double($0.cost.flops) / $0.medianNanoseconds > machine.peakGFLOPS * 1.05 }.count
    }

    /// A warning when ops beat the measured peak, naming the likely cause; nil otherwise.
    public var peakWarning: String? {
        let n = opsAbovePeak
        guard n > 0 else { return nil }
        let cause = machine.method.contains("-march=native")
            ? "the peak loop ran without FMA because KiteProfiler is built without -march=native"
            : "clock boost or measurement noise"
        return "\(n) op\(n == 1 ? " runs" : "s run") faster than the measured peak (\(String(format: "%.1f", machine.peakGFLOPS)) GFLOP/s): \(cause); their roof figures are overstated."
    }

    /// The timed run whose wall time is the median (shown as the timeline).
    public var medianRun: Int {
        guard !timedRunNanoseconds.isEmpty else { return 0 }
        let order = timedRunNanoseconds.indices.sorted { timedRunNanoseconds[$0] < timedRunNanoseconds[$1] }
        return order[(order.count - 1) / 2]
    }
}
