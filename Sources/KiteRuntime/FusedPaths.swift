import Foundation
import KiteCore
import KiteKernels

/// A pointwise convolution planned into the depthwise convolution that alone reads its output.
struct PendingPointwise {
    var node: Int
    var input: Placement
    var weights: ExpansionWeights
    var activation: KernelActivation
    var offsets: IndexTable?
    /// The channel shuffle between a grouped expansion and its depthwise convolution (IGCv3's
    /// blocks): the shuffle's node, and the map through which the depthwise reads the expansion.
    var shuffle: (node: Int, map: [Int])? = nil
}

/// The weights of a streamed 1x1 expansion.
enum ExpansionWeights {
    /// A dense 1x1 convolution: one GEMM over the band's pixels.
    case dense(PackedGEMMWeights)
    /// A grouped 1x1 convolution: `Im2colConv` over the band's rows of this (pointwise) geometry.
    case grouped(PackedConvWeights, ConvGeometry)

    var kernelName: String {
        switch self {
        case .dense: return "pointwise"
        case .grouped: return "group-pointwise"
        }
    }
}

/// A depthwise convolution (with its expansion, if any) planned into the pointwise convolution
/// that alone reads its output.
struct PendingDepthwise {
    var node: Int
    var stage: DepthwiseStage
    var expand: PendingPointwise?
}

/// A stem convolution planned into the max pool that alone reads its output.
struct PendingStem {
    var node: Int
    var input: Placement
    var geometry: ConvGeometry
    var weights: StemWeights
    var activation: KernelActivation
}

/// The kernel of a stem convolution pooled as its rows are computed.
enum StemWeights: Sendable {
    /// `StemConv` (16- or 8-lane tiles).
    case direct(PackedConvWeights)
    /// `PolyphaseWinogradConv` (7x7 stride 2 with the 8-lane kernels), reading pixels `inputPixelStride` apart.
    case polyphase(PackedPolyphaseWeights, inputPixelStride: Int)
}

struct DepthwiseStage {
    /// The depthwise input when there is no expansion.
    var input: Placement
    var geometry: ConvGeometry
    var weights: PackedDepthwiseWeights
    var activation: KernelActivation
    var channels: Int
    var kernelName: String
}

struct ProjectStage {
    var weights: PackedGEMMWeights
    var activation: KernelActivation
    var residual: Placement?
    var outShape: [Int]
}

/// A streamed block's projection (with its depthwise convolution) planned into the max pool that
/// alone reads its output.
struct PendingPooledProjection {
    var node: Int
    var depthwise: PendingDepthwise
    var project: ProjectStage
    var dwOutShape: [Int]
}

/// The max pool of a streamed block: it pools the projection's rows band by band from a
/// per-thread buffer, so the projection's output is never stored whole.
struct PoolStage {
    /// Window over the projection's output.
    var geometry: ConvGeometry
    var outShape: [Int]
    /// The depthwise and projection nodes, absorbed into the pool's step.
    var absorbed: [Int]
}

/// Inverted-residual blocks streamed in bands of rows: the 1x1 expansion writes the rows a band
/// of depthwise output needs into a small per-thread buffer, the depthwise filter writes its band
/// into a second one, and the 1x1 projection (with the residual add) reads it from there. The
/// expanded tensors (up to 112x112x96 floats, 4.8 MB) then never go to main memory and back.
extension Planner {
    /// Bytes of an intermediate above which streaming pays: three times the core's L2 (3 MiB when
    /// the OS does not say). Measured at 1 thread, paired profiles of MobileNetV2:
    /// - Zen 4 (1 MiB L2, 32 MiB L3 shared with other guests): its 112x112x96 expansion (4.6 MiB)
    ///   streamed took 0.80-0.86 of the three ops' time; the 56x56x144 ones (1.7 MiB) 1.03-1.1, as
    ///   the band-wise GEMMs and the halo rows cost more than L3 returns.
    /// - Zen 1 (512 KiB L2, 8 MiB L3): the 56x56x144 ones streamed took 0.71-0.77 (1.80 against
    ///   2.32 ms at stride 1 with the projection, 0.89 against 1.25 at stride 2).
    /// `KITE_STREAMING_BYTES` in the environment overrides both it and `lightStreamingThresholdBytes`
    /// (for A/B measurements).
    static let streamingThresholdBytes: Int = streamingBytesFromEnvironment ?? 3 * CacheSizes.level2OrDefault

    /// The threshold for blocks whose streamed 1x1 weights are at most `lightStreamingWeightBytes`
    /// (the expansion's, or the projection's when the depthwise output is the intermediate): half
    /// the L2 on Intel cores, whose L3 is a mesh away; elsewhere `streamingThresholdBytes`.
    /// On a Xeon (family 6 model 207, 2 MiB L2, 260 MiB L3), `kite bench` at 1 thread, 6 MiB -> 1 MiB:
    /// MobileNetV2 5.62-5.75 -> 5.36-5.43 ms, MobileNetV1 8.55-8.62 -> 8.30-8.39, MobileNetV3-Large
    /// 4.64-4.74 -> 4.47-4.54; at 2 threads MobileNetV2 3.16-3.24 -> 3.08-3.18, MNASNet 3.33-3.43 ->
    /// 3.23-3.26. 2 MiB gained less, 256 KiB lost. Xception's 74x74 and 37x37 blocks, whose 1x1
    /// weights are 128-745 KiB, lost 1.2-1.9 ms each streamed, so the weights are bounded.
    static let lightStreamingThresholdBytes: Int = streamingBytesFromEnvironment
        ?? (CPUFeatures.intel ? CacheSizes.level2OrDefault / 2 : streamingThresholdBytes)

    /// Streamed 1x1 weights up to which `lightStreamingThresholdBytes` applies.
    static let lightStreamingWeightBytes = 64 * 1024

    static let streamingBytesFromEnvironment: Int? = environmentCount("KITE_STREAMING_BYTES")

    /// Weight bytes of a projection above which streaming loses: each band re-reads the weights.
    static let streamingProjectionWeightBytes = 256 * 1024
    /// Bytes of expanded rows a streamed band holds: 256 KiB, or a quarter of a larger L2.
    /// At 256 KiB, Xception's 147x147 block (64 -> 128 channels, 75 KB a row) made bands of one
    /// output row, each expanding the three rows its window reads; with a Xeon's 2 MiB L2, bands of
    /// four: the block 12.5 -> 9.9 ms at 1 thread (1 MiB: 10.9; not streamed: 11.2), 6.1 -> 5.4 at
    /// 2; MobileNetV1/V2, MNASNet and MobileNetV3-Large level. `KITE_STREAM_BAND_BYTES` overrides it.
    static let streamingBandBytes = environmentCount("KITE_STREAM_BAND_BYTES")
        ?? max(256 * 1024, CacheSizes.level2OrDefault / 4)

    /// Whether a max pool that alone reads a streamed block's projection pools its rows band by
    /// band (`PoolStage`); `KITE_STREAM_POOL=0` turns it off (A/B runs).
    static let poolsStreamedProjections = ProcessInfo.processInfo.environment["KITE_STREAM_POOL"] != "0"

    /// Whether grouped expansions stream through a shuffle into their depthwise filter
    /// (`streamsThroughShuffle`); `KITE_SHUFFLE_STREAMING=0` turns it off (A/B runs).
    static let streamsThroughShuffles = ProcessInfo.processInfo.environment["KITE_SHUFFLE_STREAMING"] != "0"

    /// `KITE_STREAMING=0` in the environment plans every op on its own (for A/B measurements).
    static let streamingEnabled = ProcessInfo.processInfo.environment["KITE_STREAMING"] != "0"

    /// The single reader of `output` (at input position 0), if the value may be streamed to it:
    /// not a graph output, not a concat slot.
    func soleStreamingReader(of output: String) -> NativeNode? {
        guard Planner.streamingEnabled, !graphOutputs.contains(output), slots[output] == nil,
              let readers = readerTable[output], readers.count == 1, readers[0].position == 0 else { return nil }
        return graph.nodes[readers[0].node]
    }

    /// Whether an intermediate of `shape` is large enough to stream, for streamed 1x1 weights of `weightBytes`.
    func streamsIntermediate(shape: [Int], weightBytes: Int) -> Bool {
        let threshold = weightBytes <= Planner.lightStreamingWeightBytes ? min(streamingThreshold, lightStreamingThreshold) : streamingThreshold
        return shape.count == 4 && shape.reduce(1, *) / max(shape[0], 1) * 4 > threshold
    }

    /// Whether a pointwise output is read only by one depthwise convolution that can compute it band by band.
    func fusesIntoDepthwise(producer: Int, output: String, shape: [Int]) -> Bool {
        guard case .conv(let expansion) = graph.nodes[producer].op,
              streamsIntermediate(shape: shape, weightBytes: 4 * expansion.weight.count),
              let node = soleStreamingReader(of: output), case .conv(let c) = node.op, node.inputs.count == 1,
              !c.residual, isDepthwise(c, channels: shape[1]), validGeometry(c) else { return false }
        return true
    }

    /// Whether a depthwise output is read only by one dense pointwise convolution (its projection).
    func fusesIntoProjection(output: String, shape: [Int]) -> Bool {
        guard let node = soleStreamingReader(of: output), case .conv(let c) = node.op,
              streamsIntermediate(shape: shape, weightBytes: 4 * c.weight.count),
              c.kernel == [1, 1], c.strides.allSatisfy({ $0 == 1 }), c.pads.allSatisfy({ $0 == 0 }), c.groups == 1,
              !isDepthwise(c, channels: shape[1]), !node.inputs.dropFirst().contains(output),
              c.outChannels * shape[1] * 4 <= Planner.streamingProjectionWeightBytes else { return false }
        if c.residual {
            // The residual must be a plain NHWC value by the time the projection is planned.
            guard node.inputs.count == 2, let r = placements[node.inputs[1]], r.nhwc, r.channelMap == nil else { return false }
        }
        return true
    }

    /// Whether the projection that alone reads the depthwise output `output` would itself stream,
    /// as an expansion, into the depthwise convolution after it (MobileNetV1's 112x112x32
    /// depthwise, its 1x1 to 64 channels and the stride-2 depthwise that reads them). The 1x1 can
    /// join only one of the two; it joins the one after it, whose input (the 1x1's output, 64
    /// channels there) is the larger intermediate when the 1x1 widens. At 1 thread on a
    /// Zen 1, the depthwise and 1x1 streamed with a plain stride-2 depthwise after them took 3.06 ms
    /// against 2.44 for a plain depthwise and the 1x1 streamed into the stride-2 one.
    func projectionStreamsIntoDepthwise(output: String) -> Bool {
        guard let readers = readerTable[output], readers.count == 1 else { return false }
        let node = graph.nodes[readers[0].node]
        guard case .conv(let c) = node.op, !c.residual, node.inputs.count == 1, let next = node.outputs.first,
              let shape = graph.shapes[next] else { return false }
        return fusesIntoDepthwise(producer: readers[0].node, output: next, shape: shape)
    }

    func validGeometry(_ c: Convolution) -> Bool {
        c.kernel.count == 2 && c.strides.count == 2 && c.pads.count == 4 && c.dilations.count == 2
            && c.pads.allSatisfy({ $0 >= 0 }) && c.strides.allSatisfy({ $0 > 0 }) && c.dilations.allSatisfy({ $0 > 0 })
    }

    func depthwiseStage(conv c: Convolution, input x: Placement, outShape: [Int]) -> DepthwiseStage {
        let channels = c.outChannels
        let (kh, kw) = (c.kernel[0], c.kernel[1])
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedDepthwiseWeights(weights: w.baseAddress!, channels: channels, kernelHeight: kh, kernelWidth: kw,
                                       bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let g = ConvGeometry(inputHeight: x.height, inputWidth: x.width, kernelHeight: kh, kernelWidth: kw,
                             strideHeight: c.strides[0], strideWidth: c.strides[1],
                             padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3],
                             dilationHeight: c.dilations[0], dilationWidth: c.dilations[1],
                             outputHeight: outShape[2], outputWidth: outShape[3])
        return DepthwiseStage(input: x, geometry: g, weights: packed, activation: c.activation.kernel, channels: channels,
                              kernelName: "depthwise\(kh)x\(kw)" + (c.strides[0] == 1 ? "" : "-s\(c.strides[0])"))
    }

    /// Plans a depthwise convolution whose input is `x`, or the expansion `expand` computes:
    /// deferred into its projection when that streams, else a streamed expand+depthwise step.
    /// Returns nil when neither applies (plain depthwise).
    mutating func planStreamingDepthwise(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                         expand: PendingPointwise?, outShape: [Int]) -> [Placement]? {
        guard let name = node.outputs.first else { return nil }
        let stage = depthwiseStage(conv: c, input: expand == nil ? x : Placement.dense(buffer: -1, shape: x.shape), outShape: outShape)
        if fusesIntoProjection(output: name, shape: outShape), expand != nil || !projectionStreamsIntoDepthwise(output: name) {
            pendingDepthwise[name] = PendingDepthwise(node: index, stage: stage, expand: expand)
            return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
        }
        guard let expand else { return nil }
        return planStreamed(index: index, node: node, expand: expand, dw: stage, project: nil, dwOutShape: outShape)
    }

    /// Whether a grouped 1x1 convolution's output is read only by a channel shuffle whose output
    /// is read only by one depthwise convolution (IGCv3's blocks), and is more than twice the
    /// streaming threshold: the expansion then streams into the depthwise filter, the shuffle
    /// folded into the filter's channel order (`planStreamedThroughShuffle`). On a Zen 3 (512 KiB
    /// L2), 1 thread, IGCv3's 112x112x96 expansion and stride-2 depthwise took 0.85-0.86 -> 0.78-0.79
    /// ms with the projection after them (three alternated profiles, medians of five to seven
    /// rounds), while its 1.6-1.8 MB intermediates (112x112x32, 56x56x144) were level or 0.02-0.06
    /// ms slower streamed; the whole network 0.99 of the time over 40 ABBA-ordered rounds (faster in
    /// 27); at 2 threads within the host's swings. `KITE_SHUFFLE_STREAMING=0` turns it off (A/B runs).
    func streamsThroughShuffle(output: String, shape: [Int]) -> Bool {
        guard Planner.streamsThroughShuffles, shape.count == 4, shape[0] > 0,
              shape.reduce(1, *) / shape[0] * 4 > 2 * streamingThreshold,
              let (groups, node, c) = soleConvThroughShuffle(of: output, shape: shape),
              !c.residual, isDepthwise(c, channels: shape[1]), validGeometry(c),
              let out = node.outputs.first, slots[out] == nil else { return false }
        return channelMapFlows(node.inputs[0], bijective: true, map: Planner.shuffleMap(channels: shape[1], groups: groups))
    }

    /// The convolution that alone reads, through a channel shuffle that alone reads `output`, that
    /// value (`conv(shuffle(output))`), with the shuffle's groups; nil for any other reader.
    func soleConvThroughShuffle(of output: String, shape: [Int]) -> (groups: Int, node: NativeNode, conv: Convolution)? {
        guard shape.count == 4, let shuffle = soleStreamingReader(of: output), case .channelShuffle(let s) = shuffle.op,
              s.groups > 1, shape[1] % s.groups == 0, shape[1] > s.groups,
              shuffle.outputs.count == 1, let shuffled = shuffle.outputs.first,
              let node = soleStreamingReader(of: shuffled), case .conv(let c) = node.op, node.inputs.count == 1 else { return nil }
        return (s.groups, node, c)
    }

    /// The depthwise convolution after a streamed grouped expansion and the shuffle between them:
    /// one step computes the expansion band by band and filters it, reading physical channel
    /// `map[j]` as channel j; the output keeps the map, like `planDepthwise` over a folded shuffle.
    mutating func planStreamedThroughShuffle(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                             expand: PendingPointwise, map: [Int], outShape: [Int]) -> [Placement] {
        let stage = depthwiseStage(conv: depthwiseCommuted(c, map: map), input: Placement.dense(buffer: -1, shape: x.shape),
                                   outShape: outShape)
        return planStreamed(index: index, node: node, expand: expand, dw: stage, project: nil, dwOutShape: outShape, outputMap: map)
    }

    /// The fused step: [expansion] -> depthwise -> [projection], band by band.
    /// With `outputMap`, the output is the depthwise output in the channel order of a folded shuffle
    /// (the depthwise filter's weights already follow it), read through that map.
    mutating func planStreamed(index: Int, node: NativeNode, expand: PendingPointwise?, dw: DepthwiseStage,
                               project: ProjectStage?, dwOutShape: [Int], pool: PoolStage? = nil,
                               outputMap: [Int]? = nil) -> [Placement] {
        let out: Placement
        if let outputMap {
            var mapped = allocate(dwOutShape, at: index)
            mapped.channelMap = outputMap
            out = mapped
        } else {
            out = place(output: node.outputs.first ?? "", shape: pool?.outShape ?? project?.outShape ?? dwOutShape, at: index)
        }
        let g = dw.geometry
        let channels = dw.channels
        let x = expand?.input ?? dw.input
        // The expansion's input is read here, not at the expansion's own node.
        if x.buffer >= 0 { bufferLast[x.buffer] = max(bufferLast[x.buffer], index) }
        let rowFloats = g.inputWidth * channels
        let outRowFloats = g.outputWidth * channels
        let window = (g.kernelHeight - 1) * g.dilationHeight + 1
        // `streamingBandBytes` of expanded rows (or 128 KiB of depthwise output) per band; at least one row.
        let band: Int
        if expand != nil {
            var capacityRows = max(window, Planner.streamingBandBytes / 4 / max(rowFloats, 1))
            // Rows too wide for a tile of output rows in `streamingBandBytes` (Xception's 147x147x128
            // and 74x74x256, 75 KB a row: bands of one row, each moving two rows of the overlap and
            // running the depthwise kernel row by row) get as many rows as L2 holds, up to a tile.
            // Zen 3 (512 KiB L2), 1 thread, the blocks at 256 KiB against 512 KiB (bands of 4):
            // 15.8-16.0 -> 13.8-13.9 ms and 13.7-14.3 -> 12.7-13.2.
            let tileCapacity = (DepthwiseConv.tileRows - 1) * g.strideHeight + window
            if capacityRows < tileCapacity {
                capacityRows = max(capacityRows, min(tileCapacity, CacheSizes.level2OrDefault / 4 / max(rowFloats, 1)))
            }
            let rows = max(1, (capacityRows - window) / g.strideHeight + 1)
            // Whole tiles of the depthwise kernel's four output rows.
            band = rows >= DepthwiseConv.tileRows ? rows / DepthwiseConv.tileRows * DepthwiseConv.tileRows : rows
        } else {
            band = max(1, (32 * 1024) / max(outRowFloats, 1))
        }
        let expandRows = expand == nil ? 0 : (band - 1) * g.strideHeight + window
        let expandFloats = expandRows * rowFloats
        let projectFloats = project == nil ? 0 : band * outRowFloats
        // The pool's buffer: a band of projection rows plus the rows of the window still to be pooled.
        let pooledChannels = project?.outShape[1] ?? 0
        let pooledRowFloats = g.outputWidth * pooledChannels
        let poolWindow = pool.map { ($0.geometry.kernelHeight - 1) * $0.geometry.dilationHeight + 1 } ?? 0
        let poolFloats = pool == nil ? 0 : (band + poolWindow) * pooledRowFloats
        var stages = [String]()
        var absorbed = [Int]()
        if let expand {
            stages.append(expand.weights.kernelName)
            absorbed.append(expand.node)
            if let shuffle = expand.shuffle { absorbed.append(shuffle.node) }
        }
        stages.append(dw.kernelName)
        if project != nil { stages.append("pointwise") }
        if project != nil, let pending = node.inputs.first.flatMap({ pendingDepthwise[$0] }) { absorbed.append(pending.node) }
        if let pool { stages.append("maxpool"); absorbed += pool.absorbed }
        var reason = project == nil
            ? expand?.shuffle != nil
                ? "the grouped 1x1 expansion is computed band by band into an L2-sized buffer the depthwise filter reads, never stored whole; the shuffle between them is folded into the filter's channel order"
                : "the 1x1 expansion is computed band by band into an L2-sized buffer the depthwise filter reads, never stored whole"
            : "inverted residual streamed by bands of rows: the depthwise output\(expand == nil ? "" : " and the 1x1 expansion") stay in L2-sized buffers"
        if pool != nil { reason += "; the max pool after it pools the projection's rows from a band buffer, so they are never stored whole" }
        addStep(index: index, node: node, kernel: stages.joined(separator: "+"), reason: reason, absorbing: absorbed) { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let resBase = project?.residual.map { UnsafePointer(exec.pointer($0)) }
            let rps = project?.residual?.pixelStride ?? 0
            let inImage = x.height * x.width * x.pixelStride
            let outImage = out.height * out.width * out.pixelStride
            let (ips, ops) = (x.pixelStride, out.pixelStride)
            // With a pool, threads split its output rows; each computes the projection rows its windows read.
            let work = chunks(pool?.geometry.outputHeight ?? g.outputHeight, parts: exec.threads)
            let scratch = ThreadScratch(perThread: expandFloats + projectFloats + poolFloats, threads: work.count)
            let workers = exec.pool
            let batch = x.batch
            let ow = g.outputWidth
            return {
                for b in 0..<batch {
                    let input = inBase + b * inImage
                    let output = outBase + b * outImage
                    let residual = resBase.map { $0 + b * out.height * out.width * rps }
                    workers.parallelFor(count: work.count) { t in
                        let expandBuffer = scratch.slice(t)
                        let projectBuffer = expandBuffer + expandFloats
                        let poolBuffer = projectBuffer + projectFloats
                        // Input rows [computedLo, computedHi) are in the expansion buffer, row computedLo first.
                        var computedLo = 0, computedHi = 0
                        let rows = pool.map { $0.geometry.inputRows(forOutputRows: work[t]) } ?? work[t]
                        // Projection rows [pooledLo, pooledHi) are in the pool buffer; pooled rows before nextPooled are done.
                        var pooledLo = rows.lowerBound, pooledHi = rows.lowerBound
                        var nextPooled = work[t].lowerBound
                        var o0 = rows.lowerBound
                        while o0 < rows.upperBound {
                            let o1 = min(rows.upperBound, o0 + band)
                            var dwInput = input
                            var dwStride = ips
                            if let expand {
                                let lo = max(0, min(g.inputHeight, o0 * g.strideHeight - g.padTop))
                                let hi = max(lo, min(g.inputHeight, (o1 - 1) * g.strideHeight - g.padTop + window))
                                if lo >= computedLo && lo < computedHi {
                                    // Keep the overlap with the previous band at the front of the buffer.
                                    memmove(expandBuffer, expandBuffer + (lo - computedLo) * rowFloats, (computedHi - lo) * rowFloats * 4)
                                } else {
                                    computedHi = lo
                                }
                                computedLo = lo
                                if hi > computedHi {
                                    let offsets = expand.offsets.map { UnsafePointer($0.pointer) }
                                    switch expand.weights {
                                    case .dense(let weights):
                                        let a = input + computedHi * x.width * ips
                                        let c = expandBuffer + (computedHi - computedLo) * rowFloats
                                        let rows = 0..<((hi - computedHi) * x.width)
                                        GEMM.run(a: a, lda: ips, offsets: offsets, weights: weights, c: c, ldc: channels,
                                                 activation: expand.activation, rows: rows)
                                    case .grouped(let weights, let geometry):
                                        // Output row iy goes to `expandBuffer + (iy - computedLo) * rowFloats`.
                                        Im2colConv.run(input: input, inputPixelStride: ips, geometry: geometry, weights: weights,
                                                       output: expandBuffer - computedLo * rowFloats, outputPixelStride: channels,
                                                       activation: expand.activation, outputRows: computedHi..<hi, scratch: nil,
                                                       channelMap: offsets)
                                    }
                                    computedHi = hi
                                }
                                // The depthwise kernel addresses input row iy at `base + iy * rowFloats`; only
                                // rows [lo, hi) are read for these output rows, and those are in the buffer.
                                dwInput = UnsafePointer(expandBuffer) - computedLo * rowFloats
                                dwStride = channels
                            }
                            if let project {
                                // The band's depthwise output goes to the projection buffer (addressed as rows o0..<o1).
                                DepthwiseConv.run(input: dwInput, inputPixelStride: dwStride, geometry: g, weights: dw.weights,
                                                  output: projectBuffer - o0 * outRowFloats, outputPixelStride: channels,
                                                  activation: dw.activation, outputRows: o0..<o1)
                                if let pool {
                                    // Keep the rows the next pooled rows' windows read, then add this band's.
                                    let keep = max(0, nextPooled * pool.geometry.strideHeight - pool.geometry.padTop)
                                    if keep >= pooledHi {
                                        (pooledLo, pooledHi) = (o0, o0)
                                    } else if keep > pooledLo {
                                        memmove(poolBuffer, poolBuffer + (keep - pooledLo) * pooledRowFloats,
                                                (pooledHi - keep) * pooledRowFloats * 4)
                                        pooledLo = keep
                                    }
                                    GEMM.run(a: projectBuffer, lda: channels, weights: project.weights,
                                             c: poolBuffer + (o0 - pooledLo) * pooledRowFloats, ldc: pooledChannels,
                                             activation: project.activation, rows: 0..<((o1 - o0) * ow))
                                    pooledHi = o1
                                    var ready = nextPooled
                                    while ready < work[t].upperBound && pool.geometry.inputRows(forOutputRows: ready..<(ready + 1)).upperBound <= o1 {
                                        ready += 1
                                    }
                                    if ready > nextPooled {
                                        KiteKernels.Pooling.maxPool(input: UnsafePointer(poolBuffer) - pooledLo * pooledRowFloats,
                                                                    inputPixelStride: pooledChannels, geometry: pool.geometry,
                                                                    channels: pooledChannels, output: output, outputPixelStride: ops,
                                                                    outputRows: nextPooled..<ready)
                                        nextPooled = ready
                                    }
                                } else {
                                    GEMM.run(a: projectBuffer, lda: channels, weights: project.weights,
                                             c: output + o0 * ow * ops, ldc: ops,
                                             residual: residual.map { $0 + o0 * ow * rps }, ldr: rps,
                                             activation: project.activation, rows: 0..<((o1 - o0) * ow))
                                }
                            } else {
                                DepthwiseConv.run(input: dwInput, inputPixelStride: dwStride, geometry: g, weights: dw.weights,
                                                  output: output, outputPixelStride: ops, activation: dw.activation, outputRows: o0..<o1)
                            }
                            o0 = o1
                        }
                        if let pool, nextPooled < work[t].upperBound {
                            // Windows that read no row (all padding) are left; they read nothing from the buffer.
                            KiteKernels.Pooling.maxPool(input: UnsafePointer(poolBuffer) - pooledLo * pooledRowFloats,
                                                        inputPixelStride: pooledChannels, geometry: pool.geometry,
                                                        channels: pooledChannels, output: output, outputPixelStride: ops,
                                                        outputRows: nextPooled..<work[t].upperBound)
                        }
                    }
                }
            }
        }
        return [out]
    }
}

extension ConvGeometry {
    /// Input rows that the windows of output rows `rows` read, clipped to the input.
    func inputRows(forOutputRows rows: Range<Int>) -> Range<Int> {
        guard !rows.isEmpty else { return 0..<0 }
        let lo = max(0, rows.lowerBound * strideHeight - padTop)
        let hi = min(inputHeight, (rows.upperBound - 1) * strideHeight - padTop + (kernelHeight - 1) * dilationHeight + 1)
        return lo..<max(lo, hi)
    }
}
