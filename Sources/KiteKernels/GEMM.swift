// Register-tiled GEMM for pointwise (1x1) convolutions and fully-connected layers with many rows.

/// `C[m, n] = act(sum_k A[m, k] * B[n, k] + bias[n] + residual[m, n])` over packed weights.
///
/// A is M rows (pixels) of K input channels with row stride `lda` (the input pixel stride, so A
/// may be a channel slice of a wider NHWC buffer); C and the residual likewise have their own
/// strides. With AVX-512 the micro-kernel computes 8 rows x 32 columns with 16 16-lane
/// accumulators (GEMMWide.swift); otherwise 6 rows x 16 columns with 12 8-lane accumulators.
/// Bias, residual and activation are applied in the epilogue while the tile is in registers.
public enum GEMM {
    /// Rows computed per micro-kernel call (MR).
    public static let tileRows = 6
    /// Columns per weight panel (NR).
    public static let tileColumns = PackedGEMMWeights.panelWidth

    /// Computes rows `rows` x output channels of panels `panels` of C.
    ///
    /// Threads may split the work by rows, by panels, or both; every (row, panel) pair is
    /// written by exactly one call. Columns `>= weights.outputChannels` are never written.
    ///
    /// - Parameters:
    ///   - a: A, row m at `a + m * lda`, K = `weights.inputChannels` floats per row.
    ///   - lda: floats between consecutive rows of A (>= K).
    ///   - weights: packed B and bias.
    ///   - c: C, row m at `c + m * ldc`, N = `weights.outputChannels` floats per row.
    ///   - ldc: floats between consecutive rows of C (>= N).
    ///   - residual: optional tensor added before the activation, row m at `residual + m * ldr`
    ///     (may alias `c` exactly, i.e. `residual == c` and `ldr == ldc`).
    ///   - ldr: floats between consecutive rows of the residual.
    ///   - activation: applied last.
    ///   - rows: the row range `[m0, m1)` to compute.
    ///   - panels: the panel range (16 output channels each) to compute; defaults to all.
    public static func run(
        a: UnsafePointer<Float>, lda: Int,
        weights: PackedGEMMWeights,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        residual: UnsafePointer<Float>? = nil, ldr: Int = 0,
        activation: KernelActivation = .none,
        rows: Range<Int>, panels: Range<Int>? = nil
    ) {
        run(a: a, lda: lda, offsets: nil, weights: weights, c: c, ldc: ldc, residual: residual, ldr: ldr,
            activation: activation, rows: rows, panels: panels)
    }

    /// `run` over rows whose K elements may be scattered: with `offsets`, element k of row m is
    /// `(a + m * lda)[offsets[k]]`. A channel-permuted or index-selected view of an NHWC buffer
    /// is read this way with no copy (the micro-kernel broadcasts A elements one by one anyway).
    public static func run(
        a: UnsafePointer<Float>, lda: Int, offsets: UnsafePointer<Int>?,
        weights: PackedGEMMWeights,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        residual: UnsafePointer<Float>? = nil, ldr: Int = 0,
        activation: KernelActivation = .none,
        rows: Range<Int>, panels: Range<Int>? = nil
    ) {
        let panels = panels ?? 0..<weights.panelCount
        precondition(panels.lowerBound >= 0 && panels.upperBound <= weights.panelCount, "panel range out of bounds")
        if rows.isEmpty || panels.isEmpty { return }
        let args = GEMMArguments(a: a, lda: lda, offsets: offsets, weights: weights, c: c, ldc: ldc,
                                 residual: residual, ldr: ldr, rows: rows, panels: panels)
        activation.visit(args)
    }

    /// The micro-kernel this process runs, for profiles: 8 x 32 with AVX-512, 6 x 16 otherwise.
    public static var kernelName: String { wideVectorKernels ? "gemm-8x32" : "gemm-6x16" }

    /// Floating-point operations of a full GEMM (2 M N K), for throughput reports.
    public static func flops(m: Int, n: Int, k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }
}

@usableFromInline
struct GEMMArguments: ActivationVisitor {
    var a: UnsafePointer<Float>
    let lda: Int
    /// When set, element k of row m is `(a + m * lda)[offsets[k]]` (implicit im2col).
    var offsets: UnsafePointer<Int>?
    let weights: PackedGEMMWeights
    var c: UnsafeMutablePointer<Float>
    let ldc: Int
    var residual: UnsafePointer<Float>?
    var ldr: Int
    let rows: Range<Int>
    let panels: Range<Int>
    /// Bias of the panels (the packed bias, or zeros for K blocks after the first).
    var bias: UnsafePointer<Float>
    /// First reduction index this call covers (K blocking).
    var k0 = 0
    /// Reduction length this call covers.
    var kLength: Int

    init(a: UnsafePointer<Float>, lda: Int, offsets: UnsafePointer<Int>?, weights: PackedGEMMWeights,
         c: UnsafeMutablePointer<Float>, ldc: Int, residual: UnsafePointer<Float>?, ldr: Int,
         rows: Range<Int>, panels: Range<Int>) {
        self.a = a
        self.lda = lda
        self.offsets = offsets
        self.weights = weights
        self.c = c
        self.ldc = ldc
        self.residual = residual
        self.ldr = ldr
        self.rows = rows
        self.panels = panels
        bias = weights.bias
        kLength = weights.inputChannels
    }

    @usableFromInline
    func visit<A: VectorActivation>(_ act: A) {
        let k = weights.inputChannels
        if k <= gemmBlockK + gemmBlockK / 2 {
            run(act)
            return
        }
        // K blocking: each block's B panels (blockK x 16 floats) stay in L1 while the row block's
        // tiles sweep them. The first block adds bias and residual and stores partial sums; the
        // next ones add onto C (as a residual aliasing C); only the last applies the activation.
        let blocks = (k + gemmBlockK - 1) / gemmBlockK
        // Equal row blocks (a 196-row map in one 192-row block and a 4-row one would stream the
        // weights twice for almost nothing).
        let limit = gemmRowBlock(k: k / blocks)
        let rowBlocks = (rows.count + limit - 1) / limit
        let rowBlock = ((rows.count + rowBlocks - 1) / max(rowBlocks, 1) + GEMM.tileRows - 1) / GEMM.tileRows * GEMM.tileRows
        var m0 = rows.lowerBound
        while m0 < rows.upperBound {
            let m1 = min(rows.upperBound, m0 + rowBlock)
            for blk in 0..<blocks {
                let kb = k * blk / blocks, ke = k * (blk + 1) / blocks
                var part = GEMMArguments(a: a, lda: lda, offsets: offsets, weights: weights, c: c, ldc: ldc,
                                         residual: residual, ldr: ldr, rows: m0..<m1, panels: panels)
                part.k0 = kb
                part.kLength = ke - kb
                if offsets != nil { part.offsets = offsets! + kb } else { part.a = a + kb }
                if blk > 0 {
                    part.bias = weights.zeros
                    part.residual = UnsafePointer(c)
                    part.ldr = ldc
                }
                if blk == blocks - 1 { part.run(act) } else { part.run(IdentityActivation()) }
            }
            m0 = m1
        }
    }

    func run<A: VectorActivation>(_ act: A) {
        // Rows-outer order: each tile of rows runs across a group of panels, so C (and the
        // residual) is written and read in runs of whole rows the prefetchers follow, instead of
        // one 64-byte piece per row at a stride, and A's tile is read from memory once.
        // 16-lane kernels (Zen 4): with a residual and 16 or more panels only; with the residual
        // out of cache 5-30% faster for N of 256-2048 (ResNeXt), 7-16% slower for N of 24-160
        // (MobileNetV2). 8-lane kernels (Zen 2): from 4 panels, with or without a residual; with
        // A, B and C out of cache 0.72-0.91 of the panel-order time for M of 784-21609 and N of
        // 96-1024 at K of 16-256 (MobileNetV1/V2, Xception's entry flow), level for K of 512-1024;
        // with warm caches 0.95-1.0. In networks (alternated runs) level, ResNeXt-50 0.98.
        // 16-lane weights that stream from L3 (`gemmWideWeightsStream`) keep panel order, whose
        // tiles ask for the next panel pair ahead: on a Xeon, 1 thread, ResNeXt-50's 7x7 layers
        // with N = 2048 took 6.5-6.6 ms against 7.4-7.6 rows-outer, its 14x14 ones with N = 1024
        // 12.3-12.4 against 12.5-12.7.
        let rowsOuter = gemmRowsOuter && (wideVectorKernels
            ? (residual != nil && panels.count >= gemmRowsOuterPanels || gemmWideOutputStreams(self)) && !gemmWideWeightsStream(self)
            : panels.count >= gemmRowsOuterMinimumPanels)
        if wideVectorKernels {
            if let offsets {
                if rowsOuter { gemmWideRowsOuterDriver(self, act, OffsetIndexing(offsets: offsets)) } else { gemmWideDriver(self, act, OffsetIndexing(offsets: offsets)) }
            } else {
                if rowsOuter { gemmWideRowsOuterDriver(self, act, DirectIndexing()) } else { gemmWideDriver(self, act, DirectIndexing()) }
            }
            return
        }
        if let offsets {
            if rowsOuter { gemmRowsOuterDriver(self, act, OffsetIndexing(offsets: offsets)) } else { gemmDriver(self, act, OffsetIndexing(offsets: offsets)) }
        } else {
            if rowsOuter { gemmRowsOuterDriver(self, act, DirectIndexing()) } else { gemmDriver(self, act, DirectIndexing()) }
        }
    }
}

/// Reduction length of one K block. 8-lane kernels: 1024, so that K up to 1536 runs unblocked;
/// a tile then reads its panel (up to 96 KiB) from L2. Blocks of 256, whose panels stay in L1,
/// measured 2-6% slower on a Zen 2 (AVX2) with the weights from memory, for M of 49-1369 and K
/// of 512-1024 (MobileNetV1, MNASNet, Xception, ResNeXt-50 shapes): the partial sums' extra
/// passes over C cost more than L2 reads of B, which the L1 prefetcher streams.
/// 16-lane kernels: 2048, so that K up to 3072 runs unblocked and C is written once. A tile then
/// streams its panel pair's B from L2 (16 bytes a cycle at full FMA rate, well within it), and
/// the partial sums no longer make extra passes over C: paired profiles at 1 thread, 7x7 maps
/// with K of 960-2048 took 0.84-0.92 of the blocked time (MobileNetV1/V2, ResNeXt-50), 19x19
/// with K = 728 0.94 (Xception); larger maps were level.
@inline(__always)
var gemmBlockK: Int { wideVectorKernels ? 2048 : 1024 }

/// Rows per cache block: about 256 KiB of A rows so that a block stays in L2 while every
/// weight panel of the range streams over it (a 14x14 map's 196 rows of a 256-deep K block are
/// one block, so its weights stream from memory once).
@inline(__always)
func gemmRowBlock(k: Int) -> Int {
    let rows = max(GEMM.tileRows, (64 * 1024) / max(k, 1))
    return (rows / GEMM.tileRows) * GEMM.tileRows
}

/// How the micro-kernels read element k of an A row.
protocol AIndexing {
    func load(_ row: UnsafePointer<Float>, _ k: Int) -> Float
}

/// Plain rows: `row[k]`.
struct DirectIndexing: AIndexing {
    @inline(__always) func load(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[k] }
}

/// Implicit im2col: `row[offsets[k]]`, where a row points at the top-left input pixel of an
/// output pixel's window and `offsets[k]` locates tap/channel k relative to it.
struct OffsetIndexing: AIndexing {
    let offsets: UnsafePointer<Int>
    @inline(__always) func load(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[offsets[k]] }
}

@inline(never)
func gemmDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    let k = g.kLength
    let n = g.weights.outputChannels
    let nr = PackedGEMMWeights.panelWidth
    let panelStride = g.weights.panelStride
    let block = gemmRowBlock(k: k)
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        var p = g.panels.lowerBound
        while p < g.panels.upperBound {
            defer { p += 1 }
            let cols = min(nr, n - p * nr)
            if cols == nr && p + 2 == g.panels.upperBound && n - (p + 1) * nr <= 8 {
                // A full panel followed by a narrow last one: 4 x 24 tiles (3 loads and
                // 4 broadcasts per 12 FMAs) instead of a 6 x 16 tile plus a narrow tile.
                let b = g.weights.panels + p * panelStride + g.k0 * nr
                let bias = g.bias + p * nr
                let tail = n - (p + 1) * nr
                var m = m0
                if gemmShortK24 && gemmShortK(k) && m1 - m >= 3 {
                    let tiles = (m1 - m) / 3
                    gemmShortK24Tiles(k: k, act, ix, g, a: g.a + m * g.lda, aStep: 3 * g.lda,
                                      c: g.c + m * g.ldc + p * nr, cStep: 3 * g.ldc,
                                      residual: g.residual.map { $0 + m * g.ldr + p * nr }, residualStep: 3 * g.ldr,
                                      b: b, panelStride: panelStride, bias: bias, tail: tail, count: tiles)
                    m += tiles * 3
                }
                while m + 3 <= m1 {
                    gemmTile24(Count3.self, act, ix, g, k: k, m: m, col: p * nr, b: b, panelStride: panelStride, bias: bias, tail: tail)
                    m += 3
                }
                switch m1 - m {
                case 1: gemmTile24(Count1.self, act, ix, g, k: k, m: m, col: p * nr, b: b, panelStride: panelStride, bias: bias, tail: tail)
                case 2: gemmTile24(Count2.self, act, ix, g, k: k, m: m, col: p * nr, b: b, panelStride: panelStride, bias: bias, tail: tail)
                default: break
                }
                p += 1
                continue
            }
            let b = g.weights.panels + p * panelStride + g.k0 * nr
            let bias = g.bias + p * nr
            var m = m0
            if cols > 8 {
                if cols == nr && m1 - m >= GEMM.tileRows && gemmShortK(k) {
                    let tiles = (m1 - m) / GEMM.tileRows
                    gemmShortKTiles(k: k, act, ix, g, a: g.a + m * g.lda, aStep: GEMM.tileRows * g.lda,
                                    c: g.c + m * g.ldc + p * nr, cStep: GEMM.tileRows * g.ldc,
                                    residual: g.residual.map { $0 + m * g.ldr + p * nr }, residualStep: GEMM.tileRows * g.ldr,
                                    b: b, bStep: 0, bias: bias, biasStep: 0, count: tiles)
                    m += tiles * GEMM.tileRows
                }
                while m < m1 {
                    let rows = gemmNextTileRows(m1 - m)
                    gemmTileRows(rows, wide: true, act, ix, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                    m += rows
                }
            } else {
                // At most 8 valid columns: only the first half of the panel is computed,
                // 12 rows at a time so that 12 accumulators hide the FMA latency.
                while m + 12 <= m1 {
                    gemmTileNarrow12(act, ix, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                    m += 12
                }
                while m + 6 <= m1 {
                    gemmTile(Count6.self, Count8.self, act, ix, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                    m += 6
                }
                if m < m1 { gemmTileRows(m1 - m, wide: false, act, ix, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols) }
            }
        }
        m0 = m1
    }
}

/// Whether GEMMs may run rows-outer (a variable so that benchmarks and tests can compare;
/// `KITE_GEMM_ROWS_OUTER=0` in the environment turns it off).
nonisolated(unsafe) var gemmRowsOuter = environmentValue("KITE_GEMM_ROWS_OUTER") != "0"

/// Whether a 16-lane GEMM of 4 or more panels writes more C than L2 holds (so C goes out to L3 or
/// memory) with a rows-outer panel group of at most 256 KiB of weights: rows-outer order then
/// writes C in whole rows. On a Xeon, 1 thread, Xception: 74x74, K = 128, N = 256 2.73 -> 2.54 ms,
/// its 1x1 stride-2 shortcut with K = 64 1.17 -> 1.01; 37x37 with K = 256 and 728 (groups of 262
/// and 745 KiB, read from L2 by every tile of rows) were level or 1% slower, so they keep panel
/// order; MobileNetV1/V2, MNASNet, SqueezeNet and TinyDarkNet level. `KITE_GEMM_ROWS_OUTER_C=0`
/// turns it off (A/B runs).
@inline(__always)
func gemmWideOutputStreams(_ g: GEMMArguments) -> Bool {
    let nr = PackedGEMMWeights.panelWidth
    return gemmRowsOuterLargeOutput && g.panels.count >= gemmRowsOuterMinimumPanels
        && 4 * g.kLength * min(g.panels.count, gemmRowsOuterPanels) * nr <= 256 * 1024
        && 4 * g.rows.count * g.panels.count * nr > CacheSizes.level2OrDefault
}

nonisolated(unsafe) var gemmRowsOuterLargeOutput = environmentValue("KITE_GEMM_ROWS_OUTER_C") != "0"

/// Panels one rows-outer sweep of the 16-lane kernels covers: 256 columns, whose K-block weights
/// (up to 256 KiB) stay in L2.
let gemmRowsOuterPanels = 16

/// Fewest panels the 8-lane kernels run rows-outer (narrower GEMMs keep panel order and its
/// 4 x 24 tiles for a narrow last panel).
let gemmRowsOuterMinimumPanels = 4

/// Panels one rows-outer sweep of the 8-lane kernels covers: 4 to 16, as many as keep the group's
/// weights within 256 KiB (half of a Zen 2's L2), so that they stay in L2 while the tiles sweep them.
@inline(__always)
func gemmRowsOuterGroup(k: Int) -> Int {
    let fitting = (256 * 1024) / max(1, k * PackedGEMMWeights.panelWidth * 4)
    return min(gemmRowsOuterPanels, max(gemmRowsOuterMinimumPanels, fitting))
}

/// Rows-outer order: for each row block and group of up to 16 panels, each 6-row tile runs across
/// the group's panels (A's tile stays in L1, the group's weights in L2, C and the residual are
/// touched in row order).
@inline(never)
func gemmRowsOuterDriver<A: VectorActivation, I: AIndexing>(_ g: GEMMArguments, _ act: A, _ ix: I) {
    let k = g.kLength
    let n = g.weights.outputChannels
    let nr = PackedGEMMWeights.panelWidth
    let panelStride = g.weights.panelStride
    let block = gemmRowBlock(k: k)
    let group = gemmRowsOuterGroup(k: k)
    // A's rows are one run of memory when they are whole, unpermuted rows.
    let prefetchesA = gemmPrefetchA && I.self == DirectIndexing.self && g.lda == k && k >= gemmPrefetchAMinimumK
        && 4 * k * g.rows.count > CacheSizes.level2OrDefault
    // Whole panels of full 6-row tiles go across in `gemmShortKRun` (`gemmShortKRowsOuter`).
    let shortRuns = gemmShortKRowsOuter && (n % nr == 0 || gemmShortKNarrowPanel) && gemmShortK(k)
    // A narrow last panel (at most 8 columns) and the full one before it go as 3 x 24 short-reduction
    // tiles (`gemmShortK24`), the other full panels as 6 x 16 runs, when the range ends at the last panel.
    let panelCount = (n + nr - 1) / nr
    let shortPair = gemmShortKRowsOuter && gemmShortK24 && n % nr != 0 && n % nr <= 8 && gemmShortK(k)
        && g.panels.upperBound == panelCount
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        var p0 = g.panels.lowerBound
        while p0 < g.panels.upperBound {
            let p1 = min(g.panels.upperBound, p0 + group)
            var m = m0
            while m < m1 {
                let rows = gemmNextTileRows(m1 - m)
                // The next tile's A lines, a share before each panel's tile (`gemmPrefetchA`).
                let next = m + rows
                let aLines = prefetchesA && next + GEMM.tileRows <= g.rows.upperBound ? (GEMM.tileRows * k + 15) / 16 : 0
                let linesPerPanel = (aLines + (p1 - p0) - 1) / (p1 - p0)
                var first = p0
                if shortPair && rows == GEMM.tileRows && aLines == 0 && p1 == panelCount && p1 - p0 >= 2 {
                    let pair = p1 - 2
                    if pair > p0 {
                        gemmShortKTiles(k: k, act, ix, g, a: g.a + m * g.lda, aStep: 0,
                                        c: g.c + m * g.ldc + p0 * nr, cStep: nr,
                                        residual: g.residual.map { $0 + m * g.ldr + p0 * nr }, residualStep: nr,
                                        b: g.weights.panels + p0 * panelStride + g.k0 * nr, bStep: panelStride,
                                        bias: g.bias + p0 * nr, biasStep: nr, count: pair - p0)
                    }
                    gemmShortK24Tiles(k: k, act, ix, g, a: g.a + m * g.lda, aStep: 3 * g.lda,
                                      c: g.c + m * g.ldc + pair * nr, cStep: 3 * g.ldc,
                                      residual: g.residual.map { $0 + m * g.ldr + pair * nr }, residualStep: 3 * g.ldr,
                                      b: g.weights.panels + pair * panelStride + g.k0 * nr, panelStride: panelStride,
                                      bias: g.bias + pair * nr, tail: n - (pair + 1) * nr, count: 2)
                    first = p1
                } else if shortRuns && rows == GEMM.tileRows && aLines == 0 {
                    // The group's panels in one call.
                    let full = min(p1, n / nr) - p0
                    if full > 0 {
                        gemmShortKTiles(k: k, act, ix, g, a: g.a + m * g.lda, aStep: 0,
                                        c: g.c + m * g.ldc + p0 * nr, cStep: nr,
                                        residual: g.residual.map { $0 + m * g.ldr + p0 * nr }, residualStep: nr,
                                        b: g.weights.panels + p0 * panelStride + g.k0 * nr, bStep: panelStride,
                                        bias: g.bias + p0 * nr, biasStep: nr, count: full)
                        first = p0 + full
                    }
                }
                for p in first..<p1 {
                    if aLines > 0 {
                        // The last panels' shares may be empty (36 lines over 16 panels: 3 a panel).
                        var line = (p - p0) * linesPerPanel
                        let end = min(aLines, line + linesPerPanel)
                        let nextA = g.a + next * g.lda
                        while line < end {
                            prefetchForRead(nextA + 16 * line)
                            line += 1
                        }
                    }
                    let cols = min(nr, n - p * nr)
                    let b = g.weights.panels + p * panelStride + g.k0 * nr
                    let bias = g.bias + p * nr
                    gemmTileRows(rows, wide: cols > 8, act, ix, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                }
                m += rows
            }
            p0 = p1
        }
        m0 = m1
    }
}

/// Whether the 8-lane rows-outer tiles ask for the next tile's A lines ahead, spread over the
/// group's panels. The hardware prefetchers fall behind on A out of L2: on a Zen 3 (AVX2), 1 thread,
/// best of 25 calls, medians of five alternated rounds: 21609 x 128 x 128 (A and C far larger than
/// L2) 8.6-9.0 -> 7.9-8.2 ms; 3136 x 128 x 128 and smaller A 0-3% slower, hence only for A larger
/// than L2; K = 64 level, K = 32 4% slower (a tile of 32 steps leaves the prefetches no time),
/// hence `gemmPrefetchAMinimumK`. In networks within the noise
/// (Xception's GEMMs 141.8 -> 140.5 ms, MobileNetV1's level), as their large maps run streamed
/// in bands. `KITE_GEMM_PREFETCH_A=0` turns it off (A/B runs).
nonisolated(unsafe) var gemmPrefetchA = environmentValue("KITE_GEMM_PREFETCH_A") != "0"

/// How far ahead (in floats of the packed panel) the 8-lane tiles ask for weights:
/// `weightPrefetchFloats`, or `KITE_GEMM_PREFETCH_FLOATS` (A/B runs). On a Zen 3, 1 thread,
/// alternated profiles, 1024 against 128: MobileNetV1's GEMMs 9.69 -> 9.53 ms and ShuffleNetV2
/// 1.0's 3.40 -> 3.32, but MobileNetV2's 4.85 -> 5.05 and ResNeXt-50's 79.9 -> 84.1.
nonisolated(unsafe) var gemmTilePrefetchFloats = Int(environmentValue("KITE_GEMM_PREFETCH_FLOATS") ?? "").map { max(0, $0) } ?? weightPrefetchFloats

/// The shortest reduction whose rows-outer tiles prefetch A (`gemmPrefetchA`).
let gemmPrefetchAMinimumK = 96

/// Rows of the next tile when `left` rows remain: tiles of 6, then up to five tiles of 5 where
/// that makes the count come out even (49 = 4 x 6 + 5 x 5, 196 = 31 x 6 + 2 x 5); otherwise the
/// last 7-9 rows go as 4 + 3, 4 + 4 or 5 + 4. A 5-row tile keeps 10 FMA chains, enough to hide
/// the FMA latency on two pipes, while a 1- or 2-row tile (2 or 4 chains) runs at the latency and
/// takes nearly as long as a 6-row one. Measured on a Zen 2 (AVX2), M = 49: 0.94-0.96 of the time
/// of 8 tiles of 6 and one of 1.
@inline(__always)
func gemmNextTileRows(_ left: Int) -> Int {
    let fives = (GEMM.tileRows - left % GEMM.tileRows) % GEMM.tileRows
    if 5 * fives <= left { return left > 5 * fives ? GEMM.tileRows : 5 }
    switch left {
    case 7, 8: return 4
    case 9: return 5
    default: return min(GEMM.tileRows, left)
    }
}

/// A tile of `rows` (1...6) rows, 16 columns wide or (`wide` false) 8: the run-time count picks
/// the compile-time variant.
@inline(__always)
func gemmTileRows<A: VectorActivation, I: AIndexing>(
    _ rows: Int, wide: Bool, _ act: A, _ ix: I, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int
) {
    if wide {
        switch rows {
        case 6: gemmTile(Count6.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 5: gemmTile(Count5.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 4: gemmTile(Count4.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 3: gemmTile(Count3.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 2: gemmTile(Count2.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        default: gemmTile(Count1.self, Count16.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        }
    } else {
        switch rows {
        case 6: gemmTile(Count6.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 5: gemmTile(Count5.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 4: gemmTile(Count4.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 3: gemmTile(Count3.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        case 2: gemmTile(Count2.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        default: gemmTile(Count1.self, Count8.self, act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        }
    }
}

/// One micro-tile: `Rows` (1...6) x `Width` (16, or 8 for a narrow last panel)
/// columns, K-loop over the packed panel, then the fused epilogue.
@inline(never)
func gemmTile<Rows: StaticCount, Width: StaticCount, A: VectorActivation, I: AIndexing>(
    _: Rows.Type, _: Width.Type, _ act: A, _ ix: I, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int
) {
    let R = Rows.value
    let wide = Width.value == 16
    if R == 1 && wide {
        gemmSingleRow(act, ix, g, k: k, m: m, col: col, b: b, bias: bias, cols: cols)
        return
    }
    let lda = g.lda
    let a0 = g.a + m * lda
    let a1 = a0 + (R > 1 ? lda : 0)
    let a2 = a0 + (R > 2 ? 2 * lda : 0)
    let a3 = a0 + (R > 3 ? 3 * lda : 0)
    let a4 = a0 + (R > 4 ? 4 * lda : 0)
    let a5 = a0 + (R > 5 ? 5 * lda : 0)
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var bp = b
    let ahead = gemmTilePrefetchFloats
    // A panel's first row tile reads it from memory (a 7x7 map runs nine tiles over each panel).
    for kk in 0..<k {
        prefetchForRead(bp + ahead)
        let b0 = load8(bp)
        let b1 = wide ? load8(bp + 8) : SIMD8<Float>()
        bp += 16
        let x0 = SIMD8<Float>(repeating: ix.load(a0, kk))
        c00 = c00.addingProduct(x0, b0)
        if wide { c01 = c01.addingProduct(x0, b1) }
        if R > 1 {
            let x = SIMD8<Float>(repeating: ix.load(a1, kk))
            c10 = c10.addingProduct(x, b0)
            if wide { c11 = c11.addingProduct(x, b1) }
        }
        if R > 2 {
            let x = SIMD8<Float>(repeating: ix.load(a2, kk))
            c20 = c20.addingProduct(x, b0)
            if wide { c21 = c21.addingProduct(x, b1) }
        }
        if R > 3 {
            let x = SIMD8<Float>(repeating: ix.load(a3, kk))
            c30 = c30.addingProduct(x, b0)
            if wide { c31 = c31.addingProduct(x, b1) }
        }
        if R > 4 {
            let x = SIMD8<Float>(repeating: ix.load(a4, kk))
            c40 = c40.addingProduct(x, b0)
            if wide { c41 = c41.addingProduct(x, b1) }
        }
        if R > 5 {
            let x = SIMD8<Float>(repeating: ix.load(a5, kk))
            c50 = c50.addingProduct(x, b0)
            if wide { c51 = c51.addingProduct(x, b1) }
        }
    }
    let bias0 = load8(bias)
    let bias1 = load8(bias + 8)
    let cp = g.c + m * g.ldc + col
    let rp = g.residual.map { $0 + m * g.ldr + col }
    gemmStoreRow(c00, c01, bias0, bias1, act, cp, rp, cols)
    if R > 1 { gemmStoreRow(c10, c11, bias0, bias1, act, cp + g.ldc, rp.map { $0 + g.ldr }, cols) }
    if R > 2 { gemmStoreRow(c20, c21, bias0, bias1, act, cp + 2 * g.ldc, rp.map { $0 + 2 * g.ldr }, cols) }
    if R > 3 { gemmStoreRow(c30, c31, bias0, bias1, act, cp + 3 * g.ldc, rp.map { $0 + 3 * g.ldr }, cols) }
    if R > 4 { gemmStoreRow(c40, c41, bias0, bias1, act, cp + 4 * g.ldc, rp.map { $0 + 4 * g.ldr }, cols) }
    if R > 5 { gemmStoreRow(c50, c51, bias0, bias1, act, cp + 5 * g.ldc, rp.map { $0 + 5 * g.ldr }, cols) }
}

/// Whether full 6 x 16 tiles of a short reduction (`gemmShortK`) run in `gemmShortKRun`
/// (`KITE_GEMM_SHORT_K=0` turns it off, for A/B runs).
nonisolated(unsafe) var gemmShortKEnabled = environmentValue("KITE_GEMM_SHORT_K") != "0"

/// Whether rows-outer GEMMs whose N is whole panels take `gemmShortKRun` across a row tile's
/// panels too (`KITE_GEMM_SHORT_K_ROWS_OUTER=0` turns it off, for A/B runs). In networks on a Zen 3,
/// 1 thread (alternated profiles, medians of five): SqueezeNet's 3025 x 16 x 64 0.091 -> 0.086 ms,
/// MobileNetV2's 784 x 32 x 192 0.115 -> 0.113; with a narrow last panel, 3136 x 24 x 72 (MNASNet,
/// MobileNetV3-Large) and 3136 x 24 x 60 (ShuffleNetV1) lost 3-5% (level or faster alone), so
/// those keep the general tiles.
nonisolated(unsafe) var gemmShortKRowsOuter = environmentValue("KITE_GEMM_SHORT_K_ROWS_OUTER") != "0"

/// Whether rows-outer GEMMs with a narrow last panel take `gemmShortKRun` for their whole panels
/// too (`KITE_GEMM_SHORT_K_NARROW=1`, for A/B runs; off by default, see `gemmShortKRowsOuter`).
nonisolated(unsafe) var gemmShortKNarrowPanel = environmentValue("KITE_GEMM_SHORT_K_NARROW") == "1"

/// Whether K of 40, 48 and 64 take `gemmShortKRun` too (`KITE_GEMM_SHORT_K_LONGER=0` for A/B runs).
/// In networks on a Zen 3, 1 thread (alternated profiles, medians of five): ShuffleNetV2 0.5's
/// 14x14 48 -> 48 layers 0.0110-0.0118 -> 0.0104-0.0111 ms, MobileNetV2's 64 -> 384 layers 1-6%
/// faster, MNASNet's 40 -> 240 layer 2%; the rest level.
nonisolated(unsafe) var gemmShortKLonger = environmentValue("KITE_GEMM_SHORT_K_LONGER") != "0"

/// Whether a short reduction's last 24 columns (a full panel and a last one of at most 8 valid
/// columns: N of 24, 40, 72, 120) run as 3 x 24 tiles in `gemmShortK24Run`, in both orders, instead
/// of the general 3 x 24 tiles (panel order) or 6 x 16 tiles and a 6 x 8 one (rows-outer).
/// `KITE_GEMM_SHORT_K_24=0` turns it off (A/B runs).
nonisolated(unsafe) var gemmShortK24 = environmentValue("KITE_GEMM_SHORT_K_24") != "0"

/// Whether `gemmShortKRun` is specialised for reduction length `k`: the grouped pointwise convolutions of
/// IGCv2/v3 (8-32 channels a group) and the 16-64 channel expansions of MobileNetV2/V3, MNASNet,
/// ShuffleNet and SqueezeNet. With so few steps a tile's fixed costs (the call, zeroed accumulators and a
/// bias pass, the weight prefetches, the loop) weigh as much as its FMAs: on a Zen 3, 1 thread,
/// best of 41 calls, tiles in L1 with K = 8 ran at 46 GFLOP/s, with K = 16 at 65 (64 and 85 as runs).
/// Other K keep the general tiles.
@inline(__always)
func gemmShortK(_ k: Int) -> Bool {
    guard gemmShortKEnabled else { return false }
    switch k {
    case 8, 12, 16, 24, 32: return true
    case 40, 48, 64: return gemmShortKLonger
    default: return false
    }
}

/// Runs `count` full 6 x 16 tiles of a short reduction, tile i reading A at `a + i * aStep` and
/// its weights at `b + i * bStep` and `bias + i * biasStep`, and writing C at `c + i * cStep`:
/// down the rows of one panel (panel order) or across the panels of one row tile (rows-outer order).
@inline(__always)
func gemmShortKTiles<A: VectorActivation, I: AIndexing>(
    k: Int, _ act: A, _ ix: I, _ g: GEMMArguments,
    a: UnsafePointer<Float>, aStep: Int, c: UnsafeMutablePointer<Float>, cStep: Int,
    residual: UnsafePointer<Float>?, residualStep: Int,
    b: UnsafePointer<Float>, bStep: Int, bias: UnsafePointer<Float>, biasStep: Int, count: Int
) {
    let run = GEMMShortKRun(lda: g.lda, ldc: g.ldc, ldr: g.ldr, a: a, aStep: aStep, c: c, cStep: cStep,
                            residual: residual, residualStep: residualStep, b: b, bStep: bStep,
                            bias: bias, biasStep: biasStep, count: count)
    gemmSpecialisedForK(k, run, act, ix)
}

/// A run of short-reduction tiles that `gemmSpecialisedForK` calls with K as a compile-time count.
protocol GEMMShortKTileRun {
    func callAsFunction<KC: StaticCount, A: VectorActivation, I: AIndexing>(_: KC.Type, _ act: A, _ ix: I)
}

/// Calls `run` with the compile-time count for K (one of `gemmShortK`'s lengths). A switch on the
/// Int: matching metatypes (`is Count8.Type`) called the runtime's dynamic cast once per case
/// tried, per run.
@inline(__always)
func gemmSpecialisedForK<R: GEMMShortKTileRun, A: VectorActivation, I: AIndexing>(_ k: Int, _ run: R, _ act: A, _ ix: I) {
    switch k {
    case 8: run(Count8.self, act, ix)
    case 12: run(Count12.self, act, ix)
    case 16: run(Count16.self, act, ix)
    case 24: run(Count24.self, act, ix)
    case 32: run(Count32.self, act, ix)
    case 40: run(Count40.self, act, ix)
    case 48: run(Count48.self, act, ix)
    default: run(Count64.self, act, ix)
    }
}

/// Where a run of short-reduction tiles reads and writes (see `gemmShortKTiles`).
struct GEMMShortKRun: GEMMShortKTileRun {
    let lda: Int, ldc: Int, ldr: Int
    let a: UnsafePointer<Float>, aStep: Int
    let c: UnsafeMutablePointer<Float>, cStep: Int
    let residual: UnsafePointer<Float>?, residualStep: Int
    let b: UnsafePointer<Float>, bStep: Int
    let bias: UnsafePointer<Float>, biasStep: Int
    let count: Int

    @inline(__always)
    func callAsFunction<KC: StaticCount, A: VectorActivation, I: AIndexing>(_: KC.Type, _ act: A, _ ix: I) {
        gemmShortKRun(KC.self, act, ix, self)
    }
}

/// Runs `count` 3 x 24 tiles of a short reduction over panel p (B at `b`, bias at `bias`) and the
/// first 8 columns of panel p + 1 (`panelStride` floats on), of which `tail` are valid; tile i reads
/// A at `a + i * aStep` and writes C at `c + i * cStep` (`gemmShortK24`).
@inline(__always)
func gemmShortK24Tiles<A: VectorActivation, I: AIndexing>(
    k: Int, _ act: A, _ ix: I, _ g: GEMMArguments,
    a: UnsafePointer<Float>, aStep: Int, c: UnsafeMutablePointer<Float>, cStep: Int,
    residual: UnsafePointer<Float>?, residualStep: Int,
    b: UnsafePointer<Float>, panelStride: Int, bias: UnsafePointer<Float>, tail: Int, count: Int
) {
    let run = GEMMShortK24Run(lda: g.lda, ldc: g.ldc, ldr: g.ldr, a: a, aStep: aStep, c: c, cStep: cStep,
                              residual: residual, residualStep: residualStep, b: b, panelStride: panelStride,
                              bias: bias, tail: tail, count: count)
    gemmSpecialisedForK(k, run, act, ix)
}

/// Where a run of 3 x 24 short-reduction tiles reads and writes (see `gemmShortK24Tiles`): as
/// `GEMMShortKRun`, with the second panel `panelStride` floats after the first and `tail` of its
/// columns valid instead of per-tile weight and bias steps.
struct GEMMShortK24Run: GEMMShortKTileRun {
    let lda: Int, ldc: Int, ldr: Int
    let a: UnsafePointer<Float>, aStep: Int
    let c: UnsafeMutablePointer<Float>, cStep: Int
    let residual: UnsafePointer<Float>?, residualStep: Int
    let b: UnsafePointer<Float>, panelStride: Int
    let bias: UnsafePointer<Float>, tail: Int
    let count: Int

    @inline(__always)
    func callAsFunction<KC: StaticCount, A: VectorActivation, I: AIndexing>(_: KC.Type, _ act: A, _ ix: I) {
        gemmShortK24Run(KC.self, act, ix, self)
    }
}

/// 3 x 24 tiles with the K loop's length known at compile time and the accumulators starting at
/// the bias (see `gemmShortKRun`). Nine accumulators, three weight vectors and three broadcasts a
/// step: as many FMAs per load as a 6 x 16 tile, where a narrow last panel's 6 x 8 tiles issue
/// seven loads per six FMAs and the general 3 x 24 tiles pay a call, a bias pass and prefetches.
@inline(never)
func gemmShortK24Run<KC: StaticCount, A: VectorActivation, I: AIndexing>(
    _: KC.Type, _ act: A, _ ix: I, _ run: GEMMShortK24Run
) {
    let lda = run.lda, ldc = run.ldc, ldr = run.ldr
    let bp = run.b, bq = run.b + run.panelStride
    let tail = run.tail
    let bias0 = load8(run.bias), bias1 = load8(run.bias + 8), bias2 = load8(run.bias + 16)
    let zero = SIMD8<Float>()
    var a0 = run.a, cp = run.c
    var rp = run.residual
    for _ in 0..<run.count {
        let a1 = a0 + lda, a2 = a0 + 2 * lda
        var c00 = bias0, c01 = bias1, c02 = bias2
        var c10 = bias0, c11 = bias1, c12 = bias2
        var c20 = bias0, c21 = bias1, c22 = bias2
        for kk in 0..<KC.value {
            let b0 = load8(bp + 16 * kk), b1 = load8(bp + 16 * kk + 8), b2 = load8(bq + 16 * kk)
            var x = SIMD8<Float>(repeating: ix.load(a0, kk))
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1); c02 = c02.addingProduct(x, b2)
            x = SIMD8<Float>(repeating: ix.load(a1, kk))
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1); c12 = c12.addingProduct(x, b2)
            x = SIMD8<Float>(repeating: ix.load(a2, kk))
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1); c22 = c22.addingProduct(x, b2)
        }
        gemmStoreRow(c00, c01, zero, zero, act, cp, rp, 16)
        gemmStoreRow(c02, zero, zero, zero, act, cp + 16, rp.map { $0 + 16 }, tail)
        gemmStoreRow(c10, c11, zero, zero, act, cp + ldc, rp.map { $0 + ldr }, 16)
        gemmStoreRow(c12, zero, zero, zero, act, cp + ldc + 16, rp.map { $0 + ldr + 16 }, tail)
        gemmStoreRow(c20, c21, zero, zero, act, cp + 2 * ldc, rp.map { $0 + 2 * ldr }, 16)
        gemmStoreRow(c22, zero, zero, zero, act, cp + 2 * ldc + 16, rp.map { $0 + 2 * ldr + 16 }, tail)
        rp = rp.map { $0 + run.residualStep }
        a0 += run.aStep; cp += run.cStep
    }
}

/// Full 6 x 16 tiles with the K loop's length known at compile time, the accumulators starting at
/// the bias, no weight prefetch (a panel of at most 64 x 16 floats stays in L1) and one call for the
/// whole run. On a Zen 3, 1 thread, alone (alternated runs, medians of 41 calls): IGCv2's
/// 64 -> 128 pointwise convolution in 8 groups read through a shuffle (3136 rows) 0.222 -> 0.165 ms,
/// 128 -> 128 in 8 groups 0.35 -> 0.29, 3136 x 24 x 72 (MNASNet) 0.197 -> 0.174, 12544 x 16 x 16
/// 0.134 -> 0.105, 784 x 32 x 32 in 8 groups 0.27 -> 0.23, 784 x 32 x 192 (MobileNetV2) 0.15 -> 0.14.
@inline(never)
func gemmShortKRun<KC: StaticCount, A: VectorActivation, I: AIndexing>(
    _: KC.Type, _ act: A, _ ix: I, _ run: GEMMShortKRun
) {
    let lda = run.lda, ldc = run.ldc, ldr = run.ldr
    var a0 = run.a, cp = run.c, bp = run.b, biasp = run.bias
    var rp = run.residual
    for _ in 0..<run.count {
        let a1 = a0 + lda, a2 = a0 + 2 * lda, a3 = a0 + 3 * lda, a4 = a0 + 4 * lda, a5 = a0 + 5 * lda
        let bias0 = load8(biasp), bias1 = load8(biasp + 8)
        var c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1
        var c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1
        for kk in 0..<KC.value {
            let b0 = load8(bp + 16 * kk), b1 = load8(bp + 16 * kk + 8)
            var x = SIMD8<Float>(repeating: ix.load(a0, kk))
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: ix.load(a1, kk))
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: ix.load(a2, kk))
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: ix.load(a3, kk))
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: ix.load(a4, kk))
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: ix.load(a5, kk))
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
        }
        gemmStoreTile6x16(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, act, cp, ldc: ldc, residual: rp, ldr: ldr)
        rp = rp.map { $0 + run.residualStep }
        a0 += run.aStep; cp += run.cStep; bp += run.bStep; biasp += run.biasStep
    }
}

/// The epilogue of a full 6 x 16 tile whose accumulators hold the bias already: adds the
/// residual (rows `ldr` apart) when there is one, activates, stores (rows `ldc` apart).
@inline(__always)
func gemmStoreTile6x16<A: VectorActivation>(
    _ c00: SIMD8<Float>, _ c01: SIMD8<Float>, _ c10: SIMD8<Float>, _ c11: SIMD8<Float>,
    _ c20: SIMD8<Float>, _ c21: SIMD8<Float>, _ c30: SIMD8<Float>, _ c31: SIMD8<Float>,
    _ c40: SIMD8<Float>, _ c41: SIMD8<Float>, _ c50: SIMD8<Float>, _ c51: SIMD8<Float>,
    _ act: A, _ c: UnsafeMutablePointer<Float>, ldc: Int, residual: UnsafePointer<Float>?, ldr: Int
) {
    if let r = residual {
        store8(act(c00 + load8(r)), c); store8(act(c01 + load8(r + 8)), c + 8)
        store8(act(c10 + load8(r + ldr)), c + ldc); store8(act(c11 + load8(r + ldr + 8)), c + ldc + 8)
        store8(act(c20 + load8(r + 2 * ldr)), c + 2 * ldc); store8(act(c21 + load8(r + 2 * ldr + 8)), c + 2 * ldc + 8)
        store8(act(c30 + load8(r + 3 * ldr)), c + 3 * ldc); store8(act(c31 + load8(r + 3 * ldr + 8)), c + 3 * ldc + 8)
        store8(act(c40 + load8(r + 4 * ldr)), c + 4 * ldc); store8(act(c41 + load8(r + 4 * ldr + 8)), c + 4 * ldc + 8)
        store8(act(c50 + load8(r + 5 * ldr)), c + 5 * ldc); store8(act(c51 + load8(r + 5 * ldr + 8)), c + 5 * ldc + 8)
    } else {
        store8(act(c00), c); store8(act(c01), c + 8)
        store8(act(c10), c + ldc); store8(act(c11), c + ldc + 8)
        store8(act(c20), c + 2 * ldc); store8(act(c21), c + 2 * ldc + 8)
        store8(act(c30), c + 3 * ldc); store8(act(c31), c + 3 * ldc + 8)
        store8(act(c40), c + 4 * ldc); store8(act(c41), c + 4 * ldc + 8)
        store8(act(c50), c + 5 * ldc); store8(act(c51), c + 5 * ldc + 8)
    }
}

/// One row by 16 columns (a 1x1 convolution on a 1x1 map: squeeze-excite layers). Two
/// accumulators would wait on the FMA latency at every step; four pairs over k mod 4 keep eight
/// FMAs in flight. Standalone, weights in L2: 960 -> 240 and 240 -> 960 layers took 0.019-0.021 ms
/// against 0.028-0.029 with two, 672 -> 168 0.010 against 0.015.
@inline(__always)
func gemmSingleRow<A: VectorActivation, I: AIndexing>(
    _ act: A, _ ix: I, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int
) {
    let a0 = g.a + m * g.lda
    var p0 = SIMD8<Float>(), q0 = SIMD8<Float>(), p1 = SIMD8<Float>(), q1 = SIMD8<Float>()
    var p2 = SIMD8<Float>(), q2 = SIMD8<Float>(), p3 = SIMD8<Float>(), q3 = SIMD8<Float>()
    var bp = b
    var kk = 0
    // Two prefetches per four steps (four lines): every other line ahead.
    while kk + 4 <= k {
        prefetchForRead(bp + weightPrefetchFloats)
        prefetchForRead(bp + weightPrefetchFloats + 32)
        var x = SIMD8<Float>(repeating: ix.load(a0, kk))
        p0 = p0.addingProduct(x, load8(bp)); q0 = q0.addingProduct(x, load8(bp + 8))
        x = SIMD8<Float>(repeating: ix.load(a0, kk + 1))
        p1 = p1.addingProduct(x, load8(bp + 16)); q1 = q1.addingProduct(x, load8(bp + 24))
        x = SIMD8<Float>(repeating: ix.load(a0, kk + 2))
        p2 = p2.addingProduct(x, load8(bp + 32)); q2 = q2.addingProduct(x, load8(bp + 40))
        x = SIMD8<Float>(repeating: ix.load(a0, kk + 3))
        p3 = p3.addingProduct(x, load8(bp + 48)); q3 = q3.addingProduct(x, load8(bp + 56))
        bp += 64
        kk += 4
    }
    while kk < k {
        let x = SIMD8<Float>(repeating: ix.load(a0, kk))
        p0 = p0.addingProduct(x, load8(bp)); q0 = q0.addingProduct(x, load8(bp + 8))
        bp += 16
        kk += 1
    }
    let cp = g.c + m * g.ldc + col
    let rp = g.residual.map { $0 + m * g.ldr + col }
    gemmStoreRow((p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3), load8(bias), load8(bias + 8), act, cp, rp, cols)
}

/// A `rows` (1...4) x 24-column tile over panel p (16 columns) and the first 8 columns of
/// panel p + 1, which has `tail` (1...8) valid columns.
@inline(never)
func gemmTile24<Rows: StaticCount, A: VectorActivation, I: AIndexing>(
    _: Rows.Type, _ act: A, _ ix: I, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, panelStride: Int, bias: UnsafePointer<Float>, tail: Int
) {
    let R = Rows.value
    let lda = g.lda
    let a0 = g.a + m * lda
    let a1 = a0 + (R > 1 ? lda : 0)
    let a2 = a0 + (R > 2 ? 2 * lda : 0)
    let a3 = a0 + (R > 3 ? 3 * lda : 0)
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c02 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c12 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c22 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>(), c32 = SIMD8<Float>()
    var bp = b
    var bq = b + panelStride
    for kk in 0..<k {
        prefetchForRead(bp + weightPrefetchFloats)
        prefetchForRead(bq + weightPrefetchFloats)
        let b0 = load8(bp), b1 = load8(bp + 8), b2 = load8(bq)
        bp += 16
        bq += 16
        let x0 = SIMD8<Float>(repeating: ix.load(a0, kk))
        c00 = c00.addingProduct(x0, b0)
        c01 = c01.addingProduct(x0, b1)
        c02 = c02.addingProduct(x0, b2)
        if R > 1 {
            let x = SIMD8<Float>(repeating: ix.load(a1, kk))
            c10 = c10.addingProduct(x, b0)
            c11 = c11.addingProduct(x, b1)
            c12 = c12.addingProduct(x, b2)
        }
        if R > 2 {
            let x = SIMD8<Float>(repeating: ix.load(a2, kk))
            c20 = c20.addingProduct(x, b0)
            c21 = c21.addingProduct(x, b1)
            c22 = c22.addingProduct(x, b2)
        }
        if R > 3 {
            let x = SIMD8<Float>(repeating: ix.load(a3, kk))
            c30 = c30.addingProduct(x, b0)
            c31 = c31.addingProduct(x, b1)
            c32 = c32.addingProduct(x, b2)
        }
    }
    let bias0 = load8(bias), bias1 = load8(bias + 8), bias2 = load8(bias + 16)
    let zero = SIMD8<Float>()
    let ldc = g.ldc, ldr = g.ldr
    let cp = g.c + m * ldc + col
    let rp = g.residual.map { $0 + m * ldr + col }
    gemmStoreRow(c00, c01, bias0, bias1, act, cp, rp, 16)
    gemmStoreRow(c02, zero, bias2, zero, act, cp + 16, rp.map { $0 + 16 }, tail)
    if R > 1 {
        gemmStoreRow(c10, c11, bias0, bias1, act, cp + ldc, rp.map { $0 + ldr }, 16)
        gemmStoreRow(c12, zero, bias2, zero, act, cp + ldc + 16, rp.map { $0 + ldr + 16 }, tail)
    }
    if R > 2 {
        gemmStoreRow(c20, c21, bias0, bias1, act, cp + 2 * ldc, rp.map { $0 + 2 * ldr }, 16)
        gemmStoreRow(c22, zero, bias2, zero, act, cp + 2 * ldc + 16, rp.map { $0 + 2 * ldr + 16 }, tail)
    }
    if R > 3 {
        gemmStoreRow(c30, c31, bias0, bias1, act, cp + 3 * ldc, rp.map { $0 + 3 * ldr }, 16)
        gemmStoreRow(c32, zero, bias2, zero, act, cp + 3 * ldc + 16, rp.map { $0 + 3 * ldr + 16 }, tail)
    }
}

/// A 12-row x 8-column tile for the last panel when it has at most 8 valid columns.
@inline(never)
func gemmTileNarrow12<A: VectorActivation, I: AIndexing>(
    _ act: A, _ ix: I, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int
) {
    let lda = g.lda
    let a0 = g.a + m * lda
    let a1 = a0 + lda, a2 = a0 + 2 * lda, a3 = a0 + 3 * lda
    let a4 = a0 + 4 * lda, a5 = a0 + 5 * lda
    let a6 = a0 + 6 * lda, a7 = a0 + 7 * lda, a8 = a0 + 8 * lda
    let a9 = a0 + 9 * lda, a10 = a0 + 10 * lda, a11 = a0 + 11 * lda
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
    var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
    var c8 = SIMD8<Float>(), c9 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var bp = b
    for kk in 0..<k {
        prefetchForRead(bp + weightPrefetchFloats)
        let b0 = load8(bp)
        bp += 16
        c0 = c0.addingProduct(SIMD8(repeating: ix.load(a0, kk)), b0)
        c1 = c1.addingProduct(SIMD8(repeating: ix.load(a1, kk)), b0)
        c2 = c2.addingProduct(SIMD8(repeating: ix.load(a2, kk)), b0)
        c3 = c3.addingProduct(SIMD8(repeating: ix.load(a3, kk)), b0)
        c4 = c4.addingProduct(SIMD8(repeating: ix.load(a4, kk)), b0)
        c5 = c5.addingProduct(SIMD8(repeating: ix.load(a5, kk)), b0)
        c6 = c6.addingProduct(SIMD8(repeating: ix.load(a6, kk)), b0)
        c7 = c7.addingProduct(SIMD8(repeating: ix.load(a7, kk)), b0)
        c8 = c8.addingProduct(SIMD8(repeating: ix.load(a8, kk)), b0)
        c9 = c9.addingProduct(SIMD8(repeating: ix.load(a9, kk)), b0)
        c10 = c10.addingProduct(SIMD8(repeating: ix.load(a10, kk)), b0)
        c11 = c11.addingProduct(SIMD8(repeating: ix.load(a11, kk)), b0)
    }
    let bias0 = load8(bias)
    let zero = SIMD8<Float>()
    let cp = g.c + m * g.ldc + col
    let ldc = g.ldc, ldr = g.ldr
    let rp = g.residual.map { $0 + m * ldr + col }
    gemmStoreRow(c0, zero, bias0, zero, act, cp, rp, cols)
    gemmStoreRow(c1, zero, bias0, zero, act, cp + ldc, rp.map { $0 + ldr }, cols)
    gemmStoreRow(c2, zero, bias0, zero, act, cp + 2 * ldc, rp.map { $0 + 2 * ldr }, cols)
    gemmStoreRow(c3, zero, bias0, zero, act, cp + 3 * ldc, rp.map { $0 + 3 * ldr }, cols)
    gemmStoreRow(c4, zero, bias0, zero, act, cp + 4 * ldc, rp.map { $0 + 4 * ldr }, cols)
    gemmStoreRow(c5, zero, bias0, zero, act, cp + 5 * ldc, rp.map { $0 + 5 * ldr }, cols)
    gemmStoreRow(c6, zero, bias0, zero, act, cp + 6 * ldc, rp.map { $0 + 6 * ldr }, cols)
    gemmStoreRow(c7, zero, bias0, zero, act, cp + 7 * ldc, rp.map { $0 + 7 * ldr }, cols)
    gemmStoreRow(c8, zero, bias0, zero, act, cp + 8 * ldc, rp.map { $0 + 8 * ldr }, cols)
    gemmStoreRow(c9, zero, bias0, zero, act, cp + 9 * ldc, rp.map { $0 + 9 * ldr }, cols)
    gemmStoreRow(c10, zero, bias0, zero, act, cp + 10 * ldc, rp.map { $0 + 10 * ldr }, cols)
    gemmStoreRow(c11, zero, bias0, zero, act, cp + 11 * ldc, rp.map { $0 + 11 * ldr }, cols)
}

/// Epilogue for one row of a tile: bias, residual, activation, store the first `cols` columns.
@inline(__always)
func gemmStoreRow<A: VectorActivation>(
    _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ bias0: SIMD8<Float>, _ bias1: SIMD8<Float>,
    _ act: A, _ c: UnsafeMutablePointer<Float>, _ res: UnsafePointer<Float>?, _ cols: Int
) {
    var x0 = v0 + bias0
    var x1 = v1 + bias1
    if cols == 16 {
        if let res {
            x0 += load8(res)
            x1 += load8(res + 8)
        }
        store8(act(x0), c)
        store8(act(x1), c + 8)
    } else if cols >= 8 {
        if let res {
            x0 += load8(res)
            x1 += loadPartial8(res + 8, cols - 8)
        }
        store8(act(x0), c)
        storePartial8(act(x1), c + 8, cols - 8)
    } else {
        if let res { x0 += loadPartial8(res, cols) }
        storePartial8(act(x0), c, cols)
    }
}
