import KiteCore
import KiteRuntime

/// What kind of work an op does, for the per-category summaries and the guideline checks.
public enum OpCategory: String, Sendable, CaseIterable {
    case convolution
    case fullyConnected = "fully connected"
    case pooling
    /// Per-element arithmetic: activations, binary ops, per-channel scale and shift.
    case elementwise = "element-wise"
    /// Ops that only move values: concat, split, shuffle, gather, transpose, pad, slice, reshape.
    case dataMovement = "data movement"
    case other

    /// The category of a native op.
    public init(_ op: Op) {
        switch op {
        case .conv: self = .convolution
        case .fullyConnected: self = .fullyConnected
        case .pool, .globalPool, .reduceMean, .reduce: self = .pooling
        case .activation, .binary, .scaleShift, .elementwiseBinary, .unary, .whereSelect, .cast, .dropout: self = .elementwise
        case .concat, .split, .channelShuffle, .gather, .reshape, .transpose, .pad, .slice: self = .dataMovement
        case .matMul: self = .fullyConnected
        case .softmax, .constant: self = .other
        }
    }
}

/// A convolution's geometry, kept for the guideline checks (G1, G2).
public struct ConvolutionInfo: Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var groups: Int
    public var kernel: [Int]
    /// Output pixels per image (H x W).
    public var outputPixels: Int
    /// Images in the batch.
    public var batch: Int

    public var isDepthwise: Bool { groups > 1 && groups == inChannels }
    public var isPointwise: Bool { kernel == [1, 1] && groups == 1 }
}

/// One executed step (native op) as measured: identity, cost and its time in every profiled run.
public struct OpProfile: Sendable {
    /// Position in run order.
    public var step: Int
    /// Index of the node in the graph.
    public var nodeIndex: Int
    public var name: String
    /// The native op type ("Conv", "Add", ...).
    public var type: String
    public var category: OpCategory
    /// The kernel that ran and why the planner chose it.
    public var kernel: String
    public var reason: String
    /// The ONNX nodes this op was made from (fusion keeps them all).
    public var origin: [String]
    public var inputShapes: [[Int]]
    public var outputShapes: [[Int]]
    /// FLOPs and bytes, from the op's own cost model; zero when the step is free (see `isFree`).
    public var cost: OpCost
    /// Whether the step does no work of its own: its kernel is "none" or "view" (the planner made it a
    /// view, or had its producers write straight into its output). Its cost counts as zero.
    public var isFree: Bool
    /// Set for convolutions.
    public var conv: ConvolutionInfo?
    /// Whether the op cuts or joins branches (concat, split, channel shuffle, slice): G3's fragmentation.
    public var branching: Bool
    /// Fused epilogue for display: "residual" (an added input) and the activation ("ReLU6").
    public var fused: [String]
    /// Nanoseconds in each profiled run.
    public var nanoseconds: [Double]
    /// Start of the op in each profiled run, in nanoseconds since that run began.
    public var startOffsets: [Double]

    /// The type, with convolutions told apart by kind ("Conv 1x1", "Conv depthwise", "Conv group",
    /// "Conv 3x3"): the split that matters in lightweight CNNs. Used to colour the HTML charts.
    public var kind: String {
        guard let c = conv else { return type }
        if c.isPointwise { return type + " 1x1" }
        if c.isDepthwise { return type + " depthwise" }
        if c.groups > 1 { return type + " group" }
        return type + " " + c.kernel.map(String.init).joined(separator: "x")
    }

    /// Median time over runs, in nanoseconds.
    public var medianNanoseconds: Double { median(nanoseconds) }
    /// 90th percentile time over runs, in nanoseconds.
    public var p90Nanoseconds: Double { quantile(nanoseconds, 0.9) }
    /// The ShuffleNetV2 paper's B: multiply-adds (FLOPs / 2).
    public var multiplyAdds: Int { cost.flops / 2 }
    /// The paper's memory access cost, in elements (bytes / 4 for float32).
    public var memoryAccessElements: Int { cost.totalBytes / 4 }
}

extension OpProfile {
    /// The cost of a step: its node's, plus the nodes it absorbed (a producer computed inside it,
    /// whose output then never goes to memory: its write and the node's read of it drop out).
    static func cost(of info: StepInfo, graph: NativeGraph) -> OpCost {
        func costOf(_ index: Int) -> OpCost { graph.cost(of: graph.nodes[index]) }
        var total = costOf(info.nodeIndex)
        for a in info.absorbedNodes where a >= 0 && a < graph.nodes.count {
            let c = costOf(a)
            let passed = graph.nodes[a].outputs.compactMap { graph.shapes[$0] }.map { $0.reduce(1, *) * 4 }.reduce(0, +)
            total.flops += c.flops
            total.weightBytesRead += c.weightBytesRead
            total.activationBytesRead += c.activationBytesRead - passed
            total.bytesWritten += c.bytesWritten - passed
        }
        return total
    }

    /// Counts a batch of `items` run item by item: the cost of every item, and a batch of `items` in
    /// the shapes of batched values (`NativeGraph.batchedValues`), which have a leading 1 in `graph`.
    mutating func countBatch(of items: Int, batched: Set<String>, graph: NativeGraph) {
        let node = graph.nodes[nodeIndex]
        func scaled(_ shapes: [[Int]], _ names: [String]) -> [[Int]] {
            zip(shapes, names).map { shape, name in
                batched.contains(name) && shape.first == 1 ? [items] + shape.dropFirst() : shape
            }
        }
        inputShapes = scaled(inputShapes, node.inputs)
        outputShapes = scaled(outputShapes, node.outputs)
        func times(_ v: Int) -> Int {
            let (product, overflow) = v.multipliedReportingOverflow(by: items)
            return overflow ? Int.max : product
        }
        cost = OpCost(flops: times(cost.flops), activationBytesRead: times(cost.activationBytesRead),
                      weightBytesRead: times(cost.weightBytesRead), bytesWritten: times(cost.bytesWritten))
        conv?.batch *= items
    }

    /// Kernel names of steps that do no work of their own.
    public static let freeKernels: Set<String> = ["none", "view"]

    /// Fills identity, shapes and cost of the node a step runs.
    init(step: Int, info: StepInfo, graph: NativeGraph) {
        let node = graph.nodes[info.nodeIndex]
        let inputs = node.inputs.map { graph.shapes[$0] ?? [] }
        let outputs = node.outputs.map { graph.shapes[$0] ?? [] }
        var conv: ConvolutionInfo?
        var fused: [String] = []
        switch node.op {
        case .conv(let c):
            let out = outputs.first ?? []
            conv = ConvolutionInfo(inChannels: c.inChannelsPerGroup * c.groups, outChannels: c.outChannels, groups: c.groups,
                                kernel: c.kernel, outputPixels: out.count == 4 ? out[2] * out[3] : 1, batch: out.first ?? 1)
            if c.residual { fused.append("residual") }
            if let a = c.activation { fused.append(a.description) }
        case .fullyConnected(let f):
            if let a = f.activation { fused.append(a.description) }
        case .binary(let b):
            if let a = b.activation { fused.append(a.description) }
        case .scaleShift(let s):
            if let a = s.activation { fused.append(a.description) }
        default: break
        }
        let isFree = Self.freeKernels.contains(info.kernel)
        var branching = false
        switch node.op {
        case .concat, .split, .channelShuffle, .slice: branching = true
        default: break
        }
        self.init(step: step, nodeIndex: info.nodeIndex, name: info.nodeName, type: info.opType, category: OpCategory(node.op),
                  kernel: info.kernel, reason: info.reason, origin: node.origin, inputShapes: inputs, outputShapes: outputs,
                  cost: isFree ? .zero : Self.cost(of: info, graph: graph), isFree: isFree,
                  conv: conv, branching: branching, fused: fused,
                  nanoseconds: [], startOffsets: [])
    }
}
