// A network's first convolution: dense KxK over 3-channel (RGB) pixels, at stride 1 or 2.

/// Tiles of a dense convolution over tightly packed 3-channel NHWC pixels.
///
/// The GEMM's implicit im2col reads each of the K = KH * KW * 3 taps through an offset table and
/// keeps eight row pointers, which costs registers: its 8 x 32 tile spilled two accumulators and
/// ran the 224x224 3 -> 32 layer at 67 GFLOP/s (57% of peak) with its short K of 27. Here the
/// taps loop over (ky, kx) with the 3 channels unrolled and the pixel step between a tile's
/// outputs (stride x 3 floats) a compile-time constant, so each broadcast is one load at a fixed
/// displacement from a single pointer: 110 GFLOP/s on the same tiles. A tile is 8 output pixels
/// of a row by 16, 24 or 32 output channels; wider layers take their panels two at a time.
/// With the 8-lane kernels (AVX2) a tile is 6 pixels by a 16-channel panel, or 12 pixels by a
/// panel of at most 8 channels: 12 accumulators either way (`stemTile8`).
public enum StemConv {
    /// Output pixels per tile: 8 with the 16-lane kernels, 6 with the 8-lane ones.
    static var tileRows: Int { wideVectorKernels ? 8 : 6 }

    /// Whether the interior of this convolution can take the stem tiles.
    public static func isEligible(geometry g: ConvGeometry, inputChannels: Int, inputPixelStride: Int, groups: Int) -> Bool {
        groups == 1 && inputChannels == 3 && inputPixelStride == 3
            && g.strideHeight == g.strideWidth && (g.strideWidth == 1 || g.strideWidth == 2)
            && g.dilationHeight == 1 && g.dilationWidth == 1 && (g.kernelWidth == 3 || g.kernelWidth == 7)
    }

    /// Whether `run` applies: an eligible layer at least one tile wide, without a residual.
    public static func takesWholeRows(geometry g: ConvGeometry, inputChannels: Int, inputPixelStride: Int, groups: Int) -> Bool {
        isEligible(geometry: g, inputChannels: inputChannels, inputPixelStride: inputPixelStride, groups: groups)
            && g.outputWidth >= tileRows
    }

    /// Input columns (padding included) the windows of one tile span.
    static func patchWidth(_ g: ConvGeometry) -> Int { (tileRows - 1) * g.strideWidth + g.kernelWidth }

    /// Scratch floats `run` needs: one tile's window rows, padding included.
    public static func scratchSize(geometry g: ConvGeometry) -> Int { g.kernelHeight * patchWidth(g) * 3 }

    /// Computes output rows `rows` of a layer that `takesWholeRows`. Tiles whose windows lie
    /// inside the input read it in place; a tile that touches the padding reads a copy of its
    /// window rows with the padding as zeros (`patch`, under 2 KiB), so border pixels take the
    /// stem tiles too. A row's last tile may overlap the one before (recomputing a few pixels).
    /// Before, a gathered border pixel and a GEMM for the row's last 1-7 pixels took 7-21% of
    /// these layers' time (224x224 inputs, 16-64 output channels).
    static func run(input: UnsafePointer<Float>, geometry g: ConvGeometry, weights: PackedGEMMWeights,
                    output: UnsafeMutablePointer<Float>, outputPixelStride ops: Int, activation: KernelActivation,
                    rows: Range<Int>, patch: UnsafeMutablePointer<Float>) {
        let width = patchWidth(g)
        let sx = g.strideWidth
        let cols = g.interiorColumns
        let interiorRows = g.interiorRows
        let lastTile = g.outputWidth - tileRows
        for oy in rows {
            let iy0 = oy * g.strideHeight - g.padTop
            let out = output + oy * g.outputWidth * ops
            // Tiles over output columns [x0, x1) through the patch; returns the end they reached.
            func patchTiles(_ x0: Int, _ x1: Int) -> Int {
                var t = x0
                while t < x1 {
                    let start = min(t, lastTile)
                    let firstColumn = start * sx - g.padLeft
                    // Patch columns [lo, hi) hold input columns [firstColumn + lo, firstColumn + hi).
                    let lo = min(width, max(0, -firstColumn))
                    let hi = max(lo, min(width, g.inputWidth - firstColumn))
                    for ky in 0..<g.kernelHeight {
                        let iy = iy0 + ky
                        let dst = patch + ky * width * 3
                        guard iy >= 0 && iy < g.inputHeight else {
                            dst.update(repeating: 0, count: width * 3)
                            continue
                        }
                        for i in 0..<(lo * 3) { dst[i] = 0 }
                        let src = input + (iy * g.inputWidth + firstColumn + lo) * 3
                        for i in 0..<((hi - lo) * 3) { dst[lo * 3 + i] = src[i] }
                        for i in (hi * 3)..<(width * 3) { dst[i] = 0 }
                    }
                    activation.visit(StemTileArguments(a: patch, rowStride: width * 3, geometry: g, weights: weights,
                                                       c: out + start * ops, ldc: ops, tiles: 1))
                    t = start + tileRows
                }
                return max(t, x0)
            }
            guard interiorRows.contains(oy), !cols.isEmpty else {
                _ = patchTiles(0, g.outputWidth)
                continue
            }
            let first = patchTiles(0, cols.lowerBound)
            let tiles = max(0, (cols.upperBound - first) / tileRows)
            if tiles > 0 {
                activation.visit(StemTileArguments(a: input + (iy0 * g.inputWidth + first * sx - g.padLeft) * 3,
                                                   rowStride: g.inputWidth * 3, geometry: g, weights: weights,
                                                   c: out + first * ops, ldc: ops, tiles: tiles))
            }
            _ = patchTiles(first + tiles * tileRows, g.outputWidth)
        }
    }
}

/// One run of interior output pixels of one output row: `tiles` tiles of 8 pixels.
struct StemTileArguments: ActivationVisitor {
    /// Window origin (top-left tap, channel 0) of the run's first output pixel.
    let a: UnsafePointer<Float>
    /// Floats between input rows.
    let rowStride: Int
    let geometry: ConvGeometry
    let weights: PackedGEMMWeights
    /// First output pixel of the run.
    let c: UnsafeMutablePointer<Float>
    /// Floats between output pixels.
    let ldc: Int
    let tiles: Int

    func visit<A: VectorActivation>(_ act: A) {
        switch (geometry.strideWidth, geometry.kernelWidth) {
        case (2, 3): sweep(Count6.self, Count3.self, act)
        case (1, 3): sweep(Count3.self, Count3.self, act)
        case (2, _): sweep(Count6.self, Count7.self, act)
        default: sweep(Count3.self, Count7.self, act)
        }
    }

    @inline(__always)
    func sweep<SX: StaticCount, KW: StaticCount, A: VectorActivation>(_: SX.Type, _: KW.Type, _ act: A) {
        if !wideVectorKernels {
            sweep8(SX.self, KW.self, act)
            return
        }
        let nr = PackedGEMMWeights.panelWidth
        let n = weights.outputChannels
        let step = SX.value * StemConv.tileRows
        var p = 0
        while p < weights.panelCount {
            let w = weights.panels + p * weights.panelStride
            let bias = weights.bias + p * nr
            let out = c + p * nr
            let cols0 = min(nr, n - p * nr)
            let cols1 = p + 1 < weights.panelCount ? min(nr, n - (p + 1) * nr) : 0
            for t in 0..<tiles {
                let x = a + t * step, y = out + t * StemConv.tileRows * ldc
                if cols1 > 8 {
                    stemTile(SX.self, KW.self, SIMD16<Float>.self, Count2.self, act, x, rowStride, geometry.kernelHeight,
                             w, weights.panelStride, bias, y, ldc, cols0, cols1)
                } else if cols1 > 0 {
                    stemTile(SX.self, KW.self, SIMD8<Float>.self, Count2.self, act, x, rowStride, geometry.kernelHeight,
                             w, weights.panelStride, bias, y, ldc, cols0, cols1)
                } else {
                    stemTile(SX.self, KW.self, SIMD8<Float>.self, Count1.self, act, x, rowStride, geometry.kernelHeight,
                             w, weights.panelStride, bias, y, ldc, cols0, cols1)
                }
            }
            p += 2
        }
    }
}

extension StemTileArguments {
    /// The 8-lane sweep: panel by panel, 6-pixel tiles over a 16-channel panel, pairs of them
    /// (12 pixels) over a last panel of at most 8 channels.
    @inline(__always)
    func sweep8<SX: StaticCount, KW: StaticCount, A: VectorActivation>(_: SX.Type, _: KW.Type, _ act: A) {
        let nr = PackedGEMMWeights.panelWidth
        let n = weights.outputChannels
        let tile = StemConv.tileRows
        let step = SX.value * tile
        let kh = geometry.kernelHeight
        for p in 0..<weights.panelCount {
            let w = weights.panels + p * weights.panelStride
            let bias = weights.bias + p * nr
            let out = c + p * nr
            let cols = min(nr, n - p * nr)
            var t = 0
            if cols > 8 {
                while t < tiles {
                    stemTile8(SX.self, KW.self, Count6.self, Count2.self, act, a + t * step, rowStride, kh,
                              w, bias, out + t * tile * ldc, ldc, cols)
                    t += 1
                }
            } else {
                while t + 2 <= tiles {
                    stemTile8(SX.self, KW.self, Count12.self, Count1.self, act, a + t * step, rowStride, kh,
                              w, bias, out + t * tile * ldc, ldc, cols)
                    t += 2
                }
                if t < tiles {
                    stemTile8(SX.self, KW.self, Count6.self, Count1.self, act, a + t * step, rowStride, kh,
                              w, bias, out + t * tile * ldc, ldc, cols)
                }
            }
        }
    }
}

/// `R` output pixels (6, or 12 when `Halves` is 1) by the first `8 * Halves` channels of one
/// panel, with 8-lane vectors: 12 accumulators, so that the FMA chains hide their latency on two
/// pipes. Input pixels of consecutive outputs are `SX` floats apart; the kernel is `KW` wide.
@inline(never)
func stemTile8<SX: StaticCount, KW: StaticCount, R: StaticCount, Halves: StaticCount, A: VectorActivation>(
    _: SX.Type, _: KW.Type, _: R.Type, _: Halves.Type, _ act: A,
    _ a: UnsafePointer<Float>, _ rowStride: Int, _ kh: Int,
    _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ cols: Int
) {
    let sx = SX.value
    let wide = Halves.value == 2
    let twelve = R.value == 12
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
    var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
    var c8 = SIMD8<Float>(), c9 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var d0 = SIMD8<Float>(), d1 = SIMD8<Float>(), d2 = SIMD8<Float>()
    var d3 = SIMD8<Float>(), d4 = SIMD8<Float>(), d5 = SIMD8<Float>()
    var bp = w
    for ky in 0..<kh {
        let row = a + ky * rowStride
        for kx in 0..<KW.value {
            let p = row + 3 * kx
            for ci in 0..<3 {
                let b0 = load8(bp)
                let b1 = wide ? load8(bp + 8) : SIMD8<Float>()
                bp += PackedGEMMWeights.panelWidth
                var x = SIMD8<Float>(repeating: p[ci])
                c0 = c0.addingProduct(x, b0)
                if wide { d0 = d0.addingProduct(x, b1) }
                x = SIMD8<Float>(repeating: p[sx + ci])
                c1 = c1.addingProduct(x, b0)
                if wide { d1 = d1.addingProduct(x, b1) }
                x = SIMD8<Float>(repeating: p[2 * sx + ci])
                c2 = c2.addingProduct(x, b0)
                if wide { d2 = d2.addingProduct(x, b1) }
                x = SIMD8<Float>(repeating: p[3 * sx + ci])
                c3 = c3.addingProduct(x, b0)
                if wide { d3 = d3.addingProduct(x, b1) }
                x = SIMD8<Float>(repeating: p[4 * sx + ci])
                c4 = c4.addingProduct(x, b0)
                if wide { d4 = d4.addingProduct(x, b1) }
                x = SIMD8<Float>(repeating: p[5 * sx + ci])
                c5 = c5.addingProduct(x, b0)
                if wide { d5 = d5.addingProduct(x, b1) }
                if twelve {
                    c6 = c6.addingProduct(SIMD8<Float>(repeating: p[6 * sx + ci]), b0)
                    c7 = c7.addingProduct(SIMD8<Float>(repeating: p[7 * sx + ci]), b0)
                    c8 = c8.addingProduct(SIMD8<Float>(repeating: p[8 * sx + ci]), b0)
                    c9 = c9.addingProduct(SIMD8<Float>(repeating: p[9 * sx + ci]), b0)
                    c10 = c10.addingProduct(SIMD8<Float>(repeating: p[10 * sx + ci]), b0)
                    c11 = c11.addingProduct(SIMD8<Float>(repeating: p[11 * sx + ci]), b0)
                }
            }
        }
    }
    let bias0 = load8(bias)
    if !wide {
        // One vector a pixel. Whole and partial stores take branches of their own (through
        // `gemmStoreRow`, a zero-lane partial store of the absent second half took 60% of the
        // 12-pixel tiles' time).
        if cols == 8 {
            store8(act(c0 + bias0), c)
            store8(act(c1 + bias0), c + ldc)
            store8(act(c2 + bias0), c + 2 * ldc)
            store8(act(c3 + bias0), c + 3 * ldc)
            store8(act(c4 + bias0), c + 4 * ldc)
            store8(act(c5 + bias0), c + 5 * ldc)
            if twelve {
                store8(act(c6 + bias0), c + 6 * ldc)
                store8(act(c7 + bias0), c + 7 * ldc)
                store8(act(c8 + bias0), c + 8 * ldc)
                store8(act(c9 + bias0), c + 9 * ldc)
                store8(act(c10 + bias0), c + 10 * ldc)
                store8(act(c11 + bias0), c + 11 * ldc)
            }
        } else {
            storePartial8(act(c0 + bias0), c, cols)
            storePartial8(act(c1 + bias0), c + ldc, cols)
            storePartial8(act(c2 + bias0), c + 2 * ldc, cols)
            storePartial8(act(c3 + bias0), c + 3 * ldc, cols)
            storePartial8(act(c4 + bias0), c + 4 * ldc, cols)
            storePartial8(act(c5 + bias0), c + 5 * ldc, cols)
            if twelve {
                storePartial8(act(c6 + bias0), c + 6 * ldc, cols)
                storePartial8(act(c7 + bias0), c + 7 * ldc, cols)
                storePartial8(act(c8 + bias0), c + 8 * ldc, cols)
                storePartial8(act(c9 + bias0), c + 9 * ldc, cols)
                storePartial8(act(c10 + bias0), c + 10 * ldc, cols)
                storePartial8(act(c11 + bias0), c + 11 * ldc, cols)
            }
        }
        return
    }
    let bias1 = load8(bias + 8)
    gemmStoreRow(c0, d0, bias0, bias1, act, c, nil, cols)
    gemmStoreRow(c1, d1, bias0, bias1, act, c + ldc, nil, cols)
    gemmStoreRow(c2, d2, bias0, bias1, act, c + 2 * ldc, nil, cols)
    gemmStoreRow(c3, d3, bias0, bias1, act, c + 3 * ldc, nil, cols)
    gemmStoreRow(c4, d4, bias0, bias1, act, c + 4 * ldc, nil, cols)
    gemmStoreRow(c5, d5, bias0, bias1, act, c + 5 * ldc, nil, cols)
}

/// 8 output pixels x one panel (16 channels) and, when `Panels` is 2, the first `V2.scalarCount`
/// channels of the next panel. Input pixels of consecutive outputs are `SX` floats apart; the
/// kernel is `KW` wide (a compile-time width lets a window row unroll with constant offsets:
/// 20% faster than a run-time width on the 3x3 layers).
@inline(never)
func stemTile<SX: StaticCount, KW: StaticCount, V2: FloatVector, Panels: StaticCount, A: VectorActivation>(
    _: SX.Type, _: KW.Type, _: V2.Type, _: Panels.Type, _ act: A,
    _ a: UnsafePointer<Float>, _ rowStride: Int, _ kh: Int,
    _ w: UnsafePointer<Float>, _ panelStride: Int, _ bias: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ cols0: Int, _ cols1: Int
) {
    let sx = SX.value
    let two = Panels.value == 2
    var c00 = SIMD16<Float>(), c10 = SIMD16<Float>(), c20 = SIMD16<Float>(), c30 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c50 = SIMD16<Float>(), c60 = SIMD16<Float>(), c70 = SIMD16<Float>()
    var c01 = V2(), c11 = V2(), c21 = V2(), c31 = V2(), c41 = V2(), c51 = V2(), c61 = V2(), c71 = V2()
    var bp = w
    for ky in 0..<kh {
        let row = a + ky * rowStride
        for kx in 0..<KW.value {
            let p = row + 3 * kx
            for ci in 0..<3 {
                let b0 = load16(bp)
                let b1 = two ? V2.load(bp + panelStride) : V2()
                bp += PackedGEMMWeights.panelWidth
                var x = p[ci]
                c00 = c00.addingProduct(SIMD16(repeating: x), b0)
                if two { c01 = c01.addingProduct(V2(repeating: x), b1) }
                x = p[sx + ci]
                c10 = c10.addingProduct(SIMD16(repeating: x), b0)
                if two { c11 = c11.addingProduct(V2(repeating: x), b1) }
                x = p[2 * sx + ci]
                c20 = c20.addingProduct(SIMD16(repeating: x), b0)
                if two { c21 = c21.addingProduct(V2(repeating: x), b1) }
                x = p[3 * sx + ci]
                c30 = c30.addingProduct(SIMD16(repeating: x), b0)
                if two { c31 = c31.addingProduct(V2(repeating: x), b1) }
                x = p[4 * sx + ci]
                c40 = c40.addingProduct(SIMD16(repeating: x), b0)
                if two { c41 = c41.addingProduct(V2(repeating: x), b1) }
                x = p[5 * sx + ci]
                c50 = c50.addingProduct(SIMD16(repeating: x), b0)
                if two { c51 = c51.addingProduct(V2(repeating: x), b1) }
                x = p[6 * sx + ci]
                c60 = c60.addingProduct(SIMD16(repeating: x), b0)
                if two { c61 = c61.addingProduct(V2(repeating: x), b1) }
                x = p[7 * sx + ci]
                c70 = c70.addingProduct(SIMD16(repeating: x), b0)
                if two { c71 = c71.addingProduct(V2(repeating: x), b1) }
            }
        }
    }
    let bias0 = load16(bias)
    let bias1 = two ? V2.load(bias + PackedGEMMWeights.panelWidth) : V2()
    // Whole vectors take a branch of their own with no call in it: a possible call to the
    // partial store made the compiler spill all 16 accumulators around every tile's epilogue.
    let whole = cols0 == 16 && (!two || cols1 == V2.scalarCount)
    @inline(__always) func store(_ v0: SIMD16<Float>, _ v1: V2, _ q: UnsafeMutablePointer<Float>) {
        if whole {
            store16(act(v0 + bias0), q)
            if two { (v1 + bias1).activated(act).store(q + 16) }
            return
        }
        gemmStoreRow16(v0, bias0, act, q, nil, cols0)
        if two {
            let y = (v1 + bias1).activated(act)
            if cols1 == V2.scalarCount { y.store(q + 16) } else { y.storePartial(q + 16, cols1) }
        }
    }
    store(c00, c01, c)
    store(c10, c11, c + ldc)
    store(c20, c21, c + 2 * ldc)
    store(c30, c31, c + 3 * ldc)
    store(c40, c41, c + 4 * ldc)
    store(c50, c51, c + 5 * ldc)
    store(c60, c61, c + 6 * ldc)
    store(c70, c71, c + 7 * ldc)
}

// MARK: - Stem with its max pool

extension StemConv {
    /// Convolution output rows one max-pool output row reads, at most.
    static func pooledBandRows(_ pool: ConvGeometry) -> Int { (pool.kernelHeight - 1) * pool.dilationHeight + 1 }

    /// Scratch floats `runPooled` needs: the tile patch and the band of convolution rows.
    public static func pooledScratchSize(geometry g: ConvGeometry, outputChannels: Int, pool: ConvGeometry) -> Int {
        scratchSize(geometry: g) + pooledBandRows(pool) * g.outputWidth * outputChannels
    }

    /// Max-pool output rows `rows` of `maxPool(act(conv(input)))`, where the convolution is a
    /// stem layer that `takesWholeRows` and `pool` windows its output. The convolution rows a
    /// pool row needs are computed into a band of at most `KH` rows in `scratch` (rows shared
    /// with the previous pool row are kept), so the convolution's output, up to 112x112x64
    /// floats (3.2 MB), is never written out and read back. The band holds `Cout` floats a pixel.
    public static func runPooled(input: UnsafePointer<Float>, geometry g: ConvGeometry, weights: PackedConvWeights,
                                 activation: KernelActivation, pool pg: ConvGeometry,
                                 output: UnsafeMutablePointer<Float>, outputPixelStride ops: Int,
                                 rows: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        precondition(pg.inputHeight == g.outputHeight && pg.inputWidth == g.outputWidth, "pool geometry does not match the convolution")
        precondition(weights.groups == 1 && takesWholeRows(geometry: g, inputChannels: weights.inputChannels, inputPixelStride: 3, groups: 1),
                     "not a stem convolution")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= pg.outputHeight, "rows out of range")
        let cout = weights.outputChannels
        let rowFloats = g.outputWidth * cout
        let patch = scratch
        let band = scratch + scratchSize(geometry: g)
        let window = pooledBandRows(pg)
        var rowBand = ConvolutionRowBand(band: band, rowFloats: rowFloats)
        for py in rows {
            let first = py * pg.strideHeight - pg.padTop
            let a = max(0, min(g.outputHeight, first))
            let b = max(a, min(g.outputHeight, first + window))
            let origin = rowBand.cover(a..<b) { origin, missing in
                run(input: input, geometry: g, weights: weights.groupWeights[0], output: origin, outputPixelStride: cout,
                    activation: activation, rows: missing, patch: patch)
            }
            Pooling.maxPool(input: UnsafePointer(origin), inputPixelStride: cout, geometry: pg, channels: cout,
                            output: output, outputPixelStride: ops, outputRows: py..<(py + 1))
        }
    }
}

/// The band of convolution rows that a max pool over a convolution's output reads, filled as the
/// pool goes down the image (`StemConv.runPooled`, `PolyphaseWinogradConv.runPooled`): rows
/// shared with the previous pool rows are moved to the front and kept, the others computed.
struct ConvolutionRowBand {
    let band: UnsafeMutablePointer<Float>
    let rowFloats: Int
    /// Convolution rows [lo, hi) are in the band, row lo first.
    var lo = 0, hi = 0

    init(band: UnsafeMutablePointer<Float>, rowFloats: Int) {
        self.band = band
        self.rowFloats = rowFloats
    }

    /// Makes convolution rows `rows` available, computing those not in the band with
    /// `compute(origin, missing)`, and returns the origin: row r lives at `origin + r * rowFloats`.
    mutating func cover(_ rows: Range<Int>,
                        compute: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> UnsafeMutablePointer<Float> {
        let (a, b) = (rows.lowerBound, rows.upperBound)
        if a >= lo && a < hi {
            if a > lo {
                UnsafeMutableRawPointer(band).copyMemory(from: band + (a - lo) * rowFloats,
                                                         byteCount: (hi - a) * rowFloats * MemoryLayout<Float>.stride)
            }
        } else {
            hi = a
        }
        lo = a
        let origin = band - lo * rowFloats
        if b > hi {
            compute(origin, hi..<b)
            hi = b
        }
        return origin
    }
}
