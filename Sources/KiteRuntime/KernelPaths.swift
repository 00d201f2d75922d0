import KiteCore
import Foundation
import KiteKernels

/// Scratch memory private to each thread of a step (im2col buffers).
final class ThreadScratch: @unchecked Sendable {
    // @unchecked: each thread index only ever touches its own slice.
    let base: UnsafeMutablePointer<Float>
    let perThread: Int
    init(perThread: Int, threads: Int) {
        self.perThread = max(perThread, 1)
        base = .allocate(capacity: self.perThread * max(threads, 1))
        base.initialize(repeating: 0, count: self.perThread * max(threads, 1))
    }
    func slice(_ t: Int) -> UnsafeMutablePointer<Float> { base + t * perThread }
    deinit { base.deallocate() }
}

extension Planner {
    func geometry(input x: Placement, kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], output: [Int]) -> ConvGeometry {
        ConvGeometry(inputHeight: x.height, inputWidth: x.width, kernelHeight: kernel[0], kernelWidth: kernel[1],
                     strideHeight: strides[0], strideWidth: strides[1],
                     padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3],
                     dilationHeight: dilations[0], dilationWidth: dilations[1],
                     outputHeight: output[2], outputWidth: output[3])
    }

    /// Any other convolution (dense KxK, group, strided 1x1): im2col chunks + GEMM per group.
    mutating func planIm2col(index: Int, node: NativeNode, conv c: Convolution, input x: Placement, residual: Placement?, outShape: [Int]) -> [Placement]? {
        guard outShape[2] > 0, outShape[3] > 0, x.channels % c.groups == 0 else { return nil }
        let g = geometry(input: x, kernel: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations, output: outShape)
        if x.channelMap == nil, c.groups == 1, c.kernel == [1, 1], c.pads.allSatisfy({ $0 == 0 }), c.dilations == [1, 1] {
            return planStridedPointwise(index: index, node: node, conv: c, input: x, residual: residual, outShape: outShape)
        }
        if x.channelMap == nil, residual == nil,
           let planned = planLaneGroups(index: index, node: node, conv: c, input: x, outShape: outShape, channelMap: nil) {
            return planned
        }
        // 7x7 stride-2 stems over 3-channel pixels take the stem tiles, whose 8-lane version beat
        // Winograd over stride-2 patches on a Zen 3: IGCv1's stem and its max pool 2.79 -> 2.63 ms
        // at 1 thread, 1.56 -> 1.35 at 2 (medians of five alternated profiles). `KITE_POLYPHASE=1`
        // prefers the Winograd path again (A/B runs).
        let stemTiles = residual == nil && x.channelMap == nil
            && StemConv.takesWholeRows(geometry: g, inputChannels: x.channels, inputPixelStride: x.pixelStride, groups: c.groups)
        if x.channelMap == nil, c.kernel.count == 2, !stemTiles || preferPolyphaseToStemTiles,
           c.weight.floats.count == c.outChannels * x.channels * c.kernel[0] * c.kernel[1],
           (c.bias?.count ?? c.outChannels) == c.outChannels,
           PolyphaseWinogradConv.isEligible(geometry: g, inputChannels: x.channels, groups: c.groups) {
            return planPolyphaseWinograd(index: index, node: node, conv: c, input: x, residual: residual, outShape: outShape,
                                         geometry: g)
        }
        if x.channelMap == nil, let dense = blockDiagonalDense(c, inputChannels: x.channels, geometry: g) {
            return planIm2col(index: index, node: node, conv: dense, input: x, residual: residual, outShape: outShape)
        }
        if x.channelMap == nil,
           WinogradConv.isEligible(geometry: g, inputChannels: x.channels, outputChannels: c.outChannels, groups: c.groups) {
            return planWinograd(index: index, node: node, conv: c, input: x, residual: residual, outShape: outShape, geometry: g)
        }
        // Measured on ResNeXt-50 and IGCv1: 1.7-2x faster than the rotated-lane kernel for 8-channel
        // groups, 5-20% faster than im2col for 16-32 channel groups on outputs 14 or more wide; on
        // 7-wide ones only with the AVX-512 tiles (0.64-0.94 of im2col's time in ResNeXt-50's layer 4).
        if x.channelMap == nil,
           GroupedBandWeights.isEligible(kernelHeight: c.kernel[0], kernelWidth: c.kernel[1], inputChannels: x.channels,
                                         outputChannels: c.outChannels, groups: c.groups),
           GroupedBandConv.isPreferred(outputWidth: g.outputWidth, groupOutputs: c.outChannels / c.groups) {
            return planGroupedBands(index: index, node: node, conv: c, input: x, residual: residual, outShape: outShape, geometry: g)
        }
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedConvWeights(weights: w.baseAddress!, outputChannels: c.outChannels, inputChannels: x.channels,
                                  kernelHeight: c.kernel[0], kernelWidth: c.kernel[1], groups: c.groups,
                                  bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let activation = c.activation.kernel
        if stemTiles, let name = node.outputs.first, soleMaxPoolReader(of: name) != nil {
            pendingStem[name] = PendingStem(node: index, input: x, geometry: g, weights: .direct(packed), activation: activation)
            // The value never exists as a whole: the max pool's step computes it band by band.
            return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
        }
        let channelMap = x.channelMap.map { IndexTable($0) }
        if residual == nil, c.groups > 1, c.kernel == [1, 1], c.strides == [1, 1], c.pads == [0, 0, 0, 0], c.dilations == [1, 1],
           let name = node.outputs.first,
           streamsThroughShuffle(output: name, shape: outShape) || feedsTransposedGroups(output: name, shape: outShape) {
            pendingPointwise[name] = PendingPointwise(node: index, input: x, weights: .grouped(packed, g), activation: activation,
                                                      offsets: channelMap)
            // The value never exists as a whole: the step after the shuffle computes it band by band.
            return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
        }
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let what = c.groups > 1 ? "group conv (g=\(c.groups))" : "dense \(c.kernel[0])x\(c.kernel[1]) conv"
        let pointwise = c.kernel == [1, 1] && c.strides == [1, 1] && c.pads == [0, 0, 0, 0]
        let how: String
        switch packed.kernelName {
        case "group-direct": how = "groups of \(x.channels / c.groups) channels vectorised across groups (rotated-lane weights)"
        case "group-pairs" where pointwise:
            how = channelMap == nil ? "pairs of 8-channel groups share 16-column GEMM tiles"
                : "pairs of 8-channel groups share 16-column GEMM tiles, reading input channels through the folded shuffle/select"
        case "group-gemm" where pointwise:
            how = channelMap == nil ? "one GEMM per group over blocks of pixels"
                : "one GEMM per group over blocks of pixels, reading input channels through the folded shuffle/select"
        default: how = "gathered windows multiplied by packed weights"
        }
        let stem = stemTiles
        let map = channelMap
        let kernel = pointwise || packed.kernelName == "group-direct" ? packed.kernelName : stem ? "stem-direct" : "im2col-gemm"
        addStep(index: index, node: node, kernel: kernel,
                reason: stem ? "\(what) over 3-channel pixels: 8-pixel tiles read each tap at a fixed offset in a zero-padded copy of each output row's window rows"
                    : "\(what): \(how)",
                rowSplitConvolution(input: x, output: out, residual: residual, outputHeight: g.outputHeight,
                                    scratchFloats: Im2colConv.scratchSize(geometry: g, weights: packed)) { i, o, r, rows, scratch in
                    // The closure holds the channel map (an IndexTable) alive for as long as the step exists.
                    Im2colConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: packed, output: o,
                                   outputPixelStride: out.pixelStride, residual: r, residualPixelStride: residual?.pixelStride ?? 0,
                                   activation: activation, outputRows: rows, scratch: scratch,
                                   channelMap: map.map { UnsafePointer($0.pointer) })
                })
        return [out]
    }

    /// A stride-2 convolution with a 5x5 to 7x7 kernel over few channels (the 7x7 stems of
    /// ResNeXt-50 and IGCv1) as Winograd over stride-2 patches (`PolyphaseWinogradConv`).
    mutating func planPolyphaseWinograd(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                        residual: Placement?, outShape: [Int], geometry g: ConvGeometry) -> [Placement] {
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedPolyphaseWeights(weights: w.baseAddress!, outputChannels: c.outChannels, inputChannels: x.channels,
                                       kernelHeight: c.kernel[0], kernelWidth: c.kernel[1],
                                       bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let activation = c.activation.kernel
        if residual == nil, let name = node.outputs.first, soleMaxPoolReader(of: name) != nil {
            pendingStem[name] = PendingStem(node: index, input: x, geometry: g,
                                            weights: .polyphase(packed, inputPixelStride: x.pixelStride), activation: activation)
            // The value never exists as a whole: the max pool's step computes it band by band.
            return [Placement.dense(buffer: newBuffer(elements: 1, at: index), shape: outShape)]
        }
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        addStep(index: index, node: node, kernel: "winograd-polyphase",
                reason: "dense \(c.kernel[0])x\(c.kernel[1]) stride-2 conv: a 3x3 conv over stride-2 patches of the input, by Winograd F(4x4,3x3) (2.4x fewer multiplies for 7x7)",
                rowSplitConvolution(input: x, output: out, residual: residual, outputHeight: g.outputHeight,
                                    scratchFloats: PolyphaseWinogradConv.scratchSize(geometry: g, weights: packed)) { i, o, r, rows, scratch in
                    PolyphaseWinogradConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: packed, output: o,
                                              outputPixelStride: out.pixelStride, residual: r,
                                              residualPixelStride: residual?.pixelStride ?? 0, activation: activation,
                                              outputRows: rows, scratch: scratch)
                })
        return [out]
    }

    /// A 3x3 stride-1 convolution of 4 groups of 4-16 inputs and 2 or 4 outputs (CondenseNet's),
    /// with the four groups side by side in the vector lanes, reading its input through
    /// `channelMap` when given. In CondenseNet at 1 thread on a Zen 1: 112x112, 8 -> 2 per group
    /// 0.72 ms against 1.52 for the dense Winograd form; 56x56, 16 -> 4 0.49 against 0.82. Nil when
    /// the kernel does not take the convolution.
    mutating func planLaneGroups(index: Int, node: NativeNode, conv c: Convolution, input x: Placement, outShape: [Int],
                                 channelMap: [Int]?) -> [Placement]? {
        guard outShape.count == 4, outShape[2] > 0, outShape[3] > 0, c.kernel == [3, 3], c.groups == 4,
              c.inChannelsPerGroup * 4 == x.channels, channelMap.map({ $0.count == x.channels }) ?? true,
              c.weight.floats.count == c.outChannels * c.inChannelsPerGroup * 9 else { return nil }
        let g = geometry(input: x, kernel: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations, output: outShape)
        guard LaneGroupConv.isEligible(geometry: g, inputChannels: x.channels, outputChannels: c.outChannels, groups: c.groups) else {
            return nil
        }
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let ci = x.channels / 4, co = c.outChannels / 4
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedLaneGroupWeights(weights: w.baseAddress!, inputsPerGroup: ci, outputsPerGroup: co,
                                       bias: c.bias == nil ? nil : b.baseAddress, channelMap: channelMap)
            }
        }
        let activation = c.activation.kernel
        let read = channelMap == nil ? "" : ", reading input channels through the folded shuffle/select"
        addStep(index: index, node: node, kernel: "group-lanes",
                reason: "group 3x3 conv (g=4, \(ci) -> \(co) channels per group): the four groups side by side in the vector lanes\(read)",
                rowSplitConvolution(input: x, output: out, residual: nil, outputHeight: g.outputHeight,
                                    scratchFloats: LaneGroupConv.scratchSize(geometry: g, weights: packed)) { i, o, _, rows, scratch in
                    LaneGroupConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: packed, output: o,
                                      outputPixelStride: out.pixelStride, activation: activation, outputRows: rows, scratch: scratch)
                })
        return [out]
    }

    /// A 3x3 group convolution with few output channels per group (CondenseNet's: 4 groups of
    /// 8 or 16 inputs and 2 or 4 outputs) as a dense convolution with block-diagonal weights, which
    /// Winograd computes. A GEMM per group runs 2- or 4-column tiles over a gathered copy of each
    /// group's windows; the dense Winograd form does groups / 2.25 times the grouped multiplies and
    /// measured 1.8x faster in CondenseNet (2.4 -> 1.3 ms at 112x112, 1.1 -> 0.64 ms at 56x56).
    func blockDiagonalDense(_ c: Convolution, inputChannels: Int, geometry g: ConvGeometry) -> Convolution? {
        guard densifies(c, inputChannels: inputChannels, geometry: g),
              c.weight.floats.count == c.outChannels * c.inChannelsPerGroup * c.kernel[0] * c.kernel[1] else { return nil }
        let cout = c.outChannels, cpg = c.inChannelsPerGroup, taps = c.kernel[0] * c.kernel[1]
        let outPerGroup = cout / c.groups
        var dense = [Float](repeating: 0, count: cout * inputChannels * taps)
        let w = c.weight.floats
        for o in 0..<cout {
            let group = o / outPerGroup
            for i in 0..<cpg {
                for t in 0..<taps {
                    dense[(o * inputChannels + group * cpg + i) * taps + t] = w[(o * cpg + i) * taps + t]
                }
            }
        }
        var d = c
        d.weight = Tensor(shape: [cout, inputChannels, c.kernel[0], c.kernel[1]], floats: dense)
        d.groups = 1
        return d
    }

    /// Whether `blockDiagonalDense` applies.
    func densifies(_ c: Convolution, inputChannels: Int, geometry g: ConvGeometry) -> Bool {
        c.groups > 1 && c.groups <= 4 && c.outChannels % c.groups == 0 && c.outChannels / c.groups < 8 && c.outChannels <= 16
            && inputChannels == c.groups * c.inChannelsPerGroup
            && WinogradConv.isEligible(geometry: g, inputChannels: inputChannels, outputChannels: c.outChannels, groups: 1)
    }

    /// A KxK convolution that reads its input through a channel permutation with the permutation
    /// moved into its weights (`W'[o][map[j]] = W[o][j]`), so the permuted input needs no copy:
    /// dense convolutions, and group convolutions `blockDiagonalDense` makes dense (CondenseNet's
    /// shuffle before its 3x3 group convolution). Nil when the convolution stays grouped.
    func absorbingPermutation(_ c: Convolution, map: [Int], inputChannels: Int, geometry g: ConvGeometry) -> Convolution? {
        guard map.count == inputChannels, isPermutation(map), c.inChannelsPerGroup * c.groups == inputChannels,
              c.weight.floats.count == c.outChannels * c.inChannelsPerGroup * c.kernel[0] * c.kernel[1] else { return nil }
        var d: Convolution
        if c.groups == 1 {
            d = c
        } else if let dense = blockDiagonalDense(c, inputChannels: inputChannels, geometry: g) {
            d = dense
        } else {
            return nil
        }
        let taps = c.kernel[0] * c.kernel[1]
        let w = d.weight.floats
        var permuted = [Float](repeating: 0, count: w.count)
        for o in 0..<d.outChannels {
            for j in 0..<inputChannels {
                for t in 0..<taps { permuted[(o * inputChannels + map[j]) * taps + t] = w[(o * inputChannels + j) * taps + t] }
            }
        }
        d.weight = Tensor(shape: d.weight.shape, floats: permuted)
        return d
    }

    /// Whether `absorbingPermutation` applies, from the graph's shapes (planning readers ahead).
    func absorbsPermutation(_ c: Convolution, inputShape: [Int], outputShape: [Int]) -> Bool {
        guard let g = geometry(c, inputShape: inputShape, outputShape: outputShape) else { return false }
        if c.groups == 1 { return true }
        return densifies(c, inputChannels: inputShape[1], geometry: g)
            || (c.groups == 4 && c.inChannelsPerGroup * 4 == inputShape[1]
                && LaneGroupConv.isEligible(geometry: g, inputChannels: inputShape[1], outputChannels: c.outChannels, groups: c.groups))
    }

    /// A convolution's geometry from the graph's NCHW shapes (planning readers ahead); nil when
    /// the shapes or attributes are not 2-D.
    func geometry(_ c: Convolution, inputShape: [Int], outputShape: [Int]) -> ConvGeometry? {
        guard inputShape.count == 4, outputShape.count == 4, c.kernel.count == 2, c.strides.count == 2, c.pads.count == 4,
              c.dilations.count == 2 else { return nil }
        return ConvGeometry(inputHeight: inputShape[2], inputWidth: inputShape[3], kernelHeight: c.kernel[0], kernelWidth: c.kernel[1],
                            strideHeight: c.strides[0], strideWidth: c.strides[1],
                            padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3],
                            dilationHeight: c.dilations[0], dilationWidth: c.dilations[1],
                            outputHeight: outputShape[2], outputWidth: outputShape[3])
    }

    /// The body of a convolution step split by output rows across threads, each thread with
    /// `scratchFloats` of its own scratch: `compute(input, output, residual, rows, scratch)` computes
    /// output rows `rows` of one image.
    func rowSplitConvolution(
        input x: Placement, output out: Placement, residual: Placement?, outputHeight: Int, scratchFloats: Int,
        _ compute: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?, Range<Int>,
                                        UnsafeMutablePointer<Float>) -> Void
    ) -> (Executor) -> () throws -> Void {
        splitConvolution(input: x, output: out, residual: residual, count: outputHeight, scratchFloats: scratchFloats, compute)
    }

    /// A convolution step whose threads split `count` units of work (output rows, or groups), each
    /// thread given its range of them and its own scratch, image by image of the batch.
    func splitConvolution(
        input x: Placement, output out: Placement, residual: Placement?, count: Int, scratchFloats: Int,
        _ compute: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?, Range<Int>,
                                        UnsafeMutablePointer<Float>) -> Void
    ) -> (Executor) -> () throws -> Void {
        { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let resBase = residual.map { UnsafePointer(exec.pointer($0)) }
            let inImage = x.height * x.width * x.pixelStride
            let outImage = out.height * out.width * out.pixelStride
            let work = chunks(count, parts: exec.threads)
            let scratch = ThreadScratch(perThread: scratchFloats, threads: work.count)
            let pool = exec.pool
            return {
                for b in 0..<x.batch {
                    let i = inBase + b * inImage
                    let o = outBase + b * outImage
                    let r = resBase.map { $0 + b * outImage }
                    pool.parallelFor(count: work.count) { t in compute(i, o, r, work[t], scratch.slice(t)) }
                }
            }
        }
    }

    /// A grouped 1x1 convolution over an input in the transposed order of a G-group shuffle
    /// (`transposedGroupsApply`): computed in that order, its output keeps the transposed order as
    /// a channel map, which the inverse shuffle after it turns back into plain order for free.
    mutating func planTransposedGroups(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                       outShape: [Int]) -> [Placement] {
        var out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                TransposedGroupConv(weights: w.baseAddress!, channels: c.outChannels, groups: c.groups,
                                    bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        out.channelMap = TransposedGroupConv.transposedMap(groupSize: packed.groupSize, groups: c.groups)
        let activation = c.activation.kernel
        if let input = node.inputs.first, let first = pendingPointwise[input], let shuffle = first.shuffle,
           case .grouped(let firstWeights, let firstGeometry) = first.weights {
            planGroupedPair(index: index, node: node, first: first, shuffleNode: shuffle.node, firstWeights: firstWeights,
                            firstGeometry: firstGeometry, second: packed, activation: activation, output: out)
            return [out]
        }
        addStep(index: index, node: node, kernel: "group-transposed",
                reason: "group conv (g=\(c.groups)) between a shuffle and its inverse: computed in the shuffled order, "
                    + "\(packed.groupSize) contiguous vectors in and out per 8 groups, neither shuffle copies") { exec in
            let i = UnsafePointer(exec.pointer(x))
            let o = exec.pointer(out)
            let ips = x.pixelStride, ops = out.pixelStride
            let work = chunks(x.batch * x.height * x.width, parts: exec.threads)
            let pool = exec.pool
            return {
                pool.parallelFor(count: work.count) { t in
                    packed.run(input: i, inputPixelStride: ips, output: o, outputPixelStride: ops,
                               activation: activation, pixels: work[t])
                }
            }
        }
        return [out]
    }

    /// Whether a grouped 1x1 convolution's output is read only by a channel shuffle whose output is
    /// read only by a transposed group convolution (`transposedGroupsApply`; IGCv2's two grouped
    /// 1x1 layers of every block), and is larger than `groupedPairThreshold`: the two then run as
    /// one step (`planGroupedPair`), and the first one's output never goes out to L3 and back.
    func feedsTransposedGroups(output: String, shape: [Int]) -> Bool {
        guard shape.count == 4, shape[0] > 0, shape.reduce(1, *) / shape[0] * 4 > groupedPairThreshold,
              let (groups, node, c) = soleConvThroughShuffle(of: output, shape: shape) else { return false }
        return transposedGroupsApply(c, input: Planner.shuffleMap(channels: shape[1], groups: groups), output: node.outputs.first)
    }

    /// Intermediate bytes (per image) above which two grouped 1x1 layers around a shuffle run as one
    /// step: the core's L2. On a Zen 3 (512 KiB L2), IGCv2 at 1 thread: `kite bench` 4.71 -> 4.50 ms
    /// (medians of 15 alternated rounds), 0.98 of the time paired over 40 ABBA-ordered rounds; its
    /// 14x14 blocks, fused too at a threshold of 0, were level or 0.01 ms slower.
    /// `KITE_GROUPED_PAIR_BYTES` overrides it, `KITE_GROUPED_PAIR=0` turns the fusion off (A/B runs).
    static let groupedPairFusionBytes: Int = ProcessInfo.processInfo.environment["KITE_GROUPED_PAIR"] == "0" ? Int.max
        : environmentCount("KITE_GROUPED_PAIR_BYTES") ?? CacheSizes.level2OrDefault

    /// A grouped 1x1 convolution (`first`, pending), the shuffle after it, and the transposed group
    /// convolution that reads it, as one step: chunks of rows of the first one's output go to a
    /// per-thread buffer of about 64 KiB, from which the second computes the same rows.
    mutating func planGroupedPair(index: Int, node: NativeNode, first: PendingPointwise, shuffleNode: Int,
                                  firstWeights: PackedConvWeights, firstGeometry g: ConvGeometry,
                                  second: TransposedGroupConv, activation: KernelActivation, output out: Placement) {
        let x = first.input
        // The first convolution's input is read here, not at its own node.
        if x.buffer >= 0 { bufferLast[x.buffer] = max(bufferLast[x.buffer], index) }
        let middle = firstWeights.outputChannels
        let width = g.outputWidth
        let chunkRows = max(1, 64 * 1024 / 4 / max(width * middle, 1))
        let offsets = first.offsets
        let firstActivation = first.activation
        addStep(index: index, node: node, kernel: firstWeights.kernelName + "+group-transposed",
                reason: "two grouped 1x1 convs around a shuffle in one step: rows of the first one's output stay in a per-thread buffer the second reads in the shuffled order",
                absorbing: [first.node, shuffleNode],
                rowSplitConvolution(input: x, output: out, residual: nil, outputHeight: g.outputHeight,
                                    scratchFloats: chunkRows * width * middle) { i, o, _, rows, scratch in
                    var r0 = rows.lowerBound
                    while r0 < rows.upperBound {
                        let r1 = min(rows.upperBound, r0 + chunkRows)
                        // Output row y of the first convolution at `chunk + y * width * middle`.
                        let chunk = scratch - r0 * width * middle
                        Im2colConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: firstWeights,
                                       output: chunk, outputPixelStride: middle, activation: firstActivation,
                                       outputRows: r0..<r1, scratch: nil, channelMap: offsets.map { UnsafePointer($0.pointer) })
                        second.run(input: UnsafePointer(chunk), inputPixelStride: middle, output: o, outputPixelStride: out.pixelStride,
                                   activation: activation, pixels: (r0 * width)..<(r1 * width))
                        r0 = r1
                    }
                })
    }

    /// Grouped KxK convolutions with 8 or more output channels per group (ResNeXt): implicit GEMMs
    /// over bands of zero-padded input rows, pixel tiles outside and groups inside.
    mutating func planGroupedBands(index: Int, node: NativeNode, conv c: Convolution, input x: Placement, residual: Placement?,
                                   outShape: [Int], geometry g: ConvGeometry) -> [Placement] {
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                GroupedBandWeights(weights: w.baseAddress!, outputChannels: c.outChannels, inputChannels: x.channels,
                                   kernelHeight: c.kernel[0], kernelWidth: c.kernel[1], groups: c.groups,
                                   bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let activation = c.activation.kernel
        let how = c.outChannels / c.groups == 8 ? "pairs of 8-channel groups share 16-column GEMM tiles"
            : "one 16-column GEMM tile per group panel"
        let scratchFloats = GroupedBandConv.scratchSize(geometry: g, inputChannels: x.channels, weights: packed)
        if GroupedBandConv.splitsByUnits(packed) {
            addStep(index: index, node: node, kernel: "group-bands",
                    reason: "group conv (g=\(c.groups)): zero-padded bands of input rows, implicit GEMM; \(how); "
                        + "weights larger than half of L2: threads split the groups, each panel pair sweeps the band's rows",
                    splitConvolution(input: x, output: out, residual: residual, count: GroupedBandConv.unitCount(packed),
                                     scratchFloats: scratchFloats) { i, o, r, units, scratch in
                        GroupedBandConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: packed, output: o,
                                            outputPixelStride: out.pixelStride, residual: r, residualPixelStride: residual?.pixelStride ?? 0,
                                            activation: activation, outputRows: 0..<g.outputHeight, units: units, scratch: scratch)
                    })
            return [out]
        }
        addStep(index: index, node: node, kernel: "group-bands",
                reason: "group conv (g=\(c.groups)): zero-padded bands of input rows, implicit GEMM; \(how)",
                rowSplitConvolution(input: x, output: out, residual: residual, outputHeight: g.outputHeight,
                                    scratchFloats: scratchFloats) { i, o, r, rows, scratch in
                    GroupedBandConv.run(input: i, inputPixelStride: x.pixelStride, geometry: g, weights: packed, output: o,
                                        outputPixelStride: out.pixelStride, residual: r, residualPixelStride: residual?.pixelStride ?? 0,
                                        activation: activation, outputRows: rows, scratch: scratch)
                })
        return [out]
    }

    /// A 1x1 convolution with stride (ResNet downsampling): the strided input pixels are gathered
    /// into a dense block and multiplied in one GEMM, so the weights stream once per block of
    /// pixels rather than once per output row.
    mutating func planStridedPointwise(index: Int, node: NativeNode, conv c: Convolution, input x: Placement,
                                       residual: Placement?, outShape: [Int]) -> [Placement] {
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let cin = x.channels
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedGEMMWeights(weights: w.baseAddress!, outputChannels: c.outChannels, inputChannels: cin,
                                  bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let activation = c.activation.kernel
        let (sh, sw) = (c.strides[0], c.strides[1])
        let (oh, ow) = (outShape[2], outShape[3])
        addStep(index: index, node: node, kernel: "gather-gemm",
                reason: "strided 1x1 convolution: strided pixels gathered into a dense block, one GEMM") { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let resBase = residual.map { UnsafePointer(exec.pointer($0)) }
            let (ips, ops, rps) = (x.pixelStride, out.pixelStride, residual?.pixelStride ?? 0)
            let pixels = oh * ow
            let work = chunks(pixels, parts: exec.threads, granule: GEMM.tileRows)
            let scratch = ThreadScratch(perThread: (work.map(\.count).max() ?? 0) * cin, threads: work.count)
            let pool = exec.pool
            let batch = x.batch
            return {
                for b in 0..<batch {
                    let input = inBase + b * x.height * x.width * ips
                    let output = outBase + b * pixels * ops
                    let res = resBase.map { $0 + b * pixels * rps }
                    pool.parallelFor(count: work.count) { t in
                        let rows = work[t]
                        let a = scratch.slice(t)
                        for p in rows {
                            let (oy, ox) = (p / ow, p % ow)
                            (a + (p - rows.lowerBound) * cin).update(from: input + (oy * sh * x.width + ox * sw) * ips, count: cin)
                        }
                        GEMM.run(a: UnsafePointer(a), lda: cin, weights: packed, c: output + rows.lowerBound * ops, ldc: ops,
                                 residual: res.map { $0 + rows.lowerBound * rps }, ldr: rps, activation: activation,
                                 rows: 0..<rows.count)
                    }
                }
            }
        }
        return [out]
    }

    /// Each group's input channels in ascending order of where `map` reads them, when that makes
    /// every run of 8 of them 8 consecutive channels: the order (per group) and where each run
    /// starts. CondenseNet's shuffles before its 3x3 group convs move runs of 8-32 channels.
    func channelRuns(map: [Int], groups: Int, channels: Int) -> (orders: [[Int]], runs: [Int])? {
        guard groups > 0, map.count == channels, channels % groups == 0, (channels / groups) % 8 == 0 else { return nil }
        let cinG = channels / groups
        var orders: [[Int]] = [], runs: [Int] = []
        for g in 0..<groups {
            let order = (0..<cinG).sorted { map[g * cinG + $0] < map[g * cinG + $1] }
            for k in stride(from: 0, to: cinG, by: 8) {
                let start = map[g * cinG + order[k]]
                for j in 1..<8 where map[g * cinG + order[k + j]] != start + j { return nil }
                runs.append(start)
            }
            orders.append(order)
        }
        return (orders, runs)
    }

    /// A grouped 3x3 convolution that Winograd computes reading its input through `map` in runs
    /// of 8 channels (`WinogradConv.run(inputChannelRuns:)`), with its inputs reordered to match;
    /// nil when the map does not move whole runs, or the convolution densifies or is not Winograd's.
    func winogradReadingRuns(_ c: Convolution, map: [Int], inputChannels: Int, geometry g: ConvGeometry)
        -> (conv: Convolution, runs: [Int])? {
        guard let (orders, runs) = winogradRunOrders(c, map: map, inputChannels: inputChannels, geometry: g) else { return nil }
        let cinG = c.inChannelsPerGroup, coutG = c.outChannels / c.groups
        let w = c.weight.floats
        var reordered = [Float](repeating: 0, count: w.count)
        for o in 0..<c.outChannels {
            let order = orders[o / coutG]
            for i in 0..<cinG {
                for t in 0..<9 { reordered[(o * cinG + i) * 9 + t] = w[(o * cinG + order[i]) * 9 + t] }
            }
        }
        var d = c
        d.weight = Tensor(shape: c.weight.shape, floats: reordered)
        return (d, runs)
    }

    /// The conditions of `winogradReadingRuns` and its per-group orders and runs, without
    /// reordering the weights.
    func winogradRunOrders(_ c: Convolution, map: [Int], inputChannels: Int, geometry g: ConvGeometry)
        -> (orders: [[Int]], runs: [Int])? {
        guard c.kernel == [3, 3], !densifies(c, inputChannels: inputChannels, geometry: g),
              WinogradConv.isEligible(geometry: g, inputChannels: inputChannels, outputChannels: c.outChannels, groups: c.groups),
              c.inChannelsPerGroup * c.groups == inputChannels, c.outChannels % c.groups == 0,
              c.weight.floats.count == c.outChannels * c.inChannelsPerGroup * 9 else { return nil }
        return channelRuns(map: map, groups: c.groups, channels: inputChannels)
    }

    /// Whether `winogradReadingRuns` applies, from the graph's shapes (planning readers ahead).
    func winogradReadsRuns(_ c: Convolution, map: [Int], inputShape: [Int], outputShape: [Int]) -> Bool {
        guard let g = geometry(c, inputShape: inputShape, outputShape: outputShape) else { return false }
        return winogradRunOrders(c, map: map, inputChannels: inputShape[1], geometry: g) != nil
    }

    /// 3x3 stride-1 convolutions with enough channels: Winograd F(4x4, 3x3) (4x fewer multiplies),
    /// or F(2x2, 3x3) (2.25x) on the small maps `WinogradConv.tileSize` picks it for.
    /// `channelRuns`: the input is read through a channel map in runs of 8 (`winogradReadingRuns`).
    mutating func planWinograd(index: Int, node: NativeNode, conv c: Convolution, input x: Placement, residual: Placement?,
                               outShape: [Int], geometry g: ConvGeometry, channelRuns: [Int]? = nil) -> [Placement] {
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let tile = WinogradConv.tileSize(geometry: g, inputChannels: x.channels, outputChannels: c.outChannels, groups: c.groups)
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedWinogradWeights(weights: w.baseAddress!, outputChannels: c.outChannels, inputChannels: x.channels,
                                      groups: c.groups, bias: c.bias == nil ? nil : b.baseAddress, tile: tile)
            }
        }
        let activation = c.activation.kernel
        let batch = x.batch
        let what = c.groups > 1 ? "group 3x3 conv (g=\(c.groups))" : "dense 3x3 conv"
        let runTable = channelRuns.map { IndexTable($0) }
        let read = runTable == nil ? "" : ", reading input channels in runs of 8 through the folded shuffle"
        let form = tile == 4 ? "Winograd F(4x4,3x3), 36 GEMMs over transformed 6x6 tiles (4x fewer multiplies)"
            : "Winograd F(2x2,3x3) for a small map, 16 GEMMs over transformed 4x4 tiles (2.25x fewer multiplies)"
        addStep(index: index, node: node, kernel: "winograd-f\(tile)x3", reason: "\(what), stride 1: \(form)\(read)") { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let resBase = residual.map { UnsafePointer(exec.pointer($0)) }
            let (ips, ops, rps) = (x.pixelStride, out.pixelStride, residual?.pixelStride ?? 0)
            let inImage = x.height * x.width * ips
            let outImage = out.height * out.width * ops
            let resImage = out.height * out.width * rps
            // Whole rows of tiles per thread, so no tile is computed twice; or, when the transformed
            // filters are large (every thread would stream all of them), 16-aligned output channels
            // (dense) or whole groups (grouped).
            let byChannels = exec.threads > 1
                && WinogradConv.prefersChannelSplit(inputChannels: x.channels, outputChannels: c.outChannels, groups: c.groups,
                                                    tile: tile)
            let byGroups = exec.threads > 1
                && WinogradConv.prefersGroupSplit(inputChannels: x.channels, outputChannels: c.outChannels, groups: c.groups,
                                                  threads: exec.threads, tile: tile)
            let work = byChannels ? chunks(c.outChannels, parts: exec.threads, granule: 16)
                : byGroups ? chunks(c.groups, parts: exec.threads)
                : chunks(g.outputHeight, parts: exec.threads, granule: tile)
            let scratch = ThreadScratch(perThread: WinogradConv.scratchSize(geometry: g, weights: packed), threads: work.count)
            let pool = exec.pool
            return {
                for b in 0..<batch {
                    let i = inBase + b * inImage
                    let o = outBase + b * outImage
                    let r = resBase.map { $0 + b * resImage }
                    pool.parallelFor(count: work.count) { t in
                        WinogradConv.run(input: i, inputPixelStride: ips, geometry: g, weights: packed, output: o, outputPixelStride: ops,
                                         residual: r, residualPixelStride: rps, activation: activation,
                                         outputRows: byChannels || byGroups ? nil : work[t], outputChannels: byChannels ? work[t] : nil,
                                         groups: byGroups ? work[t] : nil,
                                         inputChannelRuns: runTable.map { UnsafePointer($0.pointer) }, scratch: scratch.slice(t))
                    }
                }
            }
        }
        return [out]
    }

    /// The max pool that alone reads `output` (at input position 0), if it can pool a stem
    /// convolution's rows as they are computed (`planPooledStem`), and the output is larger than
    /// the streaming threshold. Paired profiles at 1 thread: IGCv1's 112x112x64 stem and pool
    /// (3.2 MB between them) took 0.78-0.95 of their time fused; ShuffleNetV2's 112x112x24
    /// (1.2 MB, which L2 and L3 hold) 1.0-1.1, so it stays two steps.
    func soleMaxPoolReader(of output: String) -> NativeNode? {
        guard Planner.streamingEnabled, !graphOutputs.contains(output), slots[output] == nil, let shape = graph.shapes[output],
              shape.count == 4, shape.reduce(1, *) / max(shape[0], 1) * 4 > streamingThreshold,
              let readers = readerTable[output], readers.count == 1, readers[0].position == 0 else { return nil }
        let node = graph.nodes[readers[0].node]
        guard case .pool(let p) = node.op, p.kind == .max, validPoolGeometry(p), node.outputs.count == 1,
              let pooled = graph.shapes[node.outputs[0]], pooled.count == 4, pooled[2] > 0, pooled[3] > 0 else { return nil }
        return node
    }

    func validPoolGeometry(_ p: KiteCore.Pooling) -> Bool {
        p.kernel.count == 2 && p.strides.count == 2 && p.pads.count == 4 && p.dilations.count == 2
            && p.pads.allSatisfy({ $0 >= 0 }) && p.strides.allSatisfy({ $0 > 0 }) && p.dilations.allSatisfy({ $0 > 0 })
            && p.kernel.allSatisfy({ $0 > 0 })
    }

    /// A stem convolution and the max pool after it in one step (`StemConv.runPooled`).
    mutating func planPooledStem(index: Int, node: NativeNode, pool p: KiteCore.Pooling, stem: PendingStem,
                                 input x: Placement) throws -> [Placement] {
        // soleMaxPoolReader checked this node when the convolution was deferred to it.
        guard let name = node.outputs.first, let outShape = try node.op.nativeOperator.inferShapes([x.shape]).first,
              outShape.count == 4, outShape[2] > 0, outShape[3] > 0 else {
            throw KiteError.invalidNode(ErrorContext(node: node.name, opType: node.op.typeName), "max pool of a fused first convolution has no output")
        }
        let out = place(output: name, shape: outShape, at: index)
        // The convolution's input is read here, not at the convolution's own node.
        if stem.input.buffer >= 0 { bufferLast[stem.input.buffer] = max(bufferLast[stem.input.buffer], index) }
        let pg = geometry(input: x, kernel: p.kernel, strides: p.strides, pads: p.pads, dilations: p.dilations, output: outShape)
        let input = stem.input
        let (g, weights, activation) = (stem.geometry, stem.weights, stem.activation)
        let scratchFloats: Int, kernel: String
        switch weights {
        case .direct(let w):
            scratchFloats = StemConv.pooledScratchSize(geometry: g, outputChannels: w.outputChannels, pool: pg)
            kernel = "stem-direct+maxpool"
        case .polyphase(let w, _):
            scratchFloats = PolyphaseWinogradConv.pooledScratchSize(geometry: g, weights: w, pool: pg)
            kernel = "winograd-polyphase+maxpool"
        }
        addStep(index: index, node: node, kernel: kernel,
                reason: "first convolution pooled as its rows are computed: its output stays in an L2-sized band, never stored whole",
                absorbing: [stem.node]) { exec in
            let inBase = UnsafePointer(exec.pointer(input))
            let outBase = exec.pointer(out)
            let inImage = input.height * input.width * input.pixelStride
            let outImage = out.height * out.width * out.pixelStride
            let ops = out.pixelStride
            let work = chunks(pg.outputHeight, parts: exec.threads)
            let scratch = ThreadScratch(perThread: scratchFloats, threads: work.count)
            let pool = exec.pool
            return {
                for b in 0..<input.batch {
                    let i = inBase + b * inImage
                    let o = outBase + b * outImage
                    pool.parallelFor(count: work.count) { t in
                        switch weights {
                        case .direct(let w):
                            StemConv.runPooled(input: i, geometry: g, weights: w, activation: activation, pool: pg,
                                               output: o, outputPixelStride: ops, rows: work[t], scratch: scratch.slice(t))
                        case .polyphase(let w, let ips):
                            PolyphaseWinogradConv.runPooled(input: i, inputPixelStride: ips, geometry: g, weights: w,
                                                            activation: activation, pool: pg, output: o, outputPixelStride: ops,
                                                            rows: work[t], scratch: scratch.slice(t))
                        }
                    }
                }
            }
        }
        return [out]
    }

    mutating func planPooling(index: Int, node: NativeNode, pool p: KiteCore.Pooling, inputs: [Placement]) throws -> [Placement]? {
        if p.kind == .max, let input = node.inputs.first, let stem = pendingStem[input], let x = inputs.first {
            return try planPooledStem(index: index, node: node, pool: p, stem: stem, input: x)
        }
        if p.kind == .max, let input = node.inputs.first, let pending = pendingPooledProjection[input] {
            // soleMaxPoolReader checked this node when the projection was deferred to it.
            let projected = pending.project.outShape
            guard let outShape = try node.op.nativeOperator.inferShapes([projected]).first, outShape.count == 4,
                  outShape[2] > 0, outShape[3] > 0 else {
                throw KiteError.invalidNode(ErrorContext(node: node.name, opType: node.op.typeName), "max pool of a streamed block has no output")
            }
            let pg = geometry(input: Placement.dense(buffer: -1, shape: projected), kernel: p.kernel, strides: p.strides,
                              pads: p.pads, dilations: p.dilations, output: outShape)
            return planStreamed(index: index, node: node, expand: pending.depthwise.expand,
                                dw: pending.depthwise.stage, project: pending.project, dwOutShape: pending.dwOutShape,
                                pool: PoolStage(geometry: pg, outShape: outShape, absorbed: [pending.depthwise.node, pending.node]))
        }
        guard let x = inputs.first, x.nhwc, validPoolGeometry(p), let name = node.outputs.first else { return nil }
        let outShape = try node.op.nativeOperator.inferShapes([x.shape])[0]
        guard outShape[2] > 0, outShape[3] > 0 else { return nil }
        let out = place(output: name, shape: outShape, at: index)
        let g = geometry(input: x, kernel: p.kernel, strides: p.strides, pads: p.pads, dilations: p.dilations, output: outShape)
        let kind = p.kind
        let countIncludePad = p.countIncludePad
        let channels = x.channels
        addStep(index: index, node: node, kernel: kind == .max ? "maxpool" : "avgpool", reason: "windows vectorised over NHWC channels") { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let (ips, ops) = (x.pixelStride, out.pixelStride)
            let inImage = x.height * x.width * ips
            let outImage = out.height * out.width * ops
            let work = chunks(g.outputHeight, parts: exec.threads)
            let pool = exec.pool
            return {
                for b in 0..<x.batch {
                    let i = inBase + b * inImage
                    let o = outBase + b * outImage
                    pool.parallelFor(count: work.count) { t in
                        if kind == .max {
                            KiteKernels.Pooling.maxPool(input: i, inputPixelStride: ips, geometry: g, channels: channels,
                                                        output: o, outputPixelStride: ops, outputRows: work[t])
                        } else {
                            KiteKernels.Pooling.averagePool(input: i, inputPixelStride: ips, geometry: g, channels: channels,
                                                            countIncludePad: countIncludePad, output: o, outputPixelStride: ops,
                                                            outputRows: work[t])
                        }
                    }
                }
            }
        }
        return [out]
    }

    mutating func planGlobalPooling(index: Int, node: NativeNode, kind: PoolKind, inputs: [Placement]) throws -> [Placement]? {
        guard let x = inputs.first, x.nhwc, let name = node.outputs.first else { return nil }
        if case .reduceMean(let r) = node.op {
            // A mean over H and W is global average pooling ([N,C] and [N,C,1,1] have the same bytes).
            let axes = Set(r.axes.map { $0 < 0 ? $0 + 4 : $0 })
            guard axes == [2, 3] else { return nil }
        }
        let outShape = try node.op.nativeOperator.inferShapes([x.shape])[0]
        let out = place(output: name, shape: outShape, at: index)
        let channels = x.channels
        let outStride = out.nhwc ? out.pixelStride : channels
        addStep(index: index, node: node, kernel: kind == .max ? "global-maxpool" : "global-avgpool", reason: "channel sums vectorised over NHWC") { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let pixels = x.height * x.width
            let inImage = pixels * x.pixelStride
            let pool = exec.pool
            // Maps of many pixels split by pixels, as their producers split, so each thread reads
            // what it wrote: each pools its part into partials the caller combines. On one thread,
            // at 2 threads, a squeeze-excite pool read the half of its input the other core had
            // written and took up to twice its 1-thread time (MobileNetV3-Large, 28x28x120: 0.011 ->
            // 0.024 ms). Small maps (7x7, split by channels before them) stay on one thread.
            let byPixels = exec.threads > 1 && channels * pixels >= 1 << 14 && pixels >= 48 * exec.threads
            let pixelWork = chunks(pixels, parts: exec.threads)
            let partials = byPixels ? ThreadScratch(perThread: channels, threads: pixelWork.count) : nil
            let reduction: KiteKernels.Pooling.GlobalReduction = kind == .max ? .max : .sum
            return {
                for b in 0..<x.batch {
                    let input = inBase + b * inImage
                    let o = outBase + b * outStride
                    if let partials {
                        pool.parallelFor(count: pixelWork.count) { t in
                            let part = pixelWork[t]
                            KiteKernels.Pooling.globalPartialPool(reduction, input: input + part.lowerBound * x.pixelStride,
                                                                  inputPixelStride: x.pixelStride, pixels: part.count, channels: channels,
                                                                  output: partials.slice(t))
                        }
                        KiteKernels.Pooling.combinePartials(reduction, partials.base, count: pixelWork.count,
                                                            channels: channels, scale: kind == .max ? 1 : 1 / Float(pixels), output: o)
                    } else if kind == .max {
                        KiteKernels.Pooling.globalMaxPool(input: input, inputPixelStride: x.pixelStride, pixels: pixels, channels: channels, output: o)
                    } else {
                        KiteKernels.Pooling.globalAveragePool(input: input, inputPixelStride: x.pixelStride, pixels: pixels, channels: channels, output: o)
                    }
                }
            }
        }
        return [out]
    }

    mutating func planFullyConnected(index: Int, node: NativeNode, fc f: KiteCore.FullyConnected, inputs: [Placement]) throws -> [Placement]? {
        guard let x = inputs.first, f.weight.shape.count == 2, let name = node.outputs.first else { return nil }
        // Rows of K floats: a plain [M, K] value, or NHWC [M, K, 1, 1] (the same bytes when dense).
        let flatInput = (!x.nhwc && x.shape.count == 2) || (x.nhwc && x.height == 1 && x.width == 1)
        guard flatInput else { return nil }
        let outShape = try node.op.nativeOperator.inferShapes([x.shape])[0]
        guard outShape.count == 2 else { return nil }
        let (n, k) = (f.weight.shape[0], f.weight.shape[1])
        // K or N = 0 is legal ONNX (the output is the bias, or empty) but the packed kernels need a
        // non-empty weight: the reference handles it.
        guard n > 0 && k > 0 else { return nil }
        let out = place(output: name, shape: outShape, at: index)
        let packed = f.weight.floats.withUnsafeBufferPointer { w in
            (f.bias ?? []).withUnsafeBufferPointer { b in
                PackedFCWeights(weights: w.baseAddress!, outputCount: n, inputCount: k, bias: f.bias == nil ? nil : b.baseAddress)
            }
        }
        addGEMVStep(index: index, node: node, reason: "weights streamed once per batch", input: x,
                    inputStride: x.nhwc ? x.pixelStride : k, output: out, outputStride: n, rows: x.batch, weights: packed,
                    activation: f.activation.kernel, splits: n * k >= 1 << 16)
        return [out]
    }

    /// A step computing `out = act(x W^T + b)` for `rows` rows with `FullyConnected`, its outputs
    /// split across the threads when `splits`.
    mutating func addGEMVStep(index: Int, node: NativeNode, reason: String, input x: Placement, inputStride: Int,
                              output out: Placement, outputStride: Int, rows: Int, weights packed: PackedFCWeights,
                              activation: KernelActivation, splits: Bool) {
        addStep(index: index, node: node, kernel: "fc-gemv", reason: reason) { exec in
            let input = UnsafePointer(exec.pointer(x))
            let output = exec.pointer(out)
            let work = chunks(packed.outputCount, parts: splits ? exec.threads : 1, granule: 8)
            let pool = exec.pool
            return {
                pool.parallelFor(count: work.count) { t in
                    KiteKernels.FullyConnected.run(input: input, inputStride: inputStride, rows: rows, weights: packed,
                                                   output: output, outputStride: outputStride, activation: activation,
                                                   outputs: work[t])
                }
            }
        }
    }

    /// ScaleShift, activations and binary ops over NHWC (or flat) values.
    mutating func planElementwise(index: Int, node: NativeNode, inputs: [Placement]) throws -> [Placement]? {
        guard var x = inputs.first, let name = node.outputs.first else { return nil }
        var inputs = inputs
        // Commutative ops with the big operand second (scale * x in squeeze-excite): swap.
        if case .binary(let b) = node.op, b.constant == nil, b.kind == .add || b.kind == .mul, inputs.count == 2,
           inputs[0].count < inputs[1].count {
            inputs.swapAt(0, 1)
            x = inputs[0]
        }
        let outShape = try node.op.nativeOperator.inferShapes(inputs.map(\.shape))[0]
        guard outShape == x.shape else { return nil }
        // Pixels x channels view of the value: NHWC pixels, or one flat row.
        func view(_ p: Placement) -> (channels: Int, pixels: Int, stride: Int) {
            p.nhwc ? (p.channels, p.batch * p.height * p.width, p.pixelStride) : (p.count, 1, p.count)
        }
        let (channels, pixels, _) = view(x)
        enum Plan {
            case scaleShift([Float], [Float], KernelActivation)
            case activation(KernelActivation)
            case tensor(BinaryOperation, Placement, KernelActivation)
            case perChannelValue(BinaryOperation, Placement, KernelActivation)
            case perChannelConstant(BinaryOperation, [Float], KernelActivation)
            case scalar(BinaryOperation, Float, KernelActivation)
        }
        func operation(_ k: Binary.Kind) -> BinaryOperation {
            switch k {
            case .add: return .add
            case .sub: return .subtract
            case .mul: return .multiply
            case .div: return .divide
            }
        }
        let plan: Plan
        switch node.op {
        case .scaleShift(let s):
            guard x.nhwc, s.scale.count == channels, s.shift.count == channels else { return nil }
            plan = .scaleShift(s.scale, s.shift, s.activation.kernel)
        case .activation(let a):
            plan = .activation(a.activation.kernel)
        case .binary(let b):
            let op = operation(b.kind)
            if let constant = b.constant {
                guard !b.constantOnLeft || b.kind == .add || b.kind == .mul else { return nil }
                let values = constant.floats
                if values.count == 1 {
                    plan = .scalar(op, values[0], b.activation.kernel)
                } else if x.nhwc, values.count == channels, constant.shape.count >= 3, constant.shape.count <= 4,
                          constant.shape[constant.shape.count - 3] == channels {
                    plan = .perChannelConstant(op, values, b.activation.kernel)
                } else {
                    return nil
                }
            } else {
                guard inputs.count == 2 else { return nil }
                let y = inputs[1]
                if y.shape == x.shape, y.nhwc == x.nhwc {
                    plan = .tensor(op, y, b.activation.kernel)
                } else if x.nhwc, y.shape == [x.batch, channels, 1, 1], y.nhwc {
                    plan = .perChannelValue(op, y, b.activation.kernel)
                } else {
                    return nil
                }
            }
        default:
            return nil
        }
        let out = place(output: name, shape: outShape, at: index)
        let kernelName: String
        switch plan {
        case .scaleShift: kernelName = "scale-shift"
        case .activation: kernelName = "activation"
        case .tensor: kernelName = "elementwise"
        case .perChannelValue: kernelName = "channel-broadcast"
        case .perChannelConstant: kernelName = "channel-broadcast"
        case .scalar: kernelName = "scalar"
        }
        addStep(index: index, node: node, kernel: kernelName, reason: "vectorised over NHWC channels") { exec in
            let a = UnsafePointer(exec.pointer(x))
            let o = exec.pointer(out)
            let (aps, ops) = (view(x).stride, view(out).stride)
            // Pixel ranges per thread, for maps with enough work to share.
            func split(_ count: Int) -> [Range<Int>] {
                channels * count >= elementwiseSplitFloats && count > 1 ? chunks(count, parts: exec.threads) : [0..<count]
            }
            let work = split(pixels)
            let pool = exec.pool
            switch plan {
            case .scaleShift(let scale, let shift, let act):
                let box = ConstantVectors([scale, shift])
                return {
                    pool.parallelFor(count: work.count) { t in
                        Elementwise.scaleShift(input: a, inputPixelStride: aps, scale: box.pointer(0), shift: box.pointer(1),
                                               output: o, outputPixelStride: ops, channels: channels, pixels: work[t], activation: act)
                    }
                }
            case .activation(let act):
                return {
                    pool.parallelFor(count: work.count) { t in
                        Elementwise.activate(input: a, inputPixelStride: aps, output: o, outputPixelStride: ops,
                                             channels: channels, pixels: work[t], activation: act)
                    }
                }
            case .tensor(let op, let y, let act):
                let b = UnsafePointer(exec.pointer(y))
                let bps = view(y).stride
                return {
                    pool.parallelFor(count: work.count) { t in
                        Elementwise.binary(op, a: a, aPixelStride: aps, b: b, bPixelStride: bps, output: o, outputPixelStride: ops,
                                           channels: channels, pixels: work[t], activation: act)
                    }
                }
            case .perChannelValue(let op, let y, let act):
                // Split by pixels like the other cases: on one thread, at 2 threads this squeeze-excite
                // scale read the half of its input the other core had written, and took twice its
                // 1-thread time (MobileNetV3-Large, 14x14x480: 0.011 -> 0.024 ms). Split by channels on
                // 7x7 maps, as the depthwise convolutions before them split, it measured slower still
                // (7x7x960: 0.033 ms against 0.021 by pixels).
                let b = UnsafePointer(exec.pointer(y))
                let perImage = x.height * x.width
                let imageWork = split(perImage)
                return {
                    for n in 0..<x.batch {
                        pool.parallelFor(count: imageWork.count) { t in
                            Elementwise.binary(op, a: a + n * perImage * aps, aPixelStride: aps, b: b + n * y.pixelStride, bPixelStride: 0,
                                               output: o + n * perImage * ops, outputPixelStride: ops, channels: channels,
                                               pixels: imageWork[t], activation: act)
                        }
                    }
                }
            case .perChannelConstant(let op, let values, let act):
                let box = ConstantVectors([values])
                return {
                    pool.parallelFor(count: work.count) { t in
                        Elementwise.binary(op, a: a, aPixelStride: aps, b: box.pointer(0), bPixelStride: 0, output: o, outputPixelStride: ops,
                                           channels: channels, pixels: work[t], activation: act)
                    }
                }
            case .scalar(let op, let value, let act):
                return {
                    pool.parallelFor(count: work.count) { t in
                        Elementwise.scalar(op, input: a, inputPixelStride: aps, scalar: value, output: o, outputPixelStride: ops,
                                           channels: channels, pixels: work[t], activation: act)
                    }
                }
            }
        }
        return [out]
    }
}

/// Float vectors kept alive for a step's lifetime, readable through stable pointers.
final class ConstantVectors: @unchecked Sendable {
    // @unchecked: written once here, only read afterwards.
    private let storage: [UnsafeMutablePointer<Float>]
    init(_ vectors: [[Float]]) {
        storage = vectors.map { v in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(v.count, 1))
            v.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: v.count) }
            return p
        }
    }
    func pointer(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(storage[i]) }
    deinit { storage.forEach { $0.deallocate() } }
}

/// Floats from which an element-wise step splits across threads by pixels (`KITE_ELEMENTWISE_SPLIT`
/// for A/B runs). From 32K, on a Xeon at 2 threads, MobileNetV3-Small's squeeze-excite scales of
/// 14x14 maps ran on one thread and read the half of their input the other core had written:
/// its scales 0.072 -> 0.056 ms in all from 4K.
let elementwiseSplitFloats = environmentCount("KITE_ELEMENTWISE_SPLIT") ?? 4096

/// Whether 5x5-7x7 stride-2 stems that the stem tiles take run as Winograd over stride-2 patches
/// instead (`KITE_POLYPHASE=1`, A/B runs).
let preferPolyphaseToStemTiles = environmentCount("KITE_POLYPHASE") == 1

/// A non-negative integer from the environment (the A/B knobs), nil when unset or not one.
func environmentCount(_ name: String) -> Int? {
    guard let text = ProcessInfo.processInfo.environment[name], let value = Int(text), value >= 0 else { return nil }
    return value
}
