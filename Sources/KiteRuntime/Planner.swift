import KiteCore
import Foundation

/// A step as planned: what it is, and how to build its code once the arena exists.
struct PlannedStep {
    var info: StepInfo
    var makeBody: (Executor) -> () throws -> Void
}

/// Chooses placements, views and kernels for every node; the executor then lays out the arena.
struct Planner {
    let graph: NativeGraph
    var placements: [String: Placement] = [:]
    var bufferElements: [Int] = []
    var bufferFirst: [Int] = []
    var bufferLast: [Int] = []
    /// Buffers holding constants, filled once after the arena is allocated.
    var constants: [(Int, Tensor)] = []
    var steps: [PlannedStep] = []
    /// Index of the last node reading each value (graph outputs: past the end).
    var lastReader: [String: Int] = [:]
    var readers: [String: Int] = [:]
    var graphOutputs: Set<String> = []
    /// Node outputs that are written straight into a slot of a channel concat's buffer.
    var slots: [String: (concat: Int, offset: Int)] = [:]
    var concatBuffers: [Int: Int] = [:]
    /// Concats that extend the one before (`concatChains`): node index -> (chain's first concat, its channels).
    var chains: [Int: (root: Int, channels: Int)] = [:]
    /// Readers of every value: (node index, input position).
    var readerTable: [String: [(node: Int, position: Int)]] = [:]
    /// Pointwise convolutions whose output only a depthwise convolution reads: planned into that step.
    var pendingPointwise: [String: PendingPointwise] = [:]
    /// Depthwise convolutions (and their expansions) whose output only a projection reads: planned into that step.
    var pendingDepthwise: [String: PendingDepthwise] = [:]
    /// Stem convolutions whose output only a max pool reads: planned into that step.
    var pendingStem: [String: PendingStem] = [:]
    /// Streamed projections whose output only a max pool reads: planned into that step.
    var pendingPooledProjection: [String: PendingPooledProjection] = [:]
    /// Intermediate bytes above which expand/depthwise/project blocks are streamed by bands.
    var streamingThreshold = Planner.streamingThresholdBytes
    /// The same for blocks with small 1x1 weights (`Planner.lightStreamingThresholdBytes`).
    var lightStreamingThreshold = Planner.lightStreamingThresholdBytes
    /// Intermediate bytes above which two grouped 1x1 layers around a shuffle run as one step.
    var groupedPairThreshold = Planner.groupedPairFusionBytes

    init(graph: NativeGraph) {
        self.graph = graph
    }

    var end: Int { graph.nodes.count }

    mutating func newBuffer(elements: Int, at index: Int) -> Int {
        bufferElements.append(max(elements, 1))
        bufferFirst.append(index)
        bufferLast.append(index)
        return bufferElements.count - 1
    }

    /// A new placement for a node output: dense, or NHWC with pixels padded to whole cache lines
    /// (`alignedPixelStride`).
    mutating func allocate(_ shape: [Int], at index: Int) -> Placement {
        var p = Placement.dense(buffer: 0, shape: shape)
        if p.nhwc { p.pixelStride = Planner.alignedPixelStride(channels: p.channels, pixels: p.height * p.width) }
        p.buffer = newBuffer(elements: p.bufferElements, at: index)
        return p
    }

    /// Floats between the pixels of a new NHWC buffer: the channel count rounded up to a multiple
    /// of 16 (64 bytes) when that adds at most a quarter, on maps of more than one pixel; 128, 256,
    /// 384 and 512 channels get 16 more (`spreadsSets`, not for concat buffers).
    ///
    /// With 72 channels a pixel is 288 bytes, so every other pixel starts half-way into a cache
    /// line, and each of its 16-lane loads and stores spans two lines.
    ///
    /// A pixel of 128 channels is 512 bytes, so one channel block's line of every pixel falls in 8
    /// of L1's 64 sets (256: 4), and a depthwise window's rows evict each other. 144 floats (9
    /// lines) reach all 64 sets. On a Xeon, 1 thread, medians of three alternated profiles:
    /// IGCv2 4.05-4.07 -> 3.69-3.73 ms (56x56x128 depthwise 0.238 -> 0.143), MobileNetV1 8.54 -> 8.21
    /// (its 512-channel GEMMs 2-3% faster too), TinyDarkNet -1.4%, Xception -0.8% (37x37x256
    /// depthwise 0.41 -> 0.19). SqueezeNet's concat buffers measured 1% slower padded, so they
    /// stay dense. `KITE_PAD_POW2=0` turns it off (A/B runs).
    static func alignedPixelStride(channels: Int, pixels: Int, spreadsSets: Bool = true) -> Int {
        if spreadsSets, padsPowerOfTwo, pixels > 1, channels % 128 == 0, channels <= 512 { return channels + 16 }
        guard alignsPixels, pixels > 1, channels > 16, channels % 16 != 0 else { return channels }
        let padded = (channels + 15) / 16 * 16
        return (padded - channels) * 4 <= channels ? padded : channels
    }

    /// `KITE_ALIGN_PIXELS=0` in the environment keeps every NHWC buffer dense (for A/B measurements).
    static let alignsPixels = ProcessInfo.processInfo.environment["KITE_ALIGN_PIXELS"] != "0"
    static let padsPowerOfTwo = ProcessInfo.processInfo.environment["KITE_PAD_POW2"] != "0"

    func bufferRequests() -> [MemoryPlan.Request] {
        bufferElements.indices.map { MemoryPlan.Request(bytes: bufferElements[$0] * 4, firstUse: bufferFirst[$0], lastUse: bufferLast[$0]) }
    }

    /// Whether `value` is read by no node after `index` and is no graph output (its buffer may be reused in place).
    func diesAt(_ value: String, _ index: Int) -> Bool {
        !graphOutputs.contains(value) && (lastReader[value] ?? -1) <= index
            && !graph.inputs.contains { $0.name == value }
    }

    /// Whether a placement's buffer holds only this value (so writing it in place disturbs nothing else).
    func ownsBuffer(_ value: String) -> Bool {
        guard let p = placements[value], p.isDense else { return false }
        return !placements.contains { $0.key != value && $0.value.buffer == p.buffer }
    }

    mutating func plan() throws {
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs {
                lastReader[input] = i
                readers[input, default: 0] += 1
            }
        }
        for v in graph.outputs {
            graphOutputs.insert(v.name)
            lastReader[v.name] = end
        }
        for v in graph.inputs {
            placements[v.name] = allocate(v.shape, at: 0)
        }
        chains = concatChains()
        slots = concatSlots()
        readerTable = Planner.readerTable(graph)
        for (i, node) in graph.nodes.enumerated() {
            var inputs: [Placement] = []
            for name in node.inputs {
                guard let p = placements[name] else {
                    throw KiteError.invalidNode(ErrorContext(node: node.name, opType: node.op.typeName), "input '\(name)' is not produced before it is read")
                }
                inputs.append(p)
            }
            let outputs = try planNode(index: i, node: node, inputs: inputs)
            for (name, p) in zip(node.outputs, outputs) { placements[name] = p }
            // Every buffer read here, and every buffer written, lives at least through this node.
            for p in inputs + outputs where p.buffer >= 0 {
                bufferLast[p.buffer] = max(bufferLast[p.buffer], i)
            }
        }
        for v in graph.outputs {
            guard let p = placements[v.name] else {
                throw KiteError.invalidNode(ErrorContext(tensor: v.name), "graph output '\(v.name)' is never produced")
            }
            bufferLast[p.buffer] = end
        }
        for (buffer, _) in constants { bufferLast[buffer] = end }
        // A value read after its buffer was planned keeps the buffer alive until its last reader.
        for (name, p) in placements {
            if let last = lastReader[name] { bufferLast[p.buffer] = max(bufferLast[p.buffer], last) }
        }
    }

    /// Picks a kernel for one node, appends its step and returns its outputs' placements.
    mutating func planNode(index: Int, node: NativeNode, inputs: [Placement]) throws -> [Placement] {
        if let outputs = try planDataMovement(index: index, node: node, inputs: inputs) { return outputs }
        var inputs = inputs
        if case .conv = node.op {
            // planConvolution reads channel maps where it can and materializes the rest.
        } else if case .scaleShift(let s) = node.op, let x = inputs.first, x.nhwc, let map = x.channelMap,
                  s.scale.count == map.count, s.shift.count == map.count, let name = node.outputs.first {
            return [planGatheredScaleShift(index: index, node: node, scaleShift: s, input: x, map: map, output: name)]
        } else {
            for i in inputs.indices where inputs[i].channelMap != nil { inputs[i] = materialize(inputs[i], at: index, node: node) }
        }
        if let outputs = try planFast(index: index, node: node, inputs: inputs) { return outputs }
        return try planReference(index: index, node: node, inputs: inputs, reason: "no fast kernel for this case")
    }

    /// The general fallback: the op's reference implementation over NCHW copies.
    mutating func planReference(index: Int, node: NativeNode, inputs: [Placement], reason: String) throws -> [Placement] {
        let shapes = try node.op.nativeOperator.inferShapes(inputs.map(\.shape))
        if case .constant(let c) = node.op {
            let p = allocate(c.value.shape, at: 0)
            bufferFirst[p.buffer] = 0
            constants.append((p.buffer, Tensor(shape: c.value.shape, floats: Placement.nhwcOrder(c.value.floats, p))))
            return [p]
        }
        var outputs: [Placement] = []
        for (name, shape) in zip(node.outputs, shapes) { outputs.append(place(output: name, shape: shape, at: index)) }
        let op = node.op
        let ins = inputs
        addStep(index: index, node: node, kernel: "reference", reason: reason) { exec in
            { [unowned exec] in
                let tensors = ins.map { Tensor(shape: $0.shape, floats: LayoutCopy.read($0, from: exec.pointer(buffer: $0.buffer))) }
                let results = try op.nativeOperator.reference(tensors)
                for (r, p) in zip(results, outputs) {
                    r.floats.withUnsafeBufferPointer { LayoutCopy.write($0, to: p, base: exec.pointer(buffer: p.buffer)) }
                }
            }
        }
        return outputs
    }

    mutating func addStep(index: Int, node: NativeNode, kernel: String, reason: String, absorbing absorbed: [Int] = [],
                          _ make: @escaping (Executor) -> () throws -> Void) {
        var info = StepInfo(nodeIndex: index, nodeName: node.name, opType: node.op.typeName, kernel: kernel, reason: reason)
        info.absorbedNodes = absorbed
        steps.append(PlannedStep(info: info, makeBody: make))
    }
}

extension Placement {
    /// Reorders NCHW values into this placement's storage order (dense placements only).
    static func nhwcOrder(_ values: [Float], _ p: Placement) -> [Float] {
        guard p.nhwc else { return values }
        var out = [Float](repeating: 0, count: p.bufferElements)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                LayoutCopy.write(src, to: p, base: dst.baseAddress!)
            }
        }
        return out
    }
}
