// The GEMM's AVX-512 micro-kernels: 16-lane vectors, tiles of up to 8 rows x 2 panels.
//
// Same packed weights and contract as the 8-lane kernels in GEMM.swift. With 32 vector
// registers, an 8 x 32 tile keeps 16 accumulators and needs 2 weight loads and 8 broadcasts per
// 16 FMAs; on a CPU without AVX-512 the same code would need 32 of its 16 registers, so the
// executor only takes this path when the CPU has AVX-512 (`CPUFeatures.avx512`).

/// Rows of the next wide tile when `left` rows remain: 8, except that 9 to 11 rows go as two
/// near-equal tiles (a 1- to 3-row tile has too few FMA chains to hide the latency).
@inline(__always)
func gemmWideNextTileRows(_ left: Int) -> Int {
    left > 8 && left < 12 ? (left + 1) / 2 : min(8, left)
}

/// Panel-major order: for each row block, each pair of panels sweeps the block's rows (the pair's
/// K-block weights, 32 KiB, stay in L1).
@inline(never)
func gemmWideDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    let block = gemmRowBlock(k: g.kLength)
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        var p = g.panels.lowerBound
        while p < g.panels.upperBound {
            let pair = p + 1 < g.panels.upperBound
            var m = m0
            while m < m1 {
                let rows = gemmWideNextTileRows(m1 - m)
                gemmWideTileRows(rows, pair: pair, act, ix, g, m: m, panel: p)
                m += rows
            }
            p += pair ? 2 : 1
        }
        m0 = m1
    }
}

/// Rows-outer order (GEMMs with a residual and many panels; see `gemmRowsOuterDriver`).
@inline(never)
func gemmWideRowsOuterDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    let block = gemmRowBlock(k: g.kLength)
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        var p0 = g.panels.lowerBound
        while p0 < g.panels.upperBound {
            let p1 = min(g.panels.upperBound, p0 + gemmRowsOuterPanels)
            var m = m0
            while m < m1 {
                let rows = gemmWideNextTileRows(m1 - m)
                var p = p0
                while p < p1 {
                    let pair = p + 1 < p1
                    gemmWideTileRows(rows, pair: pair, act, ix, g, m: m, panel: p)
                    p += pair ? 2 : 1
                }
                m += rows
            }
            p0 = p1
        }
        m0 = m1
    }
}

/// A tile of `rows` (1...8) rows over panel `panel`, and over `panel + 1` too when `pair`.
@inline(__always)
func gemmWideTileRows<A: VectorActivation, I: AIndexing>(
    _ rows: Int, pair: Bool, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int
) {
    if pair {
        gemmWideTileRows(rows, Count2.self, act, ix, g, m: m, panel: panel)
    } else {
        gemmWideTileRows(rows, Count1.self, act, ix, g, m: m, panel: panel)
    }
}

/// The run-time row count picks the compile-time tile variant.
@inline(__always)
func gemmWideTileRows<P: StaticCount, A: VectorActivation, I: AIndexing>(
    _ rows: Int, _: P.Type, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int
) {
    switch rows {
    case 8: gemmWideTile(Count8.self, P.self, act, ix, g, m: m, panel: panel)
    case 7: gemmWideTile(Count7.self, P.self, act, ix, g, m: m, panel: panel)
    case 6: gemmWideTile(Count6.self, P.self, act, ix, g, m: m, panel: panel)
    case 5: gemmWideTile(Count5.self, P.self, act, ix, g, m: m, panel: panel)
    case 4: gemmWideTile(Count4.self, P.self, act, ix, g, m: m, panel: panel)
    case 3: gemmWideTile(Count3.self, P.self, act, ix, g, m: m, panel: panel)
    case 2: gemmWideTile(Count2.self, P.self, act, ix, g, m: m, panel: panel)
    default: gemmWideTile(Count1.self, P.self, act, ix, g, m: m, panel: panel)
    }
}

/// One micro-tile: `Rows` (1...8) rows x `Panels` (1 or 2) panels of 16 columns; K-loop over the
/// packed panels, then the fused epilogue.
@inline(never)
func gemmWideTile<Rows: StaticCount, Panels: StaticCount, A: VectorActivation, I: AIndexing>(
    _: Rows.Type, _: Panels.Type, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int
) {
    let R = Rows.value
    let two = Panels.value == 2
    let nr = PackedGEMMWeights.panelWidth
    let k = g.kLength
    let lda = g.lda
    let a0 = g.a + m * lda
    let a1 = a0 + (R > 1 ? lda : 0)
    let a2 = a0 + (R > 2 ? 2 * lda : 0)
    let a3 = a0 + (R > 3 ? 3 * lda : 0)
    let a4 = a0 + (R > 4 ? 4 * lda : 0)
    let a5 = a0 + (R > 5 ? 5 * lda : 0)
    let a6 = a0 + (R > 6 ? 6 * lda : 0)
    let a7 = a0 + (R > 7 ? 7 * lda : 0)
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    let panelStride = g.weights.panelStride
    var bp = g.weights.panels + panel * panelStride + g.k0 * nr
    let secondOffset = two ? panelStride : 0
    for kk in 0..<k {
        let b0 = load16(bp)
        let b1 = two ? load16(bp + secondOffset) : SIMD16<Float>()
        bp += nr
        let x0 = SIMD16<Float>(repeating: ix.load(a0, kk))
        c00 = c00.addingProduct(x0, b0)
        if two { c01 = c01.addingProduct(x0, b1) }
        if R > 1 {
            let x = SIMD16<Float>(repeating: ix.load(a1, kk))
            c10 = c10.addingProduct(x, b0)
            if two { c11 = c11.addingProduct(x, b1) }
        }
        if R > 2 {
            let x = SIMD16<Float>(repeating: ix.load(a2, kk))
            c20 = c20.addingProduct(x, b0)
            if two { c21 = c21.addingProduct(x, b1) }
        }
        if R > 3 {
            let x = SIMD16<Float>(repeating: ix.load(a3, kk))
            c30 = c30.addingProduct(x, b0)
            if two { c31 = c31.addingProduct(x, b1) }
        }
        if R > 4 {
            let x = SIMD16<Float>(repeating: ix.load(a4, kk))
            c40 = c40.addingProduct(x, b0)
            if two { c41 = c41.addingProduct(x, b1) }
        }
        if R > 5 {
            let x = SIMD16<Float>(repeating: ix.load(a5, kk))
            c50 = c50.addingProduct(x, b0)
            if two { c51 = c51.addingProduct(x, b1) }
        }
        if R > 6 {
            let x = SIMD16<Float>(repeating: ix.load(a6, kk))
            c60 = c60.addingProduct(x, b0)
            if two { c61 = c61.addingProduct(x, b1) }
        }
        if R > 7 {
            let x = SIMD16<Float>(repeating: ix.load(a7, kk))
            c70 = c70.addingProduct(x, b0)
            if two { c71 = c71.addingProduct(x, b1) }
        }
    }
    let n = g.weights.outputChannels
    let col = panel * nr
    let cols0 = min(nr, n - col)
    let cols1 = two ? min(nr, n - col - nr) : 0
    let bias0 = load16(g.bias + col)
    let bias1 = two ? load16(g.bias + col + nr) : SIMD16<Float>()
    let ldc = g.ldc, ldr = g.ldr
    let cp = g.c + m * ldc + col
    let rp = g.residual.map { $0 + m * ldr + col }
    gemmWideStoreRow(c00, c01, two, bias0, bias1, act, cp, rp, cols0, cols1)
    if R > 1 { gemmWideStoreRow(c10, c11, two, bias0, bias1, act, cp + ldc, rp.map { $0 + ldr }, cols0, cols1) }
    if R > 2 { gemmWideStoreRow(c20, c21, two, bias0, bias1, act, cp + 2 * ldc, rp.map { $0 + 2 * ldr }, cols0, cols1) }
    if R > 3 { gemmWideStoreRow(c30, c31, two, bias0, bias1, act, cp + 3 * ldc, rp.map { $0 + 3 * ldr }, cols0, cols1) }
    if R > 4 { gemmWideStoreRow(c40, c41, two, bias0, bias1, act, cp + 4 * ldc, rp.map { $0 + 4 * ldr }, cols0, cols1) }
    if R > 5 { gemmWideStoreRow(c50, c51, two, bias0, bias1, act, cp + 5 * ldc, rp.map { $0 + 5 * ldr }, cols0, cols1) }
    if R > 6 { gemmWideStoreRow(c60, c61, two, bias0, bias1, act, cp + 6 * ldc, rp.map { $0 + 6 * ldr }, cols0, cols1) }
    if R > 7 { gemmWideStoreRow(c70, c71, two, bias0, bias1, act, cp + 7 * ldc, rp.map { $0 + 7 * ldr }, cols0, cols1) }
}

/// Epilogue for one tile row: one or two panels' 16 columns (`cols0`, `cols1` of them valid).
@inline(__always)
func gemmWideStoreRow<A: VectorActivation>(
    _ v0: SIMD16<Float>, _ v1: SIMD16<Float>, _ two: Bool, _ bias0: SIMD16<Float>, _ bias1: SIMD16<Float>, _ act: A,
    _ c: UnsafeMutablePointer<Float>, _ res: UnsafePointer<Float>?, _ cols0: Int, _ cols1: Int
) {
    gemmStoreRow16(v0, bias0, act, c, res, cols0)
    if two { gemmStoreRow16(v1, bias1, act, c + 16, res.map { $0 + 16 }, cols1) }
}

/// Epilogue for 16 columns of one tile row: bias, residual, activation, store the first `cols`.
/// Full panels inline; the last panel's partial store is out of line, so that the tile's code
/// stays small (inlined lane loops made the compiler outline the whole epilogue, 7% slower).
@inline(__always)
func gemmStoreRow16<A: VectorActivation>(
    _ v: SIMD16<Float>, _ bias: SIMD16<Float>, _ act: A,
    _ c: UnsafeMutablePointer<Float>, _ res: UnsafePointer<Float>?, _ cols: Int
) {
    var x = v + bias
    if cols == 16 {
        if let res { x += load16(res) }
        store16(act(x), c)
    } else if cols == 8 {
        // A half panel (N = 16 k + 8: 24, 40, 72, 120, 232 channels) stays inline: out of line it
        // made a 3 -> 24 first convolution slower than a 3 -> 32 one.
        var h = x.lowHalf
        if let res { h += load8(res) }
        store8(act(h), c)
    } else {
        gemmStorePartialRow16(x, act, c, res, cols)
    }
}

@inline(never)
func gemmStorePartialRow16<A: VectorActivation>(
    _ v: SIMD16<Float>, _ act: A, _ c: UnsafeMutablePointer<Float>, _ res: UnsafePointer<Float>?, _ cols: Int
) {
    var x = v
    if let res { x += loadPartial16(res, cols) }
    storePartial16(act(x), c, cols)
}
