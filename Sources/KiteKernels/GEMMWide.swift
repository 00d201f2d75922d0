// The GEMM's AVX-512 micro-kernels: 16-lane vectors, tiles of up to 8 rows x 2 panels (3 at the end).
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

/// Rows of the next three-panel tile (`GEMMWidePanelShape`): `gemmWideTripleRows`, except that
/// up to three more go as two near-equal tiles.
@inline(__always)
func gemmWideNextTripleRows(_ left: Int) -> Int {
    let most = gemmWideTripleRows
    return left > most && left < most + 4 ? (left + 1) / 2 : min(most, left)
}

/// Rows of a three-panel tile: 6 (18 accumulators). On a Xeon (1 thread, warm caches, best of 15)
/// against a pair and a single panel: M = 12544, K = 16, N = 48 (MNASNet's 112x112 expansion)
/// 0.207 -> 0.156-0.166 ms; 1568 x 64 x 48 142 -> 161 GFLOP/s; 3136 x 24 x 144 118 -> 126-128;
/// 196 x 112 x 112 152 -> 165. Tiles of 7 rows were level with 6 on the large shapes and slower on
/// the small ones; 8 (24 accumulators) were slower than 6 everywhere. `KITE_GEMM_TRIPLE_ROWS` sets
/// it for A/B runs (1...8; 0 leaves three panels to a pair and a single panel).
nonisolated(unsafe) var gemmWideTripleRows: Int = {
    guard let text = environmentValue("KITE_GEMM_TRIPLE_ROWS"), let rows = Int(text), (0...8).contains(rows) else { return 6 }
    return rows
}()

/// Panel-major order: for each row block, each pair of panels sweeps the block's rows (the pair's
/// K-block weights, 32 KiB, stay in L1).
@inline(never)
func gemmWideDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: gemmWideSpillFloats) { spill in
        gemmWideDriver(g, act, ix, spill: spill.baseAddress!)
    }
}

@inline(__always)
func gemmWideDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I,
                                                      spill: UnsafeMutablePointer<Float>) {
    let block = gemmWideRowBlock(rows: g.rows.count, k: g.kLength, n: g.panels.count * PackedGEMMWeights.panelWidth)
    let streams = gemmWideWeightsStream(g)
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        var p = g.panels.lowerBound
        while p < g.panels.upperBound {
            let shape = gemmWidePanelShape(g, from: p, to: g.panels.upperBound)
            let next = p + shape.panels
            var m = m0, tile = 0
            while m < m1 {
                let rows = shape.full == 3 ? gemmWideNextTripleRows(m1 - m) : gemmWideNextTileRows(m1 - m)
                // The first two tiles of a panel pair ask for the next pair's weights, one panel each.
                let ahead = streams && tile < 2 && next + tile < g.panels.upperBound ? GEMMPanelPrefetch(g, panel: next + tile) : GEMMPanelPrefetch()
                gemmWideTileRows(rows, shape, act, ix, g, m: m, panel: p, spill: spill, ahead: ahead)
                m += rows
                tile += 1
            }
            p = next
        }
        m0 = m1
    }
}

/// Whether the weights come from L3 or memory (more than half of L2, see `gemmWideRowBlock`),
/// so that the tiles ask for the next weight panels ahead (`GEMMPanelPrefetch`).
@inline(__always)
func gemmWideWeightsStream(_ g: GEMMArguments) -> Bool {
    gemmWeightPrefetch && 4 * g.kLength * g.panels.count * PackedGEMMWeights.panelWidth > CacheSizes.level2OrDefault / 2
}

/// Whether the wide tiles may prefetch weight panels; `KITE_GEMM_PREFETCH=0` turns it off (A/B runs).
nonisolated(unsafe) var gemmWeightPrefetch = environmentValue("KITE_GEMM_PREFETCH") != "0"

/// A weight panel a tile asks L2 for, one 64-byte line (one k of 16 columns) per step of its K loop.
///
/// A panel pair sweeps the block's rows with its weights in L2, but the first tile of the next
/// pair waited on each line from L3 or memory: weights larger than L2 are evicted between
/// inferences. The tiles of the current pair ask for the next one's lines while they compute, so
/// the first tile finds them in L2. (Rows-outer sweeps do not ask: a sweep's 16 panels, 1 MB at
/// K = 1024, and the next sweep's did not fit L2 together, and ResNeXt-50's residual GEMMs got
/// 5-10% slower; GEMMs whose weights stream keep panel order instead, see `GEMMArguments.run`.)
struct GEMMPanelPrefetch {
    /// The panel's line for the tile's first k; nil asks for nothing.
    var start: UnsafeRawPointer? = nil

    init() {}

    @inline(__always)
    init(_ g: GEMMArguments, panel: Int) {
        start = UnsafeRawPointer(g.weights.panels + panel * g.weights.panelStride + g.k0 * PackedGEMMWeights.panelWidth)
    }
}

/// Rows per cache block of the wide drivers: equal blocks of at most 3/4 of L2 in A rows (and
/// C rows, with small weights).
///
/// A row block sweeps every weight panel, so each block streams the whole weights (0.5-8 MiB in
/// ResNeXt-50, from memory) once more. The 256 KiB blocks of the 8-lane kernels split a 14x14
/// map with K = 1024 into blocks of 64, 64, 64 and 4 rows: four passes over the weights, the last
/// for 4 rows. With a tile's panel pair (up to 256 KiB at K = 2048) the block still fits this
/// core's 1 MiB L2. Alternated runs in one process, 1 thread: ResNeXt-50 0.97-0.99 of the time
/// (its 7x7 K = 2048 layers 0.88), Xception 0.97, MobileNetV1/V2 and SqueezeNet level.
///
/// The 768 KiB were three quarters of that Zen 4's L2; the budget is now three quarters of the
/// core's L2 as the OS reports it, and it holds the block's C rows too when the weights are small
/// (at most half of L2): C streams through L2 and evicted A rows between panel pairs. When the
/// weights are larger, they stream from L3 once per block, and the block holds A rows only. On a
/// Xeon with 2 MiB of L2, 1 thread, alternated profiles of Xception: its 24 19x19 GEMMs with
/// K = N = 728 (2.1 MB of weights) in one block instead of two, 69.4-69.6 -> 65.5-66.0 ms in
/// all. Its 74x74 ones (K, N = 128-256) in blocks of 1369 rows, A rows only, took 7.4-7.6 ->
/// 8.2-8.5 ms; with the C rows in the budget they keep blocks of 685 rows (7.4 ms).
@inline(__always)
func gemmWideRowBlock(rows: Int, k: Int, n: Int) -> Int {
    let weightsBytes = 4 * k * n
    let bytesPerRow = 4 * max(1, weightsBytes > CacheSizes.level2OrDefault / 2 ? k : k + n)
    let limit = max(8, gemmWideRowBlockBytes / bytesPerRow)
    let blocks = (rows + limit - 1) / limit
    return max(1, (rows + blocks - 1) / max(blocks, 1))
}

/// Bytes of A rows (and C rows, see `gemmWideRowBlock`) in one row block of the wide drivers:
/// three quarters of the core's L2.
let gemmWideRowBlockBytes = CacheSizes.level2OrDefault * 3 / 4

/// Rows-outer order (GEMMs with a residual and many panels; see `gemmRowsOuterDriver`).
@inline(never)
func gemmWideRowsOuterDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: gemmWideSpillFloats) { spill in
        gemmWideRowsOuterDriver(g, act, ix, spill: spill.baseAddress!)
    }
}

@inline(__always)
func gemmWideRowsOuterDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I,
                                                               spill: UnsafeMutablePointer<Float>) {
    let block = gemmWideRowBlock(rows: g.rows.count, k: g.kLength, n: g.panels.count * PackedGEMMWeights.panelWidth)
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
                    let shape = gemmWidePanelShape(g, from: p, to: p1)
                    gemmWideTileRows(rows, shape, act, ix, g, m: m, panel: p, spill: spill)
                    p += shape.panels
                }
                m += rows
            }
            p0 = p1
        }
        m0 = m1
    }
}

/// The panels one tile covers: up to two full 16-column panels, then possibly the weights' last
/// panel as a half panel of 8-lane vectors when it holds 8 or fewer valid columns.
///
/// This core splits a 16-lane FMA into two 8-lane halves (two 8-lane FMAs a cycle, or one
/// 16-lane), so an 8-lane accumulator costs half of a 16-lane one: N = 16 k + 4 or 16 k + 8
/// (20, 24, 40, 72, 120, 184, 200, 232 channels) wastes at most 4 lanes instead of 8-12.
struct GEMMWidePanelShape {
    /// Full 16-column panels (0 to 3; at most 1 with a half panel; 3 only when all are whole).
    let full: Int
    /// Whether an 8-column half panel follows them.
    let half: Bool
    var panels: Int { full + (half ? 1 : 0) }
}

/// The tile shape for panels `[p, end)`: the last panel of the weights goes as a half panel,
/// with the full panel before it when that one is not part of a pair; other panels go in pairs.
/// (Two full panels and a half, 24 accumulators, spilled registers in the K loop.)
@inline(__always)
func gemmWidePanelShape(_ g: GEMMArguments, from p: Int, to end: Int) -> GEMMWidePanelShape {
    let nr = PackedGEMMWeights.panelWidth
    let halfLast = end == g.weights.panelCount && g.weights.outputChannels - (end - 1) * nr <= nr / 2
    let fullLeft = end - p - (halfLast ? 1 : 0)
    if halfLast && fullLeft <= 1 { return GEMMWidePanelShape(full: fullLeft, half: true) }
    // Three panels left, all whole: one tile, instead of a pair and a single panel whose tiles
    // load a broadcast for every FMA.
    if fullLeft == 3 && !halfLast && gemmWideTripleRows > 0 && (p + 3) * nr <= g.weights.outputChannels {
        return GEMMWidePanelShape(full: 3, half: false)
    }
    return GEMMWidePanelShape(full: min(2, fullLeft), half: false)
}

/// Floats between the spill area's rows: the widest tile shapes, 2 panels or 1 and a half.
let gemmWideSpillRow = 32
/// Floats of the spill area: 8 rows, 1 KiB. `withUnsafeTemporaryAllocation` puts up to 1 KiB on
/// the stack and asks `malloc` for more: at 1.5 KiB every GEMM call allocated and freed its
/// spill area (3% of a Winograd layer of 36 small GEMMs per batch of tiles).
let gemmWideSpillFloats = 8 * gemmWideSpillRow

/// A tile of `rows` (1...8) rows over the panels `shape` names, starting at `panel`.
///
/// The tile itself stores only whole 16- or 8-lane vectors. A last panel with another count of
/// valid columns goes to `spill` (bias added) and is finished here, out of the tile: a call in
/// the tile's epilogue made the compiler save every accumulator to the stack before it, in
/// every tile. Without any call, 1-thread GEMMs with the rows in L2: K = 20, N = 80 77 -> 104
/// GFLOP/s; K = 24, N = 24 62 -> 96; K = 40, N = 160 94 -> 109; K = 256, N = 256 110 -> 115.
@inline(__always)
func gemmWideTileRows<A: VectorActivation, I: AIndexing>(
    _ rows: Int, _ shape: GEMMWidePanelShape, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int,
    spill: UnsafeMutablePointer<Float>, ahead: GEMMPanelPrefetch = GEMMPanelPrefetch()
) {
    switch (shape.full, shape.half) {
    case (3, false):
        // Rows-outer sweeps choose rows before shapes: cap them here.
        var r = 0
        while r < rows {
            let part = gemmWideNextTripleRows(rows - r)
            gemmWideTileRows(part, Count3.self, Count0.self, act, ix, g, m: m + r, panel: panel, spill: spill, ahead: ahead)
            r += part
        }
    case (2, false): gemmWideTileRows(rows, Count2.self, Count0.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case (1, false): gemmWideTileRows(rows, Count1.self, Count0.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case (1, true): gemmWideTileRows(rows, Count1.self, Count1.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    default: gemmWideTileRows(rows, Count0.self, Count1.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    }
    let nr = PackedGEMMWeights.panelWidth
    let last = panel + shape.panels - 1
    guard last == g.weights.panelCount - 1 else { return }
    let cols = g.weights.outputChannels - last * nr
    let whole = shape.half ? cols == nr / 2 : cols == nr
    if !whole { gemmWideFinishSpilled(rows, act, g, m: m, column: last * nr, cols: cols, spill: spill + (last - panel) * nr) }
}

/// Residual, activation and store of the spilled columns of a tile's last panel.
@inline(never)
func gemmWideFinishSpilled<A: VectorActivation>(
    _ rows: Int, _ act: A, _ g: GEMMArguments, m: Int, column: Int, cols: Int, spill: UnsafeMutablePointer<Float>
) {
    for r in 0..<rows {
        let c = g.c + (m + r) * g.ldc + column
        let res = g.residual.map { $0 + (m + r) * g.ldr + column }
        gemmStorePartialRow16(load16(spill + r * gemmWideSpillRow), act, c, res, cols)
    }
}

/// The run-time row count picks the compile-time tile variant.
@inline(__always)
func gemmWideTileRows<P: StaticCount, H: StaticCount, A: VectorActivation, I: AIndexing>(
    _ rows: Int, _: P.Type, _: H.Type, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int,
    spill: UnsafeMutablePointer<Float>, ahead: GEMMPanelPrefetch
) {
    switch rows {
    case 8: gemmWideTile(Count8.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 7: gemmWideTile(Count7.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 6: gemmWideTile(Count6.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 5: gemmWideTile(Count5.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 4: gemmWideTile(Count4.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 3: gemmWideTile(Count3.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    case 2: gemmWideTile(Count2.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    default: gemmWideTile(Count1.self, P.self, H.self, act, ix, g, m: m, panel: panel, spill: spill, ahead: ahead)
    }
}

/// One micro-tile: `Rows` (1...8) rows x `Full` (0...3) panels of 16 columns and `Half` (0 or 1)
/// half panel of 8; K-loop over the packed panels, then the fused epilogue.
@inline(never)
func gemmWideTile<Rows: StaticCount, Full: StaticCount, Half: StaticCount, A: VectorActivation, I: AIndexing>(
    _: Rows.Type, _: Full.Type, _: Half.Type, _ act: A, _ ix: I, _ g: GEMMArguments, m: Int, panel: Int,
    spill: UnsafeMutablePointer<Float>, ahead: GEMMPanelPrefetch
) {
    let R = Rows.value
    let one = Full.value >= 1
    let two = Full.value >= 2
    let three = Full.value == 3
    let half = Half.value == 1
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
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c02 = SIMD16<Float>(), h0 = SIMD8<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c12 = SIMD16<Float>(), h1 = SIMD8<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c22 = SIMD16<Float>(), h2 = SIMD8<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c32 = SIMD16<Float>(), h3 = SIMD8<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c42 = SIMD16<Float>(), h4 = SIMD8<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>(), c52 = SIMD16<Float>(), h5 = SIMD8<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c62 = SIMD16<Float>(), h6 = SIMD8<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>(), c72 = SIMD16<Float>(), h7 = SIMD8<Float>()
    let panelStride = g.weights.panelStride
    var bp = g.weights.panels + panel * panelStride + g.k0 * nr
    let secondOffset = two ? panelStride : 0
    let thirdOffset = three ? 2 * panelStride : 0
    let halfOffset = Full.value * panelStride
    // Without a panel to ask for, the request goes to the tile's own (L1) line and costs a load slot.
    var pf = ahead.start ?? UnsafeRawPointer(bp)
    let pfStep = ahead.start == nil ? 0 : 4 * nr
    for kk in 0..<k {
        prefetchToLevel2(pf)
        pf += pfStep
        let b0 = one ? load16(bp) : SIMD16<Float>()
        let b1 = two ? load16(bp + secondOffset) : SIMD16<Float>()
        let b2 = three ? load16(bp + thirdOffset) : SIMD16<Float>()
        let bh = half ? load8(bp + halfOffset) : SIMD8<Float>()
        bp += nr
        do {
            let s = ix.load(a0, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c00 = c00.addingProduct(x, b0) }
            if two { c01 = c01.addingProduct(x, b1) }
            if three { c02 = c02.addingProduct(x, b2) }
            if half { h0 = h0.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 1 {
            let s = ix.load(a1, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c10 = c10.addingProduct(x, b0) }
            if two { c11 = c11.addingProduct(x, b1) }
            if three { c12 = c12.addingProduct(x, b2) }
            if half { h1 = h1.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 2 {
            let s = ix.load(a2, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c20 = c20.addingProduct(x, b0) }
            if two { c21 = c21.addingProduct(x, b1) }
            if three { c22 = c22.addingProduct(x, b2) }
            if half { h2 = h2.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 3 {
            let s = ix.load(a3, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c30 = c30.addingProduct(x, b0) }
            if two { c31 = c31.addingProduct(x, b1) }
            if three { c32 = c32.addingProduct(x, b2) }
            if half { h3 = h3.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 4 {
            let s = ix.load(a4, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c40 = c40.addingProduct(x, b0) }
            if two { c41 = c41.addingProduct(x, b1) }
            if three { c42 = c42.addingProduct(x, b2) }
            if half { h4 = h4.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 5 {
            let s = ix.load(a5, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c50 = c50.addingProduct(x, b0) }
            if two { c51 = c51.addingProduct(x, b1) }
            if three { c52 = c52.addingProduct(x, b2) }
            if half { h5 = h5.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 6 {
            let s = ix.load(a6, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c60 = c60.addingProduct(x, b0) }
            if two { c61 = c61.addingProduct(x, b1) }
            if three { c62 = c62.addingProduct(x, b2) }
            if half { h6 = h6.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
        if R > 7 {
            let s = ix.load(a7, kk)
            let x = SIMD16<Float>(repeating: s)
            if one { c70 = c70.addingProduct(x, b0) }
            if two { c71 = c71.addingProduct(x, b1) }
            if three { c72 = c72.addingProduct(x, b2) }
            if half { h7 = h7.addingProduct(SIMD8<Float>(repeating: s), bh) }
        }
    }
    let n = g.weights.outputChannels
    let col = panel * nr
    // (Plain comparisons: in the larger tile variants `min` stayed a call.)
    let cols0 = one ? (n - col >= nr ? nr : n - col) : 0
    let cols1 = two ? (n - col - nr >= nr ? nr : n - col - nr) : 0
    let colH = col + Full.value * nr
    let colsH = half ? n - colH : 0
    let bias0 = one ? load16(g.bias + col) : SIMD16<Float>()
    let bias1 = two ? load16(g.bias + col + nr) : SIMD16<Float>()
    let bias2 = three ? load16(g.bias + col + 2 * nr) : SIMD16<Float>()
    let biasH = half ? load8(g.bias + colH) : SIMD8<Float>()
    let ldc = g.ldc, ldr = g.ldr
    let cp = g.c + m * ldc + col
    let rp = g.residual
    let r0 = m * ldr + col
    let hOff = Full.value * nr
    gemmWideStoreRow(c00, c01, c02, h0, one, two, three, half, bias0, bias1, bias2, biasH, act, cp, rp, r0, cols0, cols1, hOff, colsH, spill)
    if R > 1 { gemmWideStoreRow(c10, c11, c12, h1, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + ldc, rp, r0 + ldr, cols0, cols1, hOff, colsH, spill + 1 * gemmWideSpillRow) }
    if R > 2 { gemmWideStoreRow(c20, c21, c22, h2, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 2 * ldc, rp, r0 + 2 * ldr, cols0, cols1, hOff, colsH, spill + 2 * gemmWideSpillRow) }
    if R > 3 { gemmWideStoreRow(c30, c31, c32, h3, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 3 * ldc, rp, r0 + 3 * ldr, cols0, cols1, hOff, colsH, spill + 3 * gemmWideSpillRow) }
    if R > 4 { gemmWideStoreRow(c40, c41, c42, h4, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 4 * ldc, rp, r0 + 4 * ldr, cols0, cols1, hOff, colsH, spill + 4 * gemmWideSpillRow) }
    if R > 5 { gemmWideStoreRow(c50, c51, c52, h5, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 5 * ldc, rp, r0 + 5 * ldr, cols0, cols1, hOff, colsH, spill + 5 * gemmWideSpillRow) }
    if R > 6 { gemmWideStoreRow(c60, c61, c62, h6, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 6 * ldc, rp, r0 + 6 * ldr, cols0, cols1, hOff, colsH, spill + 6 * gemmWideSpillRow) }
    if R > 7 { gemmWideStoreRow(c70, c71, c72, h7, one, two, three, half, bias0, bias1, bias2, biasH, act, cp + 7 * ldc, rp, r0 + 7 * ldr, cols0, cols1, hOff, colsH, spill + 7 * gemmWideSpillRow) }
}

/// Epilogue for one tile row: its full panels' 16 columns (`cols0`, `cols1` of them valid; a
/// third panel's all valid) and the half panel's `colsH` columns at `hOff`. A vector whose columns are not all valid goes to
/// `spill` (with the bias), for `gemmWideFinishSpilled`.
///
/// Transparent, and the residual row given as an offset from one base: with `@inline(__always)`
/// and a per-row `Optional.map`, the larger tiles kept four of these rows and their closures as
/// calls (and saved every accumulator to the stack around them).
@_transparent
func gemmWideStoreRow<A: VectorActivation>(
    _ v0: SIMD16<Float>, _ v1: SIMD16<Float>, _ v2: SIMD16<Float>, _ vh: SIMD8<Float>,
    _ one: Bool, _ two: Bool, _ three: Bool, _ half: Bool,
    _ bias0: SIMD16<Float>, _ bias1: SIMD16<Float>, _ bias2: SIMD16<Float>, _ biasH: SIMD8<Float>, _ act: A,
    _ c: UnsafeMutablePointer<Float>, _ resBase: UnsafePointer<Float>?, _ resOffset: Int,
    _ cols0: Int, _ cols1: Int, _ hOff: Int, _ colsH: Int, _ spill: UnsafeMutablePointer<Float>
) {
    if one {
        var x = v0 + bias0
        if cols0 == 16 {
            if let resBase { x += load16(resBase + resOffset) }
            store16(act(x), c)
        } else {
            store16(x, spill)
        }
    }
    if two {
        var x = v1 + bias1
        if cols1 == 16 {
            if let resBase { x += load16(resBase + (resOffset + 16)) }
            store16(act(x), c + 16)
        } else {
            store16(x, spill + 16)
        }
    }
    if three {
        // Three-panel tiles cover whole panels only (`gemmWidePanelShape`).
        var x = v2 + bias2
        if let resBase { x += load16(resBase + (resOffset + 32)) }
        store16(act(x), c + 32)
    }
    if half {
        var x = vh + biasH
        if colsH == 8 {
            if let resBase { x += load8(resBase + (resOffset + hOff)) }
            store8(act(x), c + hOff)
        } else {
            store8(x, spill + hOff)
        }
    }
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
