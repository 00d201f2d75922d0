// Depthwise convolution over NHWC, vectorised over channels.

/// Depthwise 2-D convolution (groups = C, one filter per channel) over NHWC tensors.
///
/// Vectorised over channels, 8 lanes per block; when C is not a multiple of 8 the last block
/// overlaps the previous one (it starts at C - 8), so every load and store stays inside the
/// channel range and no scalar tail is needed (C < 8 takes a slower partial-vector path).
/// Interior pixels run without bounds checks (3x3 keeps its 9 taps in registers; other
/// sizes, e.g. 5x5, compute 4 output pixels per tap load); border pixels clip the window.
public enum DepthwiseConv {
    /// Computes output rows `outputRows` of `output = act(depthwise(input, weights) + bias)`.
    ///
    /// - Parameters:
    ///   - input: NHWC input; pixel (y, x) channel c at `input[(y * W + x) * inputPixelStride + c]`.
    ///   - inputPixelStride: floats between consecutive input pixels (>= C).
    ///   - geometry: spatial geometry (kernel size must match the packed weights).
    ///   - weights: packed taps and bias.
    ///   - output: NHWC output, pixel (y, x) at `output + (y * OW + x) * outputPixelStride`; must not alias the input.
    ///   - outputPixelStride: floats between consecutive output pixels (>= C).
    ///   - activation: fused activation.
    ///   - outputRows: output rows to compute (threads split by rows); defaults to all.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        geometry: ConvGeometry, weights: PackedDepthwiseWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil
    ) {
        precondition(geometry.kernelHeight == weights.kernelHeight && geometry.kernelWidth == weights.kernelWidth,
                     "geometry kernel does not match the packed weights")
        let rows = outputRows ?? 0..<geometry.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= geometry.outputHeight, "rows out of range")
        if rows.isEmpty { return }
        activation.visit(DepthwiseArguments(input: input, ips: inputPixelStride, g: geometry, w: weights,
                                            output: output, ops: outputPixelStride, rows: rows))
    }
}

struct DepthwiseArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let g: ConvGeometry
    let w: PackedDepthwiseWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let rows: Range<Int>

    func visit<A: VectorActivation>(_ act: A) {
        if w.channels < 8 {
            depthwiseSmallChannels(self, act)
        } else if g.kernelHeight == 3 && g.kernelWidth == 3 {
            depthwiseDriver(self, act, FixedKernel3x3())
        } else if g.kernelHeight == 5 && g.kernelWidth == 5 {
            depthwiseDriver(self, act, FixedKernel5x5())
        } else {
            depthwiseDriver(self, act, DynamicKernel(height: g.kernelHeight, width: g.kernelWidth))
        }
    }
}

/// Kernel window size, constant for the fast paths so that tap loops unroll.
protocol KernelSize {
    var height: Int { get }
    var width: Int { get }
    static var isThreeByThree: Bool { get }
}

struct FixedKernel3x3: KernelSize {
    var height: Int { 3 }
    var width: Int { 3 }
    static var isThreeByThree: Bool { true }
}

struct FixedKernel5x5: KernelSize {
    var height: Int { 5 }
    var width: Int { 5 }
    static var isThreeByThree: Bool { false }
}

struct DynamicKernel: KernelSize {
    let height: Int
    let width: Int
    static var isThreeByThree: Bool { false }
}

/// Output columns per chunk: the chunk's input footprint (rows x columns x C) stays in L1
/// while every channel block sweeps it.
let depthwiseChunk = 16

@inline(never)
func depthwiseDriver<A: VectorActivation, K: KernelSize>(_ d: DepthwiseArguments, _ act: A, _ k: K) {
    let g = d.g
    let channels = d.w.channels
    let cols = g.interiorColumns
    let interiorRows = g.interiorRows
    let lastBlock = channels - 8
    for oy in d.rows {
        if interiorRows.contains(oy) && !cols.isEmpty {
            for ox in 0..<cols.lowerBound { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
            var x0 = cols.lowerBound
            while x0 < cols.upperBound {
                let x1 = min(cols.upperBound, x0 + depthwiseChunk)
                var c = 0
                while c <= lastBlock {
                    if K.isThreeByThree {
                        depthwiseSpan3x3(d, act, c: c, oy: oy, x0: x0, x1: x1)
                    } else {
                        depthwiseSpan(d, act, k, c: c, oy: oy, x0: x0, x1: x1)
                    }
                    c += 8
                }
                if c < channels {
                    if K.isThreeByThree {
                        depthwiseSpan3x3(d, act, c: lastBlock, oy: oy, x0: x0, x1: x1)
                    } else {
                        depthwiseSpan(d, act, k, c: lastBlock, oy: oy, x0: x0, x1: x1)
                    }
                }
                x0 = x1
            }
            for ox in cols.upperBound..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        } else {
            for ox in 0..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        }
    }
}

/// Interior span of one output row for one 8-channel block, 3x3 taps held in registers.
@inline(__always)
func depthwiseSpan3x3<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A, c: Int, oy: Int, x0: Int, x1: Int) {
    let g = d.g
    let rowStride = g.inputWidth * d.ips
    let cpad = d.w.paddedChannels
    let wp = d.w.taps + c
    let w00 = load8(wp), w01 = load8(wp + cpad), w02 = load8(wp + 2 * cpad)
    let w10 = load8(wp + 3 * cpad), w11 = load8(wp + 4 * cpad), w12 = load8(wp + 5 * cpad)
    let w20 = load8(wp + 6 * cpad), w21 = load8(wp + 7 * cpad), w22 = load8(wp + 8 * cpad)
    let bias = load8(d.w.bias + c)
    let iy = oy * g.strideHeight - g.padTop
    let ix = x0 * g.strideWidth - g.padLeft
    var p0 = d.input + iy * rowStride + ix * d.ips + c
    var p1 = p0 + g.dilationHeight * rowStride
    var p2 = p1 + g.dilationHeight * rowStride
    let dx = g.dilationWidth * d.ips
    let step = g.strideWidth * d.ips
    var out = d.output + (oy * g.outputWidth + x0) * d.ops + c
    for _ in x0..<x1 {
        var s0 = bias.addingProduct(load8(p0), w00)
        var s1 = load8(p1) * w10
        var s2 = load8(p2) * w20
        s0 = s0.addingProduct(load8(p0 + dx), w01)
        s1 = s1.addingProduct(load8(p1 + dx), w11)
        s2 = s2.addingProduct(load8(p2 + dx), w21)
        s0 = s0.addingProduct(load8(p0 + 2 * dx), w02)
        s1 = s1.addingProduct(load8(p1 + 2 * dx), w12)
        s2 = s2.addingProduct(load8(p2 + 2 * dx), w22)
        store8(act(s0 + s1 + s2), out)
        p0 += step
        p1 += step
        p2 += step
        out += d.ops
    }
}

/// Interior span for any kernel size: 4 output pixels per tap so each weight load feeds 4 FMAs.
@inline(__always)
func depthwiseSpan<A: VectorActivation, K: KernelSize>(
    _ d: DepthwiseArguments, _ act: A, _ k: K, c: Int, oy: Int, x0: Int, x1: Int
) {
    let g = d.g
    let rowStride = g.inputWidth * d.ips
    let cpad = d.w.paddedChannels
    let wp = d.w.taps + c
    let bias = load8(d.w.bias + c)
    let iy = oy * g.strideHeight - g.padTop
    let ix = x0 * g.strideWidth - g.padLeft
    var p = d.input + iy * rowStride + ix * d.ips + c
    let dy = g.dilationHeight * rowStride
    let dx = g.dilationWidth * d.ips
    let step = g.strideWidth * d.ips
    var out = d.output + (oy * g.outputWidth + x0) * d.ops + c
    var x = x0
    while x + 4 <= x1 {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        for ky in 0..<k.height {
            let row = p + ky * dy
            let wrow = wp + ky * k.width * cpad
            for kx in 0..<k.width {
                let wv = load8(wrow + kx * cpad)
                let q = row + kx * dx
                a0 = a0.addingProduct(load8(q), wv)
                a1 = a1.addingProduct(load8(q + step), wv)
                a2 = a2.addingProduct(load8(q + 2 * step), wv)
                a3 = a3.addingProduct(load8(q + 3 * step), wv)
            }
        }
        store8(act(a0), out)
        store8(act(a1), out + d.ops)
        store8(act(a2), out + 2 * d.ops)
        store8(act(a3), out + 3 * d.ops)
        p += 4 * step
        out += 4 * d.ops
        x += 4
    }
    while x < x1 {
        var a0 = bias
        for ky in 0..<k.height {
            let row = p + ky * dy
            let wrow = wp + ky * k.width * cpad
            for kx in 0..<k.width {
                a0 = a0.addingProduct(load8(row + kx * dx), load8(wrow + kx * cpad))
            }
        }
        store8(act(a0), out)
        p += step
        out += d.ops
        x += 1
    }
}

/// Taps `[lo, hi)` of one dimension whose input coordinate `base + t * dilation` is in `[0, size)`.
@inline(__always)
func validTaps(base: Int, dilation: Int, kernel: Int, size: Int) -> Range<Int> {
    var lo = 0
    if base < 0 { lo = (-base + dilation - 1) / dilation }
    var hi = kernel
    let last = base + (kernel - 1) * dilation
    if last >= size { hi = kernel - ((last - size) / dilation + 1) }
    lo = min(lo, kernel)
    return lo..<max(lo, hi)
}

/// One output pixel with a clipped window (all channel blocks).
@inline(never)
func depthwiseBorderPixel<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A, oy: Int, ox: Int) {
    let g = d.g
    let iy0 = oy * g.strideHeight - g.padTop
    let ix0 = ox * g.strideWidth - g.padLeft
    let kys = validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
    let kxs = validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    let out = d.output + (oy * g.outputWidth + ox) * d.ops
    var c = 0
    while c < channels {
        let cb = min(c, channels - 8)
        var acc = load8(d.w.bias + cb)
        for ky in kys {
            let iy = iy0 + ky * g.dilationHeight
            for kx in kxs {
                let ix = ix0 + kx * g.dilationWidth
                let t = ky * g.kernelWidth + kx
                acc = acc.addingProduct(load8(d.input + (iy * g.inputWidth + ix) * d.ips + cb),
                                        load8(d.w.taps + t * cpad + cb))
            }
        }
        store8(act(acc), out + cb)
        c += 8
    }
}

/// Fewer than 8 channels: partial vectors everywhere (rare; correctness over speed).
@inline(never)
func depthwiseSmallChannels<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A) {
    let g = d.g
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    for oy in d.rows {
        for ox in 0..<g.outputWidth {
            let iy0 = oy * g.strideHeight - g.padTop
            let ix0 = ox * g.strideWidth - g.padLeft
            let kys = validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
            let kxs = validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
            var acc = load8(d.w.bias)
            for ky in kys {
                let iy = iy0 + ky * g.dilationHeight
                for kx in kxs {
                    let ix = ix0 + kx * g.dilationWidth
                    let t = ky * g.kernelWidth + kx
                    acc = acc.addingProduct(loadPartial8(d.input + (iy * g.inputWidth + ix) * d.ips, channels),
                                            load8(d.w.taps + t * cpad))
                }
            }
            storePartial8(act(acc), d.output + (oy * g.outputWidth + ox) * d.ops, channels)
        }
    }
}
