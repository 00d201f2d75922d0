// Stride-2 convolutions with 5x5 to 7x7 kernels over few input channels (the 7x7 stems of
// ResNeXt-50 and IGCv1) as a 3x3 stride-1 convolution that `WinogradConv` computes.
//
// Output pixel (y, x) reads padded input rows 2y + i, i < K. Writing i = 2a + s with a < 3 and
// s < P (P = 3 for K = 7, P = 2 for K = 5 or 6) turns its window into a 3x3 stride-1 window over
// "patch pixels": V(u, v) is the P x P patch of the padded input at (2u, 2v), P * P * Cin channels.
// The convolution is then a 3x3 unpadded stride-1 convolution over V, with the K x K weights
// scattered into 3x3 weights over the patch channels (a = min(i / 2, 2); taps no offset maps to
// stay zero). For 7x7 over 3 channels: 27 patch channels, 243 taps of which 147 are real, and
// Winograd F(4x4, 3x3) does 2.25x fewer multiplies than those 243, 2.4x fewer than direct.
// V is gathered band by band (16 output rows need 18 patch rows, 220 KiB for the stems) into
// scratch, where the Winograd input transform finds it in L2.
//
// Measured on a Zen 1 core, 224x224x3 -> 112x112x64, 7x7 stride 2, ReLU, warm caches: 4.4 ms
// against 5.6 for `Im2colConv` (the gather takes 0.2 ms of it); the Winograd GEMMs run at
// 33 GFLOP/s. In the networks at 1 thread: 6.7 -> 5.45 ms, and with the max pool after it
// computed band by band (`runPooled`) 5.43 ms against 6.95 for stem and pool apart. Not measured with the 16-lane kernels, where im2col doubles its speed and
// Winograd's transforms do not (`WinogradConv.paysOffWithWideGEMM`), so it is off there.
// Stems over 3-channel pixels now take the stem tiles (`StemConv`) with the 8-lane kernels too:
// on a Zen 3, IGCv1's stem and max pool 2.79 -> 2.63 ms at 1 thread, 1.56 -> 1.35 at 2. This path
// serves wider input pixels (4-16 channels), or all such stems with `KITE_POLYPHASE=1`.

/// Weights of a stride-2 convolution scattered over patch channels and transformed for Winograd.
public struct PackedPolyphaseWeights: Sendable {
    /// Transformed 3x3 weights over `patchHeight * patchWidth * inputChannels` patch channels,
    /// channel `(sy * patchWidth + sx) * inputChannels + c`.
    let winograd: PackedWinogradWeights
    /// Input channels of the original convolution.
    public let inputChannels: Int
    /// Output channels.
    public var outputChannels: Int { winograd.outputChannels }
    /// Patch rows and columns (P).
    let patchHeight: Int, patchWidth: Int

    /// Scatters and packs ONNX weights `[Cout][Cin][kernelHeight][kernelWidth]` (5 to 7 each).
    public init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, bias: UnsafePointer<Float>?) {
        guard let ph = PolyphaseWinogradConv.patchSize(kernel: kernelHeight),
              let pw = PolyphaseWinogradConv.patchSize(kernel: kernelWidth) else {
            preconditionFailure("polyphase Winograd needs kernels of 5 to 7")
        }
        precondition(outputChannels > 0 && inputChannels > 0, "empty polyphase weights")
        let channels = ph * pw * inputChannels
        var scattered = [Float](repeating: 0, count: outputChannels * channels * 9)
        for co in 0..<outputChannels {
            for ci in 0..<inputChannels {
                for ky in 0..<kernelHeight {
                    let (ay, sy) = PolyphaseWinogradConv.split(ky)
                    for kx in 0..<kernelWidth {
                        let (ax, sx) = PolyphaseWinogradConv.split(kx)
                        let patchChannel = (sy * pw + sx) * inputChannels + ci
                        scattered[((co * channels + patchChannel) * 3 + ay) * 3 + ax] =
                            weights[((co * inputChannels + ci) * kernelHeight + ky) * kernelWidth + kx]
                    }
                }
            }
        }
        winograd = scattered.withUnsafeBufferPointer { w in
            PackedWinogradWeights(weights: w.baseAddress!, outputChannels: outputChannels, inputChannels: channels,
                                  groups: 1, bias: bias)
        }
        self.inputChannels = inputChannels
        patchHeight = ph
        patchWidth = pw
    }
}

/// Stride-2 5x5-7x7 convolutions through Winograd over stride-2 patches (see the file header).
public enum PolyphaseWinogradConv {
    /// Output rows per gathered band.
    static let bandRows = 16

    /// Patch size P for a kernel extent: offsets i = 2a + s with a = min(i / 2, 2) need s < P.
    public static func patchSize(kernel: Int) -> Int? {
        switch kernel {
        case 7: return 3
        case 5, 6: return 2
        default: return nil
        }
    }

    /// Kernel offset i as (3x3 tap a, patch offset s).
    @inline(__always) static func split(_ i: Int) -> (Int, Int) {
        let a = min(i / 2, 2)
        return (a, i - 2 * a)
    }

    /// Whether `run` applies and pays off: a dense stride-2 convolution, dilation 1, kernel 5 to 7
    /// each way, 2 to 16 input channels with at least 16 patch channels (Winograd's minimum), an
    /// output of at least 8x8, and the 8-lane kernels.
    public static func isEligible(geometry g: ConvGeometry, inputChannels: Int, groups: Int) -> Bool {
        guard !wideVectorKernels, groups == 1, g.strideHeight == 2, g.strideWidth == 2,
              g.dilationHeight == 1, g.dilationWidth == 1,
              let ph = patchSize(kernel: g.kernelHeight), let pw = patchSize(kernel: g.kernelWidth),
              (2...16).contains(inputChannels), ph * pw * inputChannels >= WinogradConv.minimumInputChannelsPerGroup,
              g.outputHeight >= 8, g.outputWidth >= 8 else { return false }
        return true
    }

    /// The 3x3 geometry over a band of `rows` output rows' patches.
    static func bandGeometry(_ g: ConvGeometry, rows: Int) -> ConvGeometry {
        ConvGeometry(inputHeight: rows + 2, inputWidth: g.outputWidth + 2, kernelHeight: 3, kernelWidth: 3,
                     outputHeight: rows, outputWidth: g.outputWidth)
    }

    /// Scratch floats one call of `run` needs: a band of patch pixels and Winograd's scratch.
    public static func scratchSize(geometry g: ConvGeometry, weights: PackedPolyphaseWeights) -> Int {
        let rows = min(bandRows, g.outputHeight)
        let patchFloats = (rows + 2) * (g.outputWidth + 2) * weights.winograd.inputChannels
        return patchFloats + WinogradConv.scratchSize(geometry: bandGeometry(g, rows: rows), weights: weights.winograd)
    }

    /// Computes output rows `outputRows` of `output = act(conv(input, weights) + bias + residual)`.
    ///
    /// - Parameters:
    ///   - input: NHWC input, pixel (y, x) channel c at `input[(y * W + x) * inputPixelStride + c]`.
    ///   - geometry: stride 2, dilation 1, kernel as packed, any padding (`isEligible`).
    ///   - output: NHWC output at `outputPixelStride`; must not alias the input.
    ///   - residual: optional tensor shaped as the output, added before the activation.
    ///   - outputRows: output rows to compute; defaults to all. Any split works.
    ///   - scratch: at least `scratchSize(geometry:weights:)` floats, private to this call.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        geometry g: ConvGeometry, weights: PackedPolyphaseWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        residual: UnsafePointer<Float>? = nil, residualPixelStride: Int = 0,
        activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil,
        scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(g.strideHeight == 2 && g.strideWidth == 2 && g.dilationHeight == 1 && g.dilationWidth == 1
                     && patchSize(kernel: g.kernelHeight) == weights.patchHeight
                     && patchSize(kernel: g.kernelWidth) == weights.patchWidth,
                     "PolyphaseWinogradConv needs stride 2, dilation 1 and the packed kernel size")
        let rows = outputRows ?? 0..<g.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= g.outputHeight, "rows out of range")
        let patchWidth = g.outputWidth + 2
        let channels = weights.winograd.inputChannels
        let patches = scratch
        let winogradScratch = scratch + (min(bandRows, g.outputHeight) + 2) * patchWidth * channels
        var y0 = rows.lowerBound
        while y0 < rows.upperBound {
            let y1 = min(rows.upperBound, y0 + bandRows)
            gatherPatches(input: input, inputPixelStride: inputPixelStride, geometry: g, weights: weights,
                          rows: y0..<(y1 + 2), into: patches)
            let band = bandGeometry(g, rows: y1 - y0)
            WinogradConv.run(input: patches, inputPixelStride: channels, geometry: band, weights: weights.winograd,
                             output: output + y0 * g.outputWidth * outputPixelStride, outputPixelStride: outputPixelStride,
                             residual: residual.map { $0 + y0 * g.outputWidth * residualPixelStride },
                             residualPixelStride: residualPixelStride, activation: activation, scratch: winogradScratch)
            y0 = y1
        }
    }

    /// Patch pixels V(u, v) for u in `rows`, v < OW + 2, at `patches[((u - rows.lowerBound) *
    /// (OW + 2) + v) * channels + (sy * P + sx) * Cin + c]`; zero outside the input.
    static func gatherPatches(input: UnsafePointer<Float>, inputPixelStride ips: Int, geometry g: ConvGeometry,
                              weights: PackedPolyphaseWeights, rows: Range<Int>, into patches: UnsafeMutablePointer<Float>) {
        let cin = weights.inputChannels, ph = weights.patchHeight, pw = weights.patchWidth
        let channels = ph * pw * cin, width = g.outputWidth + 2
        for u in rows {
            var dst = patches + (u - rows.lowerBound) * width * channels
            for v in 0..<width {
                for sy in 0..<ph {
                    let iy = 2 * u + sy - g.padTop
                    let rowInside = iy >= 0 && iy < g.inputHeight
                    for sx in 0..<pw {
                        let ix = 2 * v + sx - g.padLeft
                        if rowInside && ix >= 0 && ix < g.inputWidth {
                            let src = input + (iy * g.inputWidth + ix) * ips
                            for c in 0..<cin { dst[c] = src[c] }
                        } else {
                            for c in 0..<cin { dst[c] = 0 }
                        }
                        dst += cin
                    }
                }
            }
        }
    }
}

extension PolyphaseWinogradConv {
    /// New convolution rows computed per step of `runPooled`: two Winograd tile rows, so that the
    /// band of convolution rows (9 rows of 112x64 floats for the stems, 258 KiB) stays in L2.
    static let pooledStepRows = 8

    /// Convolution rows the band of `runPooled` holds at most: those of one step's pool rows.
    static func pooledBandRows(_ pool: ConvGeometry) -> Int {
        let poolRows = max(1, pooledStepRows / pool.strideHeight)
        return (poolRows - 1) * pool.strideHeight + (pool.kernelHeight - 1) * pool.dilationHeight + 1
    }

    /// Scratch floats `runPooled` needs: `run`'s scratch and the band of convolution rows.
    public static func pooledScratchSize(geometry g: ConvGeometry, weights: PackedPolyphaseWeights, pool: ConvGeometry) -> Int {
        scratchSize(geometry: g, weights: weights) + pooledBandRows(pool) * g.outputWidth * weights.outputChannels
    }

    /// Max-pool output rows `rows` of `maxPool(act(conv(input)))`. The convolution rows that a
    /// few pool rows read are computed into a band in `scratch` (rows shared with the pool rows
    /// before are kept), so the convolution's output (112x112x64 floats, 3.2 MB, for the stems)
    /// is never written out and read back.
    public static func runPooled(input: UnsafePointer<Float>, inputPixelStride: Int, geometry g: ConvGeometry,
                                 weights: PackedPolyphaseWeights, activation: KernelActivation, pool pg: ConvGeometry,
                                 output: UnsafeMutablePointer<Float>, outputPixelStride ops: Int,
                                 rows: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        precondition(pg.inputHeight == g.outputHeight && pg.inputWidth == g.outputWidth, "pool geometry does not match the convolution")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= pg.outputHeight, "rows out of range")
        let cout = weights.outputChannels
        let rowFloats = g.outputWidth * cout
        let band = scratch + scratchSize(geometry: g, weights: weights)
        let window = (pg.kernelHeight - 1) * pg.dilationHeight + 1
        let step = max(1, pooledStepRows / pg.strideHeight)
        var rowBand = ConvolutionRowBand(band: band, rowFloats: rowFloats)
        var p0 = rows.lowerBound
        while p0 < rows.upperBound {
            let p1 = min(rows.upperBound, p0 + step)
            let a = max(0, min(g.outputHeight, p0 * pg.strideHeight - pg.padTop))
            let b = max(a, min(g.outputHeight, (p1 - 1) * pg.strideHeight - pg.padTop + window))
            let origin = rowBand.cover(a..<b) { origin, missing in
                run(input: input, inputPixelStride: inputPixelStride, geometry: g, weights: weights, output: origin,
                    outputPixelStride: cout, activation: activation, outputRows: missing, scratch: scratch)
            }
            Pooling.maxPool(input: UnsafePointer(origin), inputPixelStride: cout, geometry: pg, channels: cout,
                            output: output, outputPixelStride: ops, outputRows: p0..<p1)
            p0 = p1
        }
    }
}
