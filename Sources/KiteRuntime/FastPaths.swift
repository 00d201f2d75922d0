import KiteCore
import KiteKernels

extension Activation {
    /// The kernels' form of the activation.
    var kernel: KernelActivation {
        switch self {
        case .relu: return .relu
        case .clip(let lo, let hi): return .clip(min: lo, max: hi)
        case .leakyRelu(let a): return .leakyRelu(alpha: a)
        case .sigmoid: return .sigmoid
        case .hardSigmoid(let a, let b): return .hardSigmoid(alpha: a, beta: b)
        case .hardSwish: return .hardSwish
        }
    }
}

extension Optional where Wrapped == Activation {
    var kernel: KernelActivation { self?.kernel ?? .none }
}

/// Splits `0..<count` into `parts` contiguous ranges whose bounds are multiples of `granule`.
func chunks(_ count: Int, parts: Int, granule: Int = 1) -> [Range<Int>] {
    let units = (count + granule - 1) / granule
    let parts = max(1, min(parts, units))
    return (0..<parts).map { p in
        let lo = min(count, (units * p / parts) * granule)
        let hi = min(count, (units * (p + 1) / parts) * granule)
        return lo..<hi
    }
}

extension Planner {
    /// Plans a node on a fast kernel, or returns nil to use the reference path.
    mutating func planFast(index: Int, node: NativeNode, inputs: [Placement]) throws -> [Placement]? {
        switch node.op {
        case .conv(let c):
            return try planConvolution(index: index, node: node, conv: c, inputs: inputs)
        case .pool(let p):
            return try planPooling(index: index, node: node, pool: p, inputs: inputs)
        case .globalPool(let g):
            return try planGlobalPooling(index: index, node: node, kind: g.kind, inputs: inputs)
        case .reduceMean:
            return try planGlobalPooling(index: index, node: node, kind: .average, inputs: inputs)
        case .fullyConnected(let f):
            return try planFullyConnected(index: index, node: node, fc: f, inputs: inputs)
        case .scaleShift, .activation, .binary:
            return try planElementwise(index: index, node: node, inputs: inputs)
        default:
            return nil
        }
    }

    mutating func planConvolution(index: Int, node: NativeNode, conv original: Convolution, inputs: [Placement]) throws -> [Placement]? {
        var c = original
        guard var x = inputs.first, x.nhwc, c.kernel.count == 2, c.strides.count == 2, c.pads.count == 4, c.dilations.count == 2,
              c.pads.allSatisfy({ $0 >= 0 }), c.strides.allSatisfy({ $0 > 0 }), c.dilations.allSatisfy({ $0 > 0 }) else {
            return try planReference(index: index, node: node, inputs: inputs, reason: "no fast kernel for this convolution")
        }
        let shapes = try node.op.nativeOperator.inferShapes(inputs.map(\.shape))
        guard let outShape = shapes.first else { return nil }
        var residual = c.residual && inputs.count > 1 && inputs[1].nhwc ? inputs[1] : nil
        if c.residual && residual == nil {
            return try planReference(index: index, node: node, inputs: inputs, reason: "no fast kernel for this convolution")
        }
        if let r = residual, r.channelMap != nil { residual = materialize(r, at: index, node: node) }
        let pointwise = c.kernel == [1, 1] && c.strides == [1, 1] && c.pads == [0, 0, 0, 0] && c.groups == 1
        let depthwise = isDepthwise(c, channels: x.channels)
        if depthwise, residual == nil, let map = x.channelMap, let input = node.inputs.first,
           let expand = pendingPointwise[input], expand.shuffle != nil {
            return planStreamedThroughShuffle(index: index, node: node, conv: c, input: x, expand: expand, map: map, outShape: outShape)
        }
        if let map = x.channelMap {
            if depthwise && residual == nil && isPermutation(map) {
                return planDepthwise(index: index, node: node, conv: c, input: x, outShape: outShape, channelMap: map)
            }
            if residual == nil, transposedGroupsApply(c, input: map, output: node.outputs.first) {
                return planTransposedGroups(index: index, node: node, conv: c, input: x, outShape: outShape)
            }
            if residual == nil,
               let planned = planLaneGroups(index: index, node: node, conv: c, input: x, outShape: outShape, channelMap: map) {
                return planned
            }
            let g = geometry(input: x, kernel: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations, output: outShape)
            if let (runConv, runs) = winogradReadingRuns(c, map: map, inputChannels: x.channels, geometry: g) {
                return planWinograd(index: index, node: node, conv: runConv, input: x, residual: residual, outShape: outShape,
                                    geometry: g, channelRuns: runs)
            }
            if !convReadsChannelMap(c, channels: x.channels),
               let permuted = absorbingPermutation(c, map: map, inputChannels: x.channels,
                                                   geometry: geometry(input: x, kernel: c.kernel, strides: c.strides, pads: c.pads,
                                                                      dilations: c.dilations, output: outShape)) {
                c = permuted
                x.channelMap = nil
            }
            if x.channelMap != nil && !convReadsChannelMap(c, channels: x.channels) { x = materialize(x, at: index, node: node) }
        }
        if depthwise && residual == nil && x.channelMap == nil {
            let expand = node.inputs.first.flatMap { pendingPointwise[$0] }
            if let planned = planStreamingDepthwise(index: index, node: node, conv: c, input: x, expand: expand, outShape: outShape) {
                return planned
            }
            return planDepthwise(index: index, node: node, conv: c, input: x, outShape: outShape)
        }
        if !pointwise {
            return planIm2col(index: index, node: node, conv: c, input: x, residual: residual, outShape: outShape)
        }
        guard let name = node.outputs.first else { return nil }
        // (Empty weights, legal in a file, keep the GEMM path: the FC packing needs N, K > 0.)
        if x.height == 1 && x.width == 1 && residual == nil && x.channelMap == nil && pointwiseOnOnePixelAsGEMV
            && c.outChannels > 0 && c.inChannelsPerGroup > 0 && node.inputs.first.flatMap({ pendingDepthwise[$0] }) == nil {
            return planPointwiseAsGEMV(index: index, node: node, conv: c, input: x, output: name, outShape: outShape)
        }
        let cout = c.outChannels
        let cin = c.inChannelsPerGroup
        let weights = c.weight.floats
        let packed = weights.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedGEMMWeights(weights: w.baseAddress!, outputChannels: cout, inputChannels: cin, bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let m = x.batch * x.height * x.width
        let activation = c.activation.kernel
        let offsets = x.channelMap.map { IndexTable($0) }
        if let input = node.inputs.first, let pending = pendingDepthwise[input] {
            let project = ProjectStage(weights: packed, activation: activation, residual: residual, outShape: outShape)
            if residual == nil, Planner.poolsStreamedProjections, soleMaxPoolReader(of: name) != nil {
                pendingPooledProjection[name] = PendingPooledProjection(node: index, depthwise: pending, project: project, dwOutShape: x.shape)
                // The value never exists as a whole: the pool's step computes it band by band.
                return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
            }
            return planStreamed(index: index, node: node, expand: pending.expand, dw: pending.stage, project: project, dwOutShape: x.shape)
        }
        if residual == nil, fusesIntoDepthwise(producer: index, output: name, shape: outShape) {
            pendingPointwise[name] = PendingPointwise(node: index, input: x, weights: .dense(packed), activation: activation, offsets: offsets)
            // The value never exists as a whole: the depthwise step computes it band by band.
            return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
        }
        let out = place(output: name, shape: outShape, at: index)
        var reason = offsets == nil ? "1x1 stride-1 convolution: a GEMM over NHWC pixels"
            : "1x1 stride-1 convolution: a GEMM over NHWC pixels, reading input channels through the folded shuffle/select"
        // Split by output panels when a depthwise step that splits by channel blocks reads the
        // output and the weights are large enough that reading them all on every thread (a row
        // split) costs more than the panel split's small tiles: each thread then also writes the
        // channels its depthwise part reads (`feedsChannelSplitDepthwise`). At 2 threads,
        // alternated profiles (medians of 5), 7x7 maps: MNASNet's 192 -> 1152 expansions (885 KB
        // of weights) 0.077 -> 0.074 ms and its 5x5 depthwise layers after them 0.034 -> 0.028,
        // MobileNetV2's and MobileNetV3-Large's 160 -> 960 (614 KB) 0.056-0.072 -> 0.054-0.058 and
        // their depthwise layers 0.021-0.035 -> 0.018-0.030; MNASNet's op sum 2.88 -> 2.85 ms.
        // ShuffleNetV2 1.0's 232 -> 232 (215 KB, 15 panels) lost (0.022 -> 0.027) and keeps rows.
        let panelsForDepthwise = gemmPanelsForDepthwise && 4 * 4 * cin * cout >= CacheSizes.level2OrDefault
            && feedsChannelSplitDepthwise(output: name, shape: outShape)
        if panelsForDepthwise { reason += "; threads split it by output panels, the channels the depthwise after it splits by" }
        let serial = m * cin * cout < gemmSerialMACs
        if serial { reason += "; on one thread (too little work to share)" }
        addStep(index: index, node: node, kernel: GEMM.kernelName, reason: reason) { exec in
            let a = UnsafePointer(exec.pointer(x))
            let lda = x.pixelStride
            let cp = exec.pointer(out)
            let ldc = out.pixelStride
            let r = residual.map { UnsafePointer(exec.pointer($0)) }
            let ldr = residual?.pixelStride ?? 0
            let threads = exec.threads
            // Many rows: split rows. Few rows (7x7 maps): rows too when the weights fit L2, else output
            // panels (`splitsRows`).
            let byRows = serial || splitsRows(m: m, weightBytes: 4 * cin * cout, panels: packed.panelCount, threads: threads)
                && !panelsForDepthwise
            let work = byRows ? chunks(m, parts: serial ? 1 : threads, granule: GEMM.tileRows) : chunks(packed.panelCount, parts: threads)
            let pool = exec.pool
            return {
                // The closure holds the offset table (an IndexTable) alive for as long as the step exists.
                let o = offsets.map { UnsafePointer($0.pointer) }
                // parallelFor runs a single task on the calling thread without waking anyone.
                pool.parallelFor(count: work.count) { t in
                    GEMM.run(a: a, lda: lda, offsets: o, weights: packed, c: cp, ldc: ldc, residual: r, ldr: ldr, activation: activation,
                             rows: byRows ? work[t] : 0..<m, panels: byRows ? nil : work[t])
                }
            }
        }
        return [out]
    }
}

extension Planner {
    /// A depthwise convolution that reads physical channel `map[j]` as its channel j (a folded
    /// shuffle, `map` a permutation of the channels): channel j's taps and bias move to `map[j]`.
    func depthwiseCommuted(_ c: Convolution, map: [Int]) -> Convolution {
        let taps = c.kernel.reduce(1, *)
        let source = c.weight.floats
        var weights = source
        for (j, p) in map.enumerated() {
            for t in 0..<taps { weights[p * taps + t] = source[j * taps + t] }
        }
        var d = c
        d.weight = Tensor(shape: c.weight.shape, floats: weights)
        if let b = c.bias {
            var permuted = b
            for (j, p) in map.enumerated() { permuted[p] = b[j] }
            d.bias = permuted
        }
        return d
    }

    /// Depthwise convolution: one filter per channel, vectorised over NHWC channels.
    /// With `channelMap` (a permutation of the input's channel range), the input is a folded
    /// shuffle: per-channel filters commute with it, so physical channel `map[j]` is filtered with
    /// channel j's taps and the output keeps the map.
    mutating func planDepthwise(index: Int, node: NativeNode, conv c: Convolution, input x: Placement, outShape: [Int],
                                channelMap: [Int]? = nil) -> [Placement] {
        var out: Placement
        let commuted = channelMap.map { depthwiseCommuted(c, map: $0) } ?? c
        let weights = commuted.weight.floats
        let bias = commuted.bias
        let (kh, kw) = (c.kernel[0], c.kernel[1])
        if let map = channelMap {
            out = allocate(outShape, at: index)
            out.channelMap = map
        } else {
            out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        }
        let channels = x.channels
        let packed = weights.withUnsafeBufferPointer { w in
            (bias ?? []).withUnsafeBufferPointer { b in
                PackedDepthwiseWeights(weights: w.baseAddress!, channels: channels, kernelHeight: kh, kernelWidth: kw,
                                       bias: bias == nil ? nil : b.baseAddress)
            }
        }
        let geometry = ConvGeometry(inputHeight: x.height, inputWidth: x.width, kernelHeight: kh, kernelWidth: kw,
                                    strideHeight: c.strides[0], strideWidth: c.strides[1],
                                    padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3],
                                    dilationHeight: c.dilations[0], dilationWidth: c.dilations[1],
                                    outputHeight: outShape[2], outputWidth: outShape[3])
        let activation = c.activation.kernel
        let batch = x.batch
        // Small maps under padded 5x5 (and larger) filters: most pixels would take the clipped-window
        // path (a 7x7 map has 40 border pixels of 49), so the input is copied into a buffer with the
        // padding as zeros (written once; runs copy only the interior) and every pixel takes the
        // unclipped kernel. Measured slower for 3x3 filters and strided ones, whose borders are thin.
        // The tiled kernel (undilated 3x3 and 5x5) zero-fills borders itself.
        let padded = c.pads.contains { $0 > 0 } && kh >= 5 && kw >= 5 && c.strides == [1, 1] && outShape[2] * outShape[3] <= 14 * 14
            && !DepthwiseConv.padsInKernel(geometry)
        let paddedGeometry = ConvGeometry(inputHeight: x.height + c.pads[0] + c.pads[2], inputWidth: x.width + c.pads[1] + c.pads[3],
                                          kernelHeight: kh, kernelWidth: kw, strideHeight: c.strides[0], strideWidth: c.strides[1],
                                          padTop: 0, padLeft: 0, padBottom: 0, padRight: 0,
                                          dilationHeight: c.dilations[0], dilationWidth: c.dilations[1],
                                          outputHeight: outShape[2], outputWidth: outShape[3])
        let kernelName = "depthwise\(kh)x\(kw)" + (c.strides[0] == 1 ? "" : "-s\(c.strides[0])")
        var reason = channelMap == nil ? "groups == channels: per-channel filters vectorised over NHWC channels"
            : "groups == channels: per-channel filters vectorised over NHWC channels, commuted with the folded shuffle"
        if padded { reason += "; small map copied into a zero-padded buffer" }
        addStep(index: index, node: node, kernel: kernelName, reason: reason) { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let inImage = x.height * x.width * x.pixelStride
            let outImage = out.height * out.width * out.pixelStride
            let (ops) = (out.pixelStride)
            // Small maps at stride 1 split by channel blocks: every thread's rows would be one or two
            // bands whose halo rows are copied again (5x5 on MNASNet's 7x7x1152: 0.029-0.032 ms against
            // 0.031-0.041 by rows at 2 threads). At stride 2 by rows, as the GEMM before them splits
            // its larger map: each thread then reads the input rows its core wrote (MobileNetV2's
            // 14x14x576 -> 7x7 0.035 -> 0.024 ms, MNASNet's 5x5 0.031 -> 0.027, MobileNetV3-Large's
            // 0.035 -> 0.030, and the GEMMs after them 3-7% faster).
            let blockWork = exec.threads > 1 && !padded && DepthwiseConv.splitsByChannels(geometry, channels: channels)
                && !(depthwiseStridedRowSplit && c.strides != [1, 1])
                ? DepthwiseConv.channelBlockRanges(channels: channels, parts: exec.threads) : nil
            let work = blockWork ?? chunks(geometry.outputHeight, parts: exec.threads)
            let pool = exec.pool
            let pw = paddedGeometry.inputWidth
            let padBuffer = padded ? ThreadScratch(perThread: paddedGeometry.inputHeight * pw * channels, threads: 1) : nil
            let geometry = padded ? paddedGeometry : geometry
            let ips = padded ? channels : x.pixelStride
            // An input larger than L2 comes from L3 or memory (`DepthwiseConv.run`).
            let fromMemory = !padded && x.height * x.width * x.pixelStride * 4 > CacheSizes.level2OrDefault
            return {
                for b in 0..<batch {
                    var i = inBase + b * inImage
                    let o = outBase + b * outImage
                    if let padBuffer {
                        let dst = padBuffer.slice(0)
                        for y in 0..<x.height {
                            let row = dst + ((y + c.pads[0]) * pw + c.pads[1]) * channels
                            let src = i + y * x.width * x.pixelStride
                            if x.pixelStride == channels {
                                row.update(from: src, count: x.width * channels)
                            } else {
                                for px in 0..<x.width { (row + px * channels).update(from: src + px * x.pixelStride, count: channels) }
                            }
                        }
                        i = UnsafePointer(dst)
                    }
                    if work.count == 1 {
                        DepthwiseConv.run(input: i, inputPixelStride: ips, geometry: geometry, weights: packed,
                                          output: o, outputPixelStride: ops, activation: activation, fromMemory: fromMemory)
                    } else {
                        pool.parallelFor(count: work.count) { t in
                            DepthwiseConv.run(input: i, inputPixelStride: ips, geometry: geometry, weights: packed,
                                              output: o, outputPixelStride: ops, activation: activation,
                                              outputRows: blockWork == nil ? work[t] : nil, channelBlocks: blockWork?[t],
                                              fromMemory: fromMemory)
                        }
                    }
                }
            }
        }
        return [out]
    }
}

/// Whether a pointwise GEMM of `m` rows splits across threads by rows (else by output panels).
///
/// Rows from 48 a thread; from 16 a thread (7x7 maps) when the weights fit L2. A panel split has
/// every thread read all of A, half of which the other core wrote (the depthwise or squeeze-excite
/// step before splits by rows, pixels or channel blocks), and on a Xeon's mesh those reads cost
/// more than each thread reading all the weights. At 2 threads, alternated profiles: MobileNetV3-Small's
/// 7x7 projections (576 -> 96) 0.035 -> 0.020 ms, MNASNet's 7x7 layers 0.085 -> 0.078 (1152 -> 192)
/// and 0.143 -> 0.130 (320 -> 1280), ShuffleNetV2 1.0's 0.027 -> 0.022. With 4 MB of weights
/// (ResNeXt-50's 7x7 layers) rows were slower: 0.82 -> 0.94 ms. `KITE_GEMM_SPLIT_ROWS` overrides
/// the 16 (A/B runs). Weights larger than `gemmPanelSplitWeightBytes` split by panels at any M.
func splitsRows(m: Int, weightBytes: Int, panels: Int, threads: Int) -> Bool {
    panels < threads || (m >= 48 * threads && weightBytes <= gemmPanelSplitWeightBytes)
        || (m >= gemmSmallMapRowsPerThread * threads && weightBytes <= CacheSizes.level2OrDefault)
}

/// Weight bytes above which a GEMM splits by panels however many rows it has: eight L2s, weights
/// that stream from memory, which a row split has every thread read in full. On a Zen 3 at 2
/// threads (alternated profiles, medians of five), Xception's 10x10 layers with 6.3 and 12.6 MB
/// of weights took 1.97-1.99 -> 1.77-1.79 ms and 4.14-4.18 -> 3.67-3.72; at 2 MB (its 19x19
/// 728 -> 728 layers) the panel split gained 0.04 ms a layer but the depthwise layers after them,
/// which split by rows and then read half their input from the other core, doubled (0.088 ->
/// 0.167 ms); ResNeXt-50 level at 4 MB. `KITE_GEMM_PANEL_SPLIT_BYTES` sets it (A/B runs).
let gemmPanelSplitWeightBytes = environmentCount("KITE_GEMM_PANEL_SPLIT_BYTES") ?? 8 * CacheSizes.level2OrDefault

let gemmSmallMapRowsPerThread = environmentCount("KITE_GEMM_SPLIT_ROWS") ?? 16

/// Multiply-adds below which a pointwise GEMM runs on the calling thread alone: waking the other
/// core costs more than it saves. At 2 threads on a Xeon (alternated profiles, medians of 9), the
/// squeeze-excite layers of MobileNetV3-Small and -Large with 1.7-5.8K multiply-adds took
/// 0.0016-0.0020 ms split and 0.0006-0.0009 on one thread; those with 15K and more were level or
/// faster split. MobileNetV3-Small's op sum 0.840 -> 0.836 ms (minima of 9).
/// `KITE_GEMM_SERIAL_MACS` sets it for A/B runs (0 splits every GEMM).
let gemmSerialMACs = environmentCount("KITE_GEMM_SERIAL_MACS") ?? 8192

/// Whether 1x1 convolutions over a 1x1 map (squeeze-excite's two) run as matrix-vector products
/// (`planPointwiseAsGEMV`); `KITE_SE_GEMV=0` keeps the GEMM tiles (A/B runs).
let pointwiseOnOnePixelAsGEMV = environmentCount("KITE_SE_GEMV") != 0

extension Planner {
    /// A 1x1 convolution over a 1x1 map: one row of K floats per image against N x K weights,
    /// bound by reading the weights. The GEMM's 1-row tiles read a 16-column panel at a time, one
    /// broadcast input per 16 weights; `FullyConnected` streams four weight rows at once with K in
    /// the vector lanes, as for a classifier.
    mutating func planPointwiseAsGEMV(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                      output name: String, outShape: [Int]) -> [Placement] {
        let (n, k) = (c.outChannels, c.inChannelsPerGroup)
        // Conv weights [N, K, 1, 1] are the FC's [N, K] rows.
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedFCWeights(weights: w.baseAddress!, outputCount: n, inputCount: k, bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let out = place(output: name, shape: outShape, at: index)
        let serial = x.batch * n * k < gemmSerialMACs
        addGEMVStep(index: index, node: node,
                    reason: "1x1 convolution over a 1x1 map (squeeze-excite): a matrix-vector product streaming the weights once"
                        + (serial ? "; on one thread (too little work to share)" : ""),
                    input: x, inputStride: x.pixelStride, output: out, outputStride: out.pixelStride, rows: x.batch,
                    weights: packed, activation: c.activation.kernel, splits: !serial)
        return [out]
    }
}

/// Whether a pointwise GEMM whose output only a channel-split depthwise step reads splits by
/// output panels (`KITE_GEMM_PANELS_FOR_DW=0` for A/B runs).
let gemmPanelsForDepthwise = environmentCount("KITE_GEMM_PANELS_FOR_DW") != 0

extension Planner {
    /// Whether `output` (NCHW `shape`) is read only by a depthwise convolution that splits across
    /// threads by channel blocks (stride 1 on a map of fewer than two tile bands, see
    /// `DepthwiseConv.splitsByChannels`): a GEMM that writes it then splits by output panels, so
    /// that each thread's channels are the ones its depthwise part reads (16 panels of channels
    /// against 8-channel blocks: the halves match when the panel count is even).
    func feedsChannelSplitDepthwise(output: String, shape: [Int]) -> Bool {
        guard shape.count == 4, let readers = readerTable[output], readers.count == 1 else { return false }
        let node = graph.nodes[readers[0].node]
        guard case .conv(let c) = node.op, node.inputs.count == 1, !c.residual, isDepthwise(c, channels: shape[1]),
              validGeometry(c), c.strides == [1, 1], let next = node.outputs.first, let outShape = graph.shapes[next],
              let g = geometry(c, inputShape: shape, outputShape: outShape) else { return false }
        return DepthwiseConv.splitsByChannels(g, channels: shape[1])
    }
}

/// Whether strided depthwise layers with small outputs split by rows at 2+ threads, not by channel
/// blocks (`KITE_DW_STRIDED_ROW_SPLIT=0` for A/B runs).
let depthwiseStridedRowSplit = environmentCount("KITE_DW_STRIDED_ROW_SPLIT") != 0
