// Max / average pooling and global pooling over NHWC, vectorised over channels.

/// Pooling kernels over NHWC tensors with pixel strides.
///
/// Windows are clipped to the input (so a caller-chosen `ceil_mode` output size is handled),
/// channels are processed 8 at a time with an overlapping last block (C >= 8) or partial vectors
/// (C < 8). The output must not alias the input.
public enum Pooling {
    /// Max pooling; padded positions never win (they are ignored). A window that covers no input
    /// element yields `-infinity`.
    ///
    /// - Parameters:
    ///   - input: NHWC input, pixel (y, x) at `input + (y * W + x) * inputPixelStride`.
    ///   - geometry: window, stride, padding, dilation and output size.
    ///   - channels: channels pooled (C).
    ///   - output: NHWC output, pixel (y, x) at `output + (y * OW + x) * outputPixelStride`.
    ///   - outputRows: output rows to compute (threads split by rows); defaults to all.
    public static func maxPool(
        input: UnsafePointer<Float>, inputPixelStride: Int, geometry: ConvGeometry, channels: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int, outputRows: Range<Int>? = nil
    ) {
        let rows = outputRows ?? 0..<geometry.outputHeight
        if rows.isEmpty || channels <= 0 { return }
        poolDriver(MaxPoolOp(), input: input, ips: inputPixelStride, g: geometry, channels: channels,
                   output: output, ops: outputPixelStride, rows: rows, countIncludePad: false)
    }

    /// Average pooling. With `countIncludePad` the divisor counts every window position inside
    /// the padded input (`[-padTop, H + padBottom)` x `[-padLeft, W + padRight)`), as ONNX defines;
    /// otherwise only positions inside the input.
    public static func averagePool(
        input: UnsafePointer<Float>, inputPixelStride: Int, geometry: ConvGeometry, channels: Int,
        countIncludePad: Bool,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int, outputRows: Range<Int>? = nil
    ) {
        let rows = outputRows ?? 0..<geometry.outputHeight
        if rows.isEmpty || channels <= 0 { return }
        poolDriver(AveragePoolOp(), input: input, ips: inputPixelStride, g: geometry, channels: channels,
                   output: output, ops: outputPixelStride, rows: rows, countIncludePad: countIncludePad)
    }

    /// Global average pooling: `output[c] = mean over all pixels of input[p, c]` for c in `channelRange`.
    ///
    /// - Parameters:
    ///   - pixels: H * W.
    ///   - channelRange: channels to compute (threads may split channels); defaults to all.
    public static func globalAveragePool(
        input: UnsafePointer<Float>, inputPixelStride: Int, pixels: Int, channels: Int,
        output: UnsafeMutablePointer<Float>, channelRange: Range<Int>? = nil
    ) {
        globalPool(GlobalSum(), input: input, ips: inputPixelStride, pixels: pixels,
                   range: channelRange ?? 0..<channels, output: output, scale: 1 / Float(pixels))
    }

    /// How `globalPartialPool` reduces pixels.
    public enum GlobalReduction: Sendable { case sum, max }

    /// `output[c]` = the sum (or max) over `pixels` pixels of `input[p, c]`, for all channels:
    /// one part of a global pool split by pixels, combined by `combinePartials`.
    public static func globalPartialPool(
        _ reduction: GlobalReduction, input: UnsafePointer<Float>, inputPixelStride: Int, pixels: Int, channels: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        switch reduction {
        case .sum: globalPool(GlobalSum(), input: input, ips: inputPixelStride, pixels: pixels, range: 0..<channels, output: output, scale: 1)
        case .max: globalPool(GlobalMax(), input: input, ips: inputPixelStride, pixels: pixels, range: 0..<channels, output: output, scale: 1)
        }
    }

    /// `output[c] = scale * reduce(partials[i * channels + c] for i in 0..<count)`.
    public static func combinePartials(
        _ reduction: GlobalReduction, _ partials: UnsafePointer<Float>, count: Int, channels: Int, scale: Float,
        output: UnsafeMutablePointer<Float>
    ) {
        for c in 0..<channels {
            var acc = partials[c]
            for i in 1..<max(count, 1) {
                let v = partials[i * channels + c]
                acc = reduction == .max ? Swift.max(acc, v) : acc + v
            }
            output[c] = acc * scale
        }
    }

    /// Global max pooling: `output[c] = max over all pixels of input[p, c]` for c in `channelRange`.
    public static func globalMaxPool(
        input: UnsafePointer<Float>, inputPixelStride: Int, pixels: Int, channels: Int,
        output: UnsafeMutablePointer<Float>, channelRange: Range<Int>? = nil
    ) {
        globalPool(GlobalMax(), input: input, ips: inputPixelStride, pixels: pixels,
                   range: channelRange ?? 0..<channels, output: output, scale: 1)
    }
}

// MARK: - Windowed pooling

protocol PoolOp {
    static var isMax: Bool { get }
    var identity: SIMD8<Float> { get }
    func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float>
    func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float>
}

struct MaxPoolOp: PoolOp {
    static var isMax: Bool { true }
    var identity: SIMD8<Float> { SIMD8(repeating: -.infinity) }
    @inline(__always) func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float> { vmax(acc, x) }
    @inline(__always) func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float> { vmax(acc, x) }
}

struct AveragePoolOp: PoolOp {
    static var isMax: Bool { false }
    var identity: SIMD8<Float> { SIMD8() }
    @inline(__always) func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float> { acc + x }
    @inline(__always) func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float> { acc + x }
}

@inline(never)
func poolDriver<Op: PoolOp>(_ op: Op, input: UnsafePointer<Float>, ips: Int, g: ConvGeometry, channels: Int,
                            output: UnsafeMutablePointer<Float>, ops: Int, rows: Range<Int>, countIncludePad: Bool) {
    precondition(rows.lowerBound >= 0 && rows.upperBound <= g.outputHeight, "rows out of range")
    let paddedH = g.inputHeight + g.padTop + g.padBottom
    let paddedW = g.inputWidth + g.padLeft + g.padRight
    let interiorRows = g.interiorRows, interiorColumns = g.interiorColumns
    let dy = g.dilationHeight * g.inputWidth * ips
    let dx = g.dilationWidth * ips
    // Undilated 3x3 windows inside the map (most pixels of the stem and ShuffleNet pools) take an
    // unrolled path: no clipping arithmetic per pixel, and the nine loads combine as a tree.
    let fast3x3 = channels >= 8 && g.kernelHeight == 3 && g.kernelWidth == 3 && g.dilationHeight == 1 && g.dilationWidth == 1
    let wide3x3 = fast3x3 && wideVectorKernels && channels >= 16
    // Likewise 2x2 windows (TinyDarkNet's 2x2 stride-2 pools): the general path's loops over
    // clipped tap ranges took 0.20 ms for a 224x224x16 map.
    let fast2x2 = channels >= 8 && g.kernelHeight == 2 && g.kernelWidth == 2 && g.dilationHeight == 1 && g.dilationWidth == 1
    for oy in rows {
        let iy0 = oy * g.strideHeight - g.padTop
        let rowInside = interiorRows.contains(oy)
        let kys = rowInside ? 0..<g.kernelHeight
            : validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
        let padRows = countIncludePad && !rowInside
            ? validTaps(base: iy0 + g.padTop, dilation: g.dilationHeight, kernel: g.kernelHeight, size: paddedH).count
            : kys.count
        for ox in 0..<g.outputWidth {
            let ix0 = ox * g.strideWidth - g.padLeft
            let columnInside = interiorColumns.contains(ox)
            let out = output + (oy * g.outputWidth + ox) * ops
            let base = input + (iy0 * g.inputWidth + ix0) * ips
            if fast3x3 && rowInside && columnInside {
                let scale: Float = 1 / 9
                var c = 0
                if wide3x3 {
                    // 16 channels a vector (the last block overlaps): half the instructions of the
                    // 8-lane loop. Xception's 3x3 stride-2 pools with their input in cache, ms:
                    // 74x74x256 0.23 -> 0.16-0.22, 37x37x728 0.16-0.17 -> 0.12-0.16.
                    // (Written out twice on purpose: one loop generic over the vector type ran
                    // 10-25x slower, its max through the generic SIMD mask not specialized.)
                    while c < channels {
                        let p = base + min(c, channels - 16)
                        let r0 = op.combine(op.combine(load16(p), load16(p + dx)), load16(p + 2 * dx))
                        let r1 = op.combine(op.combine(load16(p + dy), load16(p + dy + dx)), load16(p + dy + 2 * dx))
                        let r2 = op.combine(op.combine(load16(p + 2 * dy), load16(p + 2 * dy + dx)), load16(p + 2 * dy + 2 * dx))
                        let acc = op.combine(op.combine(r0, r1), r2)
                        store16(Op.isMax ? acc : acc * scale, out + min(c, channels - 16))
                        c += 16
                    }
                    continue
                }
                while c < channels {
                    let p = base + min(c, channels - 8)
                    let r0 = op.combine(op.combine(load8(p), load8(p + dx)), load8(p + 2 * dx))
                    let r1 = op.combine(op.combine(load8(p + dy), load8(p + dy + dx)), load8(p + dy + 2 * dx))
                    let r2 = op.combine(op.combine(load8(p + 2 * dy), load8(p + 2 * dy + dx)), load8(p + 2 * dy + 2 * dx))
                    let acc = op.combine(op.combine(r0, r1), r2)
                    store8(Op.isMax ? acc : acc * scale, out + min(c, channels - 8))
                    c += 8
                }
                continue
            }
            if fast2x2 && rowInside && columnInside {
                let scale: Float = 1 / 4
                var c = 0
                while c < channels {
                    let p = base + min(c, channels - 8)
                    let acc = op.combine(op.combine(load8(p), load8(p + dx)), op.combine(load8(p + dy), load8(p + dy + dx)))
                    store8(Op.isMax ? acc : acc * scale, out + min(c, channels - 8))
                    c += 8
                }
                continue
            }
            let kxs = columnInside ? 0..<g.kernelWidth
                : validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
            var scale: Float = 1
            if !Op.isMax {
                let padCols = countIncludePad && !columnInside
                    ? validTaps(base: ix0 + g.padLeft, dilation: g.dilationWidth, kernel: g.kernelWidth, size: paddedW).count
                    : kxs.count
                let count = padRows * padCols
                scale = count > 0 ? 1 / Float(count) : 0
            }
            if channels >= 8 {
                var c = 0
                while c < channels {
                    let cb = min(c, channels - 8)
                    var acc = op.identity
                    for ky in kys {
                        let row = base + ky * dy + cb
                        for kx in kxs { acc = op.combine(acc, load8(row + kx * dx)) }
                    }
                    store8(Op.isMax ? acc : acc * scale, out + cb)
                    c += 8
                }
            } else {
                var acc = op.identity
                for ky in kys {
                    let row = base + ky * dy
                    for kx in kxs { acc = op.combine(acc, loadPartial8(row + kx * dx, channels)) }
                }
                storePartial8(Op.isMax ? acc : acc * scale, out, channels)
            }
        }
    }
}

// MARK: - Global pooling

protocol GlobalPoolOp {
    var identity: SIMD8<Float> { get }
    func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float>
    func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float>
}

struct GlobalSum: GlobalPoolOp {
    var identity: SIMD8<Float> { SIMD8() }
    @inline(__always) func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float> { acc + x }
    @inline(__always) func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float> { acc + x }
}

struct GlobalMax: GlobalPoolOp {
    var identity: SIMD8<Float> { SIMD8(repeating: -.infinity) }
    @inline(__always) func combine(_ acc: SIMD8<Float>, _ x: SIMD8<Float>) -> SIMD8<Float> { vmax(acc, x) }
    @inline(__always) func combine(_ acc: SIMD16<Float>, _ x: SIMD16<Float>) -> SIMD16<Float> { vmax(acc, x) }
}

@inline(never)
func globalPool<Op: GlobalPoolOp>(_ op: Op, input: UnsafePointer<Float>, ips: Int, pixels: Int, range: Range<Int>,
                                  output: UnsafeMutablePointer<Float>, scale: Float) {
    if range.isEmpty { return }
    let n = range.count
    if n < 8 {
        var acc = op.identity
        for p in 0..<pixels { acc = op.combine(acc, loadPartial8(input + p * ips + range.lowerBound, n)) }
        storePartial8(acc * scale, output + range.lowerBound, n)
        return
    }
    var c = range.lowerBound
    // 32 channels per pass: 4 accumulators, one strided sweep over the pixels.
    while c + 32 <= range.upperBound {
        var a0 = op.identity, a1 = op.identity, a2 = op.identity, a3 = op.identity
        var p = input + c
        for _ in 0..<pixels {
            a0 = op.combine(a0, load8(p))
            a1 = op.combine(a1, load8(p + 8))
            a2 = op.combine(a2, load8(p + 16))
            a3 = op.combine(a3, load8(p + 24))
            p += ips
        }
        store8(a0 * scale, output + c)
        store8(a1 * scale, output + c + 8)
        store8(a2 * scale, output + c + 16)
        store8(a3 * scale, output + c + 24)
        c += 32
    }
    while c < range.upperBound {
        let cb = min(c, range.upperBound - 8)
        var a0 = op.identity
        var p = input + cb
        for _ in 0..<pixels {
            a0 = op.combine(a0, load8(p))
            p += ips
        }
        store8(a0 * scale, output + cb)
        c += 8
    }
}
