// General convolution (any kernel, stride, padding, dilation, groups) as im2col + GEMM.

/// General 2-D convolution over NHWC as GEMMs with the group's packed weights, writing straight
/// into the output slot of each group.
///
/// Output pixels whose window lies inside the input (the interior of each output row, when it
/// is at least 12 pixels wide) use an implicit im2col: the GEMM micro-kernel reads the input
/// through a per-call table of tap/channel offsets, so nothing is copied. Other pixels
/// (padding borders, narrow outputs) are gathered into a caller-provided scratch buffer (rows of
/// `KH * KW * Cin/groups` floats, ordered `(ky, kx, ci)`, zeros for padding) and multiplied with
/// `GEMM.run`.
///
/// A 1x1, stride-1, unpadded convolution (e.g. ShuffleNet's grouped pointwise convolutions)
/// skips the gather and runs the GEMM on the input channel slice of each group; with 8 output
/// channels per group and an even group count, two groups share each 16-column tile
/// (GroupPairs.swift). Groups of 2, 4 or 8 channels (in and out, C >= 8) otherwise use a direct
/// kernel vectorised across groups, which needs no scratch. (The planner sends most grouped KxK
/// convolutions with 8 or more channels per group to GroupedBandConv instead.)
public enum Im2colConv {
    /// Output pixels gathered per chunk for a reduction length of `k` floats (a multiple of 6,
    /// about 64 KiB of scratch).
    static func chunkPixels(reductionLength k: Int, outputPixels: Int) -> Int {
        let target = max(GEMM.tileRows, min(240, (16 * 1024 / max(k, 1)) / GEMM.tileRows * GEMM.tileRows))
        return min(target, outputPixels)
    }

    /// Whether `run` can read its input through a channel map for this convolution: a pointwise
    /// convolution that does not take the direct small-group kernel (which loads 8 adjacent channels).
    public static func acceptsChannelMap(geometry: ConvGeometry, inputChannels: Int, outputChannels: Int, groups: Int) -> Bool {
        isPointwise(geometry)
            && (PackedGroupPairs.isEligible(kernelHeight: 1, kernelWidth: 1, outputChannels: outputChannels, groups: groups)
                || !RotatedGroupWeights.isEligible(inputChannels: inputChannels, outputChannels: outputChannels, groups: groups))
    }

    /// Whether the convolution is a plain (possibly grouped) 1x1 GEMM with no gather.
    static func isPointwise(_ g: ConvGeometry) -> Bool {
        g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
            && g.outputHeight == g.inputHeight && g.outputWidth == g.inputWidth
    }

    /// Scratch floats one call of `run` needs (whatever its row range); 0 for pointwise convolutions.
    /// Concurrent calls need separate scratch buffers.
    public static func scratchSize(geometry: ConvGeometry, weights: PackedConvWeights) -> Int {
        if isPointwise(geometry) || weights.rotated != nil { return 0 }
        if StemConv.takesWholeRows(geometry: geometry, inputChannels: weights.inputChannels, inputPixelStride: 3, groups: weights.groups) {
            // Either path may run (a residual keeps the gathered one): enough for both.
            let k = weights.reductionLength
            return max(StemConv.scratchSize(geometry: geometry),
                       chunkPixels(reductionLength: k, outputPixels: geometry.outputHeight * geometry.outputWidth) * k)
        }
        let k = weights.reductionLength
        return chunkPixels(reductionLength: k, outputPixels: geometry.outputHeight * geometry.outputWidth) * k
    }

    /// Computes output rows `outputRows` of `output = act(conv(input, weights) + bias + residual)`.
    ///
    /// - Parameters:
    ///   - input: NHWC input, pixel (y, x) channel c at `input[(y * W + x) * inputPixelStride + c]`.
    ///   - inputPixelStride: floats between consecutive input pixels (>= Cin).
    ///   - geometry: spatial geometry (kernel size must match the weights).
    ///   - weights: packed per-group weights and bias.
    ///   - output: NHWC output, pixel (y, x) at `output + (y * OW + x) * outputPixelStride`; must not alias the input.
    ///   - outputPixelStride: floats between consecutive output pixels (>= Cout).
    ///   - residual: optional tensor (same shape as the output) added before the activation.
    ///   - residualPixelStride: floats between consecutive residual pixels.
    ///   - activation: fused activation.
    ///   - outputRows: output rows to compute (threads split by rows); defaults to all.
    ///   - scratch: at least `scratchSize(geometry:weights:)` floats, private to this call.
    ///   - channelMap: when set, input channel j is read from `input[pixel * inputPixelStride + channelMap[j]]`
    ///     (a permuted or index-selected view); only for pointwise convolutions without the direct
    ///     group kernel (see `acceptsChannelMap`).
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        geometry: ConvGeometry, weights: PackedConvWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        residual: UnsafePointer<Float>? = nil, residualPixelStride: Int = 0,
        activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil,
        scratch: UnsafeMutablePointer<Float>?,
        channelMap: UnsafePointer<Int>? = nil
    ) {
        let g = geometry
        precondition(g.kernelHeight == weights.kernelHeight && g.kernelWidth == weights.kernelWidth,
                     "geometry kernel does not match the packed weights")
        let rows = outputRows ?? 0..<g.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= g.outputHeight, "rows out of range")
        if rows.isEmpty { return }
        let cin = weights.inputChannelsPerGroup, cout = weights.outputChannelsPerGroup
        let p0 = rows.lowerBound * g.outputWidth, p1 = rows.upperBound * g.outputWidth
        if let pairs = weights.pairs, isPointwise(g) {
            activation.visit(GroupPairArguments(input: input, ips: inputPixelStride, channelMap: channelMap, pairs: pairs,
                                                inputChannelsPerGroup: cin, output: output, ops: outputPixelStride,
                                                residual: residual, rps: residualPixelStride, pixels: p0..<p1))
            return
        }
        if let channelMap {
            precondition(isPointwise(g) && weights.rotated == nil, "a channel map needs a pointwise group GEMM")
            let block = max(48, (32768 / max(inputPixelStride + outputPixelStride, 1)) / 12 * 12)
            var m = p0
            while m < p1 {
                let m1 = min(p1, m + block)
                for gi in 0..<weights.groups {
                    GEMM.run(a: input, lda: inputPixelStride, offsets: channelMap + gi * cin, weights: weights.groupWeights[gi],
                             c: output + gi * cout, ldc: outputPixelStride,
                             residual: residual.map { $0 + gi * cout }, ldr: residualPixelStride,
                             activation: activation, rows: m..<m1)
                }
                m = m1
            }
            return
        }
        if let rotated = weights.rotated {
            activation.visit(GroupedConvArguments(input: input, ips: inputPixelStride, g: g, w: rotated,
                                                  output: output, ops: outputPixelStride, residual: residual,
                                                  rps: residualPixelStride, rows: rows))
            return
        }
        if isPointwise(g) {
            // Pixel blocks outside, groups inside: a block's input and output rows stay in L1/L2
            // while every group reads its channel slice (group-outer order would stream the
            // whole input from memory once per group).
            let block = max(48, (32768 / max(inputPixelStride + outputPixelStride, 1)) / 12 * 12)
            var m = p0
            while m < p1 {
                let m1 = min(p1, m + block)
                for gi in 0..<weights.groups {
                    GEMM.run(a: input + gi * cin, lda: inputPixelStride, weights: weights.groupWeights[gi],
                             c: output + gi * cout, ldc: outputPixelStride,
                             residual: residual.map { $0 + gi * cout }, ldr: residualPixelStride,
                             activation: activation, rows: m..<m1)
                }
                m = m1
            }
            return
        }
        guard let scratch else { preconditionFailure("Im2colConv.run needs scratch for this geometry") }
        if residual == nil
            && StemConv.takesWholeRows(geometry: g, inputChannels: cin, inputPixelStride: inputPixelStride, groups: weights.groups) {
            StemConv.run(input: input, geometry: g, weights: weights.groupWeights[0], output: output, outputPixelStride: outputPixelStride,
                         activation: activation, rows: rows, patch: scratch)
            return
        }
        let k = weights.reductionLength
        let chunk = chunkPixels(reductionLength: k, outputPixels: g.outputHeight * g.outputWidth)
        // Gathers pixels into scratch and multiplies, chunk by chunk (padding and narrow outputs).
        func gatherAndMultiply(_ pixels: Range<Int>) {
            var p = pixels.lowerBound
            while p < pixels.upperBound {
                let n = min(chunk, pixels.upperBound - p)
                for gi in 0..<weights.groups {
                    im2col(input: input + gi * cin, ips: inputPixelStride, g: g, channels: cin,
                           pixels: p..<(p + n), into: scratch)
                    GEMM.run(a: scratch, lda: k, weights: weights.groupWeights[gi],
                             c: output + p * outputPixelStride + gi * cout, ldc: outputPixelStride,
                             residual: residual.map { $0 + p * residualPixelStride + gi * cout },
                             ldr: residualPixelStride, activation: activation, rows: 0..<n)
                }
                p += n
            }
        }
        let cols = g.interiorColumns
        let interiorRows = g.interiorRows
        if cols.count < 12 {
            gatherAndMultiply(p0..<p1)
            return
        }
        // Implicit GEMM for the interior of each output row: row m of A is the window origin of
        // output pixel m (stride `strideWidth` pixels apart) and a table maps k to its offset.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { table in
            let offsets = table.baseAddress!
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let tap = (ky * g.dilationHeight * g.inputWidth + kx * g.dilationWidth) * inputPixelStride
                    for ci in 0..<cin { offsets[(ky * g.kernelWidth + kx) * cin + ci] = tap + ci }
                }
            }
            for oy in rows {
                let rowStart = oy * g.outputWidth
                if !interiorRows.contains(oy) {
                    gatherAndMultiply(rowStart..<(rowStart + g.outputWidth))
                    continue
                }
                if cols.lowerBound > 0 { gatherAndMultiply(rowStart..<(rowStart + cols.lowerBound)) }
                if cols.upperBound < g.outputWidth {
                    gatherAndMultiply((rowStart + cols.upperBound)..<(rowStart + g.outputWidth))
                }
                let iy = oy * g.strideHeight - g.padTop
                let ix = cols.lowerBound * g.strideWidth - g.padLeft
                let first = rowStart + cols.lowerBound
                for gi in 0..<weights.groups {
                    let origin = input + (iy * g.inputWidth + ix) * inputPixelStride + gi * cin
                    let args = GEMMArguments(
                        a: origin,
                        lda: g.strideWidth * inputPixelStride, offsets: UnsafePointer(offsets),
                        weights: weights.groupWeights[gi],
                        c: output + first * outputPixelStride + gi * cout, ldc: outputPixelStride,
                        residual: residual.map { $0 + first * residualPixelStride + gi * cout },
                        ldr: residualPixelStride, rows: 0..<cols.count, panels: 0..<weights.groupWeights[gi].panelCount)
                    activation.visit(args)
                }
            }
        }
    }

    /// Gathers the receptive fields of output pixels `pixels` (row-major over the output) into
    /// rows of `KH * KW * channels` floats, `(ky, kx, c)` order, zero where the window is padding.
    ///
    /// - Parameters:
    ///   - input: first channel of the group in pixel (0, 0).
    ///   - ips: input pixel stride.
    ///   - channels: channels gathered per tap.
    public static func im2col(input: UnsafePointer<Float>, ips: Int, g: ConvGeometry, channels: Int,
                              pixels: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let kw = g.kernelWidth, kh = g.kernelHeight
        let tapRow = kw * channels
        var out = dst
        for p in pixels {
            let oy = p / g.outputWidth, ox = p - oy * g.outputWidth
            let iy0 = oy * g.strideHeight - g.padTop
            let ix0 = ox * g.strideWidth - g.padLeft
            for ky in 0..<kh {
                let iy = iy0 + ky * g.dilationHeight
                if iy < 0 || iy >= g.inputHeight {
                    out.update(repeating: 0, count: tapRow)
                    out += tapRow
                    continue
                }
                let row = input + iy * g.inputWidth * ips
                for kx in 0..<kw {
                    let ix = ix0 + kx * g.dilationWidth
                    if ix < 0 || ix >= g.inputWidth {
                        out.update(repeating: 0, count: channels)
                    } else {
                        copyFloats(row + ix * ips, out, channels)
                    }
                    out += channels
                }
            }
        }
    }
}

/// Copies `n` floats (vectorised; short copies stay scalar).
@inline(__always)
func copyFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        store8(load8(src + i), dst + i)
        i += 8
    }
    while i < n {
        dst[i] = src[i]
        i += 1
    }
}
