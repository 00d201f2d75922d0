import Foundation
import KiteCore
import KiteKernels

/// One planned op: the node it runs, the kernel chosen and why, and the code to run.
public struct StepInfo: Sendable {
    public var nodeIndex: Int
    public var nodeName: String
    public var opType: String
    /// The kernel that runs ("gemm", "depthwise3x3", "reference", "view", ...).
    public var kernel: String
    /// Why that kernel was chosen.
    public var reason: String
    /// Other nodes whose work this step does (a producer computed inside it), in graph order.
    public var absorbedNodes: [Int] = []

    public init(nodeIndex: Int, nodeName: String, opType: String, kernel: String, reason: String, absorbedNodes: [Int] = []) {
        self.nodeIndex = nodeIndex
        self.nodeName = nodeName
        self.opType = opType
        self.kernel = kernel
        self.reason = reason
        self.absorbedNodes = absorbedNodes
    }
}

/// Runs a native graph fast: planned once (kernels, packed weights, one arena), then bound per call.
///
/// Not reentrant: one `run` at a time per executor (calls are serialised by a lock).
public final class Executor: @unchecked Sendable {
    public let graph: NativeGraph
    /// The steps in run order, one per node that does work (views do none).
    public private(set) var steps: [StepInfo] = []
    /// Bytes of the activation arena, and the least any plan could use.
    public let arenaBytes: Int
    public let arenaLowerBound: Int
    public let threads: Int

    let arena: UnsafeMutableRawPointer
    let base: UnsafeMutablePointer<Float>
    var placements: [String: Placement] = [:]
    var bufferOffsets: [Int] = []
    var bodies: [() throws -> Void] = []
    let pool: WorkerPool
    let lock = NSLock()

    /// Plans `graph` for `threads` threads (0: one per core).
    public convenience init(graph: NativeGraph, threads: Int = 0) throws {
        try self.init(graph: graph, threads: threads, streamingThreshold: Planner.streamingThresholdBytes)
    }

    /// `streamingThreshold`: intermediate bytes above which inverted-residual blocks are streamed;
    /// `groupedPairThreshold`: the same for pairs of grouped 1x1 layers around a shuffle (tests lower them).
    init(graph: NativeGraph, threads: Int, streamingThreshold: Int,
         groupedPairThreshold: Int = Planner.groupedPairFusionBytes) throws {
        // The arena holds float32; graphs with other element types run on the ReferenceExecutor.
        if let (name, type) = graph.elementTypes.min(by: { $0.key < $1.key }) {
            throw KiteError.invalidArgument("the fast executor runs float32 graphs; value '\(name)' is \(type) (use the reference executor)")
        }
        self.graph = graph
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let pool = WorkerPool(threadCount: threads > 0 ? threads : max(1, cores))
        self.pool = pool
        // The pool may run fewer threads than asked for (see `WorkerPool.init`).
        self.threads = pool.threadCount
        var planner = Planner(graph: graph)
        planner.streamingThreshold = streamingThreshold
        planner.groupedPairThreshold = groupedPairThreshold
        try planner.plan()
        let memory = MemoryPlan(planner.bufferRequests())
        arenaBytes = memory.arenaBytes
        arenaLowerBound = memory.lowerBound
        // Sizes come from the model file: check them, and allocate with posix_memalign, which
        // reports failure (UnsafeMutableRawPointer.allocate aborts the process instead).
        try checkFitsInMemory(memory.arenaBytes, "activation memory")
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, MemoryPlan.alignment, max(memory.arenaBytes, 64)) == 0, let raw else {
            throw KiteError.tooLarge(ErrorContext(), "cannot allocate \(memory.arenaBytes) bytes of activation memory")
        }
        arena = raw
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: max(memory.arenaBytes, 64))
        base = arena.bindMemory(to: Float.self, capacity: max(memory.arenaBytes, 64) / 4)
        placements = planner.placements
        bufferOffsets = memory.offsets
        for planned in planner.steps {
            steps.append(planned.info)
            bodies.append(planned.makeBody(self))
        }
        for (buffer, tensor) in planner.constants {
            tensor.floats.withUnsafeBufferPointer { pointer(buffer: buffer).update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    deinit { free(arena) }

    /// Start of a buffer in the arena.
    func pointer(buffer: Int) -> UnsafeMutablePointer<Float> {
        base + bufferOffsets[buffer] / 4
    }

    /// Start of a value (its first channel for NHWC slices).
    func pointer(_ p: Placement) -> UnsafeMutablePointer<Float> {
        pointer(buffer: p.buffer) + p.channelOffset
    }

    /// Runs the graph; inputs are NCHW tensors keyed by input name, outputs likewise.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try run(inputs, stepNanoseconds: nil)
    }

    /// Runs and, when given, adds each step's duration to `stepNanoseconds[i]`; with `stepSpans` too
    /// (2 per step), also stores step i's start and end (`DispatchTime` uptime ns) at `[2i]` and `[2i+1]`.
    public func run(_ inputs: [String: Tensor], stepNanoseconds: UnsafeMutablePointer<UInt64>?,
                    stepSpans: UnsafeMutablePointer<UInt64>? = nil) throws -> [String: Tensor] {
        lock.lock()
        defer { lock.unlock() }
        for v in graph.inputs {
            guard let t = inputs[v.name] else { throw KiteError.invalidArgument("missing input '\(v.name)'") }
            guard t.shape == v.shape else {
                throw KiteError.invalidArgument("input '\(v.name)' has shape \(t.shape) but the model expects \(v.shape)")
            }
            guard let p = placements[v.name] else { continue }
            t.floats.withUnsafeBufferPointer { LayoutCopy.write($0, to: p, base: pointer(buffer: p.buffer), pool: pool) }
        }
        if let times = stepNanoseconds {
            for (i, body) in bodies.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                let end = DispatchTime.now().uptimeNanoseconds
                times[i] += end - start
                if let stepSpans { stepSpans[2 * i] = start; stepSpans[2 * i + 1] = end }
            }
        } else {
            for body in bodies { try body() }
        }
        var outputs: [String: Tensor] = [:]
        for v in graph.outputs {
            guard let p = placements[v.name] else { continue }
            outputs[v.name] = Tensor(shape: p.shape, floats: LayoutCopy.read(p, from: pointer(buffer: p.buffer)))
        }
        return outputs
    }
}
