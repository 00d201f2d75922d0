import KiteCore
import Foundation
import KiteKernels

/// Channel split, concat, shuffle, gather and reshape over NHWC placements: views where
/// the bytes are already where they need to be, strided copies otherwise.
extension Planner {
    /// Inputs of channel concats that their producers can write in place: 4-D, produced by a
    /// node (not a graph input), read only by this concat. The concat copies its other inputs
    /// (a dense block's running concat is also read by the next layer, so only the new layer's
    /// output is written in place). Returns input value -> (concat node index, channel offset).
    func concatSlots() -> [String: (concat: Int, offset: Int)] {
        var producers: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { for o in n.outputs { producers[o] = i } }
        var slots: [String: (concat: Int, offset: Int)] = [:]
        for (i, n) in graph.nodes.enumerated() {
            guard case .concat(let c) = n.op, !n.outputs.isEmpty, let outShape = graph.shapes[n.outputs[0]], outShape.count == 4,
                  c.axis == 1 || c.axis == -3, !graphOutputs.contains(n.outputs[0]),
                  Set(n.inputs).count == n.inputs.count,
                  n.inputs.allSatisfy({ graph.shapes[$0]?.count == 4 }) else { continue }
            var offset = 0
            for (k, input) in n.inputs.enumerated() {
                let channels = graph.shapes[input]?[1] ?? 0
                // A chain's first input may have other readers: the chain's buffer holds it unchanged.
                let chainStart = k == 0 && chains[i]?.root == i
                if producers[input] != nil, readers[input] == 1 || chainStart, !graphOutputs.contains(input), slots[input] == nil {
                    slots[input] = (i, offset)
                }
                offset += channels
            }
        }
        return slots
    }

    /// Chains of channel concats that each extend the one before (a dense block: `c_k =
    /// concat(c_{k-1}, y_k)`): every concat of a chain is the leading channels of one buffer as wide
    /// as the chain's last concat, so `c_{k-1}` is already in place in `c_k` and only `y_k` is
    /// written (by its producer, when `concatSlots` gave it a slot). Before, each layer copied
    /// the whole running concat: CondenseNet's 36 copies took 2.1 of 37 ms at 1 thread. A concat
    /// extends `c` only when it is the one concat that takes `c` first (two would write their new
    /// channels over each other). Also slots the chain's first input (the block input) at offset
    /// 0 when a node produces it. Returns concat node index -> (first concat of its chain, channels).
    func concatChains() -> [Int: (root: Int, channels: Int)] {
        var concatOf: [String: Int] = [:]
        var extenders: [String: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            guard case .concat(let c) = n.op, c.axis == 1 || c.axis == -3, let out = n.outputs.first,
                  let shape = graph.shapes[out], shape.count == 4, !graphOutputs.contains(out),
                  Set(n.inputs).count == n.inputs.count, n.inputs.count >= 2,
                  n.inputs.allSatisfy({ graph.shapes[$0]?.count == 4 }) else { continue }
            concatOf[out] = i
            extenders[n.inputs[0], default: []].append(i)
        }
        var next: [Int: Int] = [:], previous: [Int: Int] = [:]
        for (value, concats) in extenders where concats.count == 1 {
            guard let j = concatOf[value] else { continue }
            next[j] = concats[0]
            previous[concats[0]] = j
        }
        var chains: [Int: (root: Int, channels: Int)] = [:]
        for root in next.keys where previous[root] == nil {
            var members = [root]
            while let n = next[members[members.count - 1]] { members.append(n) }
            // The widest member (the last in a consistent graph) sets the buffer's pixel stride.
            let channels = members.compactMap { graph.nodes[$0].outputs.first.flatMap { graph.shapes[$0]?[1] } }.max() ?? 0
            for m in members { chains[m] = (root, channels) }
        }
        return chains
    }

    /// The buffer of a concat's output: shared by a chain (`concatChains`), created on first use.
    mutating func concatBuffer(_ concat: Int, at index: Int) -> (buffer: Int, pixelStride: Int) {
        let chain = chains[concat]
        let key = chain?.root ?? concat
        let outName = graph.nodes[concat].outputs.first ?? ""
        var shape = graph.shapes[outName] ?? [1, 1, 1, 1]
        if let chain { shape[1] = chain.channels }
        var p = Placement.dense(buffer: 0, shape: shape)
        if p.nhwc { p.pixelStride = Planner.alignedPixelStride(channels: p.channels, pixels: p.height * p.width, spreadsSets: false) }
        if let b = concatBuffers[key] { return (b, p.pixelStride) }
        let buffer = newBuffer(elements: p.bufferElements, at: index)
        concatBuffers[key] = buffer
        return (buffer, p.pixelStride)
    }

    /// The placement a node output should take: a slot of a concat buffer when planned so, else a new buffer.
    mutating func place(output name: String, shape: [Int], at index: Int) -> Placement {
        guard let slot = slots[name], let outName = graph.nodes[slot.concat].outputs.first,
              graph.shapes[outName]?.count == 4, shape.count == 4 else {
            return allocate(shape, at: index)
        }
        let (buffer, stride) = concatBuffer(slot.concat, at: index)
        // Shapes that disagree with the concat's (a malformed file) get a buffer of their own.
        guard slot.offset + shape[1] <= stride else { return allocate(shape, at: index) }
        return Placement(buffer: buffer, shape: shape, nhwc: true, channelOffset: slot.offset, pixelStride: stride)
    }

    mutating func planDataMovement(index: Int, node: NativeNode, inputs: [Placement]) throws -> [Placement]? {
        switch node.op {
        case .split(let s):
            guard let x = inputs.first, x.nhwc, s.axis == 1 || s.axis == -3 else { return nil }
            _ = try node.op.nativeOperator.inferShapes([x.shape])
            // Each piece is a view: the same pixels, a channel range of them.
            if let map = x.channelMap {
                // A split of a mapped view slices the map.
                var start = 0
                return s.sizes.map { size in
                    var p = x
                    p.shape[1] = size
                    p.channelMap = Array(map[start..<(start + size)])
                    start += size
                    return p
                }
            }
            var offset = x.channelOffset
            return s.sizes.map { size in
                var p = x
                p.shape[1] = size
                p.channelOffset = offset
                offset += size
                return p
            }
        case .concat(let c):
            guard c.axis == 1 || c.axis == -3, inputs.allSatisfy(\.nhwc), let outName = node.outputs.first else { return nil }
            let outShape = try node.op.nativeOperator.inferShapes(inputs.map(\.shape))[0]
            var out: Placement
            if concatBuffers[chains[index]?.root ?? index] != nil || chains[index] != nil {
                let (buffer, stride) = concatBuffer(index, at: index)
                out = Placement(buffer: buffer, shape: outShape, nhwc: true, channelOffset: 0, pixelStride: stride)
                if stride < outShape[1] { out = allocate(outShape, at: index) }
            } else {
                out = place(output: outName, shape: outShape, at: index)
            }
            var copies: [(Placement, Placement)] = []
            var offset = out.channelOffset
            for x in inputs {
                var dst = out
                dst.shape[1] = x.channels
                dst.channelOffset = offset
                offset += x.channels
                if !(x.buffer == dst.buffer && x.channelOffset == dst.channelOffset && x.pixelStride == dst.pixelStride
                     && x.channelMap == nil) {
                    copies.append((x, dst))
                }
            }
            if copies.isEmpty {
                addStep(index: index, node: node, kernel: "none", reason: "producers wrote their outputs into the concat buffer") { _ in {} }
                return [out]
            }
            let written = inputs.count - copies.count
            addStep(index: index, node: node, kernel: "channel-copy",
                    reason: "\(copies.count) of \(inputs.count) inputs copied into place (\(written) written in place by their producers)") { exec in
                let plans = copies.map { (src: UnsafePointer(exec.pointer($0.0)), srcStride: $0.0.pixelStride,
                                          dst: exec.pointer($0.1), dstStride: $0.1.pixelStride, channels: $0.0.channels,
                                          pixels: $0.0.batch * $0.0.height * $0.0.width) }
                let gathers = copies.map { $0.0.channelMap.map(ChannelGather.init) }
                let pool = exec.pool
                return {
                    for (p, gather) in zip(plans, gathers) {
                        if let gather {
                            gatherChannels(p.src, p.srcStride, p.dst, p.dstStride, gather, pixels: p.pixels, pool: pool)
                        } else {
                            copyChannels(p.src, p.srcStride, p.dst, p.dstStride, channels: p.channels, pixels: p.pixels, pool: pool)
                        }
                    }
                }
            }
            return [out]
        case .reshape(let r):
            guard let x = inputs.first else { return nil }
            // [N,C,1,1] <-> [N,C]: the same bytes in NHWC and row-major, so a view.
            let flat = x.nhwc && x.isDense && x.height == 1 && x.width == 1 && r.shape.count == 2 && r.shape[0] == x.batch
            if flat {
                return [Placement(buffer: x.buffer, shape: r.shape, nhwc: false, channelOffset: 0, pixelStride: 0)]
            }
            let unflat = !x.nhwc && r.shape.count == 4 && r.shape[2] == 1 && r.shape[3] == 1 && x.shape.count == 2 && r.shape[0] == x.shape[0]
            if unflat {
                return [Placement.dense(buffer: x.buffer, shape: r.shape)]
            }
            return nil
        case .channelShuffle(let s):
            guard let x = inputs.first, x.nhwc, s.groups > 0, x.channels % s.groups == 0, let name = node.outputs.first else { return nil }
            let c = x.channels
            let logical = Planner.shuffleMap(channels: c, groups: s.groups)
            let source = x.channelMap.map { m in logical.map { m[$0] } } ?? logical
            if let input = node.inputs.first, var expand = pendingPointwise[input] {
                // The grouped expansion before streams into the depthwise filter after
                // (`streamsThroughShuffle`), which reads its channels through this map.
                expand.shuffle = (index, source)
                pendingPointwise[name] = expand
                var view = x
                view.channelMap = source
                return [view]
            }
            if source == Array(0..<c) {
                // The shuffle undoes the order its input was written in (IGCv1's inverse shuffle
                // after a transposed group convolution): the result is the buffer as it is.
                var view = x
                view.channelMap = nil
                addStep(index: index, node: node, kernel: "view",
                        reason: "shuffle restores the channel order its input was stored in: nothing moves") { _ in {} }
                return [view]
            }
            if let view = foldedChannelView(index: index, node: node, input: x, map: source, what: "shuffle") { return [view] }
            let out = place(output: name, shape: x.shape, at: index)
            addStep(index: index, node: node, kernel: "channel-permute", reason: "shuffle as a per-pixel channel permutation") { exec in
                let src = UnsafePointer(exec.pointer(x))
                let dst = exec.pointer(out)
                let pixels = x.batch * x.height * x.width
                let pool = exec.pool
                let gather = ChannelGather(source)
                return { gatherChannels(src, x.pixelStride, dst, out.pixelStride, gather, pixels: pixels, pool: pool) }
            }
            return [out]
        case .gather(let g):
            guard let x = inputs.first, x.nhwc, g.axis == 1 || g.axis == -3, g.indicesShape.count == 1,
                  let name = node.outputs.first else { return nil }
            let c = x.channels
            let logical = g.indices.map { $0 < 0 ? $0 + c : $0 }
            guard logical.allSatisfy({ $0 >= 0 && $0 < c }) else { return nil }
            let source = x.channelMap.map { m in logical.map { m[$0] } } ?? logical
            var shape = x.shape
            shape[1] = source.count
            var view = x
            view.shape = shape
            if let v = foldedChannelView(index: index, node: node, input: view, map: source, what: "index select") { return [v] }
            let out = place(output: name, shape: shape, at: index)
            addStep(index: index, node: node, kernel: "channel-gather", reason: "index select on channels as a per-pixel gather") { exec in
                let src = UnsafePointer(exec.pointer(x))
                let dst = exec.pointer(out)
                let pixels = x.batch * x.height * x.width
                let pool = exec.pool
                let gather = ChannelGather(source)
                return { gatherChannels(src, x.pixelStride, dst, out.pixelStride, gather, pixels: pixels, pool: pool) }
            }
            return [out]
        default:
            return nil
        }
    }
}

extension Planner {
    /// Source channel of each output channel of a shuffle of `channels` in `groups`: output
    /// channel j*g + i takes input channel i*(C/g) + j.
    static func shuffleMap(channels c: Int, groups: Int) -> [Int] {
        let perGroup = c / groups
        return (0..<c).map { oc in (oc % groups) * perGroup + oc / groups }
    }

    /// The output of a shuffle or index select as a view of its input through `map`, when every
    /// reader down the line reads channel maps (see ChannelMaps.swift); nil to copy instead.
    mutating func foldedChannelView(index: Int, node: NativeNode, input x: Placement, map: [Int], what: String) -> Placement? {
        guard let name = node.outputs.first, node.outputs.count == 1, slots[name] == nil,
              channelMapFlows(name, bijective: map.count == x.channels && isPermutation(map), map: map) else { return nil }
        var view = x
        view.channelMap = map
        addStep(index: index, node: node, kernel: "view", reason: "\(what) folded into its readers, which read channels through the permutation") { _ in {} }
        return view
    }
}

/// Copies `channels` floats per pixel between strided NHWC buffers (pixels split over the pool's
/// threads when there is enough to move).
func copyChannels(_ src: UnsafePointer<Float>, _ srcStride: Int, _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int,
                  channels: Int, pixels: Int, pool: WorkerPool? = nil) {
    let parts = movementParts(pool, floats: channels * pixels)
    if parts == 1 {
        for p in 0..<pixels { (dst + p * dstStride).update(from: src + p * srcStride, count: channels) }
        return
    }
    pool?.parallelFor(count: parts) { t in
        for p in WorkerPool.partition(0..<pixels, parts: parts, index: t) {
            (dst + p * dstStride).update(from: src + p * srcStride, count: channels)
        }
    }
}

/// A per-pixel channel gather planned once: dst[pixel][j] = src[pixel][source[j]].
struct ChannelGather {
    let source: [Int]
    /// Set when `source` interleaves two channel runs (`interleavedRuns`).
    let runs: (first: Int, second: Int)?

    init(_ source: [Int]) {
        self.source = source
        runs = interleavedRuns(source)
    }
}

/// `(a, b)` when `map` interleaves two channel runs, `map[2i] = a + i` and `map[2i + 1] = b + i`:
/// the first half of a two-group channel shuffle (ShuffleNetV2's passed-through half).
func interleavedRuns(_ map: [Int]) -> (first: Int, second: Int)? {
    guard map.count >= 2, map.count % 2 == 0 else { return nil }
    let (a, b) = (map[0], map[1])
    for i in 0..<(map.count / 2) where map[2 * i] != a + i || map[2 * i + 1] != b + i { return nil }
    return (a, b)
}

/// Runs `gather` (pixels split over the pool's threads when there is enough to move).
func gatherChannels(_ src: UnsafePointer<Float>, _ srcStride: Int, _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int,
                    _ gather: ChannelGather, pixels: Int, pool: WorkerPool? = nil) {
    let parts = movementParts(pool, floats: gather.source.count * pixels)
    func run(_ range: Range<Int>) {
        if let runs = gather.runs {
            interleaveChannels(src, srcStride, dst, dstStride, first: runs.first, second: runs.second,
                               pairs: gather.source.count / 2, pixels: range)
            return
        }
        gather.source.withUnsafeBufferPointer { idx in
            let n = idx.count
            for p in range {
                let s = src + p * srcStride
                let d = dst + p * dstStride
                for j in 0..<n { d[j] = s[idx[j]] }
            }
        }
    }
    if parts == 1 {
        run(0..<pixels)
        return
    }
    pool?.parallelFor(count: parts) { t in run(WorkerPool.partition(0..<pixels, parts: parts, index: t)) }
}

/// dst[pixel][2i] = src[pixel][first + i], dst[pixel][2i + 1] = src[pixel][second + i] for i < pairs,
/// eight pairs a step from two 8-lane loads (the element-wise gather moved about 2.6 floats a ns).
func interleaveChannels(_ src: UnsafePointer<Float>, _ srcStride: Int, _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int,
                        first: Int, second: Int, pairs: Int, pixels: Range<Int>) {
    for p in pixels {
        let a = src + p &* srcStride + first
        let b = src + p &* srcStride + second
        let d = dst + p &* dstStride
        var i = 0
        while i + 8 <= pairs {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            let o = UnsafeMutableRawPointer(d + 2 &* i)
            o.storeBytes(of: SIMD8<Float>(x[0], y[0], x[1], y[1], x[2], y[2], x[3], y[3]), as: SIMD8<Float>.self)
            (o + 32).storeBytes(of: SIMD8<Float>(x[4], y[4], x[5], y[5], x[6], y[6], x[7], y[7]), as: SIMD8<Float>.self)
            i += 8
        }
        while i < pairs {
            d[2 &* i] = a[i]
            d[2 &* i &+ 1] = b[i]
            i += 1
        }
    }
}

/// Threads worth waking for a copy of `floats` values: one below `movementSplitFloats`.
func movementParts(_ pool: WorkerPool?, floats: Int) -> Int {
    guard let pool, pool.threadCount > 1, floats >= movementSplitFloats else { return 1 }
    return pool.threadCount
}

/// Floats from which a copy or gather splits across threads, by pixels as their producers split, so
/// that each core copies what it wrote (`KITE_MOVEMENT_SPLIT` for A/B runs). From 32K floats, on a
/// Xeon at 2 threads, ShuffleNetV2 1.0's 14x14 concat copies (11K floats) ran on one thread and
/// read the half the other core had written from its L2 across the mesh: 0.084 ms in all, 0.027
/// split; the network's op sum 1.73 -> 1.62-1.64 ms.
let movementSplitFloats = environmentCount("KITE_MOVEMENT_SPLIT") ?? 4096
