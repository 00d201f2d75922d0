// Register-tiled GEMM for pointwise (1x1) convolutions and fully-connected layers with many rows.

/// `C[m, n] = act(sum_k A[m, k] * B[n, k] + bias[n] + residual[m, n])` over packed weights.
///
/// A is M rows (pixels) of K input channels with row stride `lda` (the input pixel stride, so A
/// may be a channel slice of a wider NHWC buffer); C and the residual likewise have their own
/// strides. The micro-kernel computes 6 rows x 16 columns with 12 AVX (8-lane) accumulators;
/// bias, residual and activation are applied in the epilogue while the tile is in registers.
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
        let panels = panels ?? 0..<weights.panelCount
        precondition(panels.lowerBound >= 0 && panels.upperBound <= weights.panelCount, "panel range out of bounds")
        if rows.isEmpty || panels.isEmpty { return }
        let args = GEMMArguments(a: a, lda: lda, weights: weights, c: c, ldc: ldc,
                                 residual: residual, ldr: ldr, rows: rows, panels: panels)
        activation.visit(args)
    }

    /// Floating-point operations of a full GEMM (2 M N K), for throughput reports.
    public static func flops(m: Int, n: Int, k: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }
}

@usableFromInline
struct GEMMArguments: ActivationVisitor {
    let a: UnsafePointer<Float>
    let lda: Int
    let weights: PackedGEMMWeights
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let residual: UnsafePointer<Float>?
    let ldr: Int
    let rows: Range<Int>
    let panels: Range<Int>

    @usableFromInline
    func visit<A: VectorActivation>(_ act: A) {
        gemmDriver(self, act)
    }
}

/// Rows per cache block: about 96 KiB of A rows so that a block stays in L2 while every
/// weight panel of the range streams over it.
@inline(__always)
func gemmRowBlock(k: Int) -> Int {
    let rows = max(GEMM.tileRows, (24 * 1024) / max(k, 1))
    return (rows / GEMM.tileRows) * GEMM.tileRows
}

@inline(never)
func gemmDriver<A: VectorActivation>(_ g: GEMMArguments, _ act: A) {
    let k = g.weights.inputChannels
    let n = g.weights.outputChannels
    let nr = PackedGEMMWeights.panelWidth
    let panelStride = g.weights.panelStride
    let block = gemmRowBlock(k: k)
    var m0 = g.rows.lowerBound
    while m0 < g.rows.upperBound {
        let m1 = min(g.rows.upperBound, m0 + block)
        for p in g.panels {
            let cols = min(nr, n - p * nr)
            let b = g.weights.panels + p * panelStride
            let bias = g.weights.bias + p * nr
            var m = m0
            if cols > 8 {
                while m + 6 <= m1 {
                    gemmTile(rows: 6, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                    m += 6
                }
                switch m1 - m {
                case 1: gemmTile(rows: 1, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 2: gemmTile(rows: 2, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 3: gemmTile(rows: 3, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 4: gemmTile(rows: 4, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 5: gemmTile(rows: 5, wide: true, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                default: break
                }
            } else {
                // At most 8 valid columns: only the first half of the panel is computed.
                while m + 6 <= m1 {
                    gemmTile(rows: 6, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                    m += 6
                }
                switch m1 - m {
                case 1: gemmTile(rows: 1, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 2: gemmTile(rows: 2, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 3: gemmTile(rows: 3, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 4: gemmTile(rows: 4, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                case 5: gemmTile(rows: 5, wide: false, act, g, k: k, m: m, col: p * nr, b: b, bias: bias, cols: cols)
                default: break
                }
            }
        }
        m0 = m1
    }
}

/// One micro-tile: `rows` (1...6, a constant after inlining) x 16 (or 8 when `wide` is false)
/// columns, K-loop over the packed panel, then the fused epilogue.
@inline(__always)
func gemmTile<A: VectorActivation>(
    rows R: Int, wide: Bool, _ act: A, _ g: GEMMArguments,
    k: Int, m: Int, col: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int
) {
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
    for kk in 0..<k {
        let b0 = load8(bp)
        let b1 = wide ? load8(bp + 8) : SIMD8<Float>()
        bp += 16
        let x0 = SIMD8<Float>(repeating: a0[kk])
        c00 = c00.addingProduct(x0, b0)
        if wide { c01 = c01.addingProduct(x0, b1) }
        if R > 1 {
            let x = SIMD8<Float>(repeating: a1[kk])
            c10 = c10.addingProduct(x, b0)
            if wide { c11 = c11.addingProduct(x, b1) }
        }
        if R > 2 {
            let x = SIMD8<Float>(repeating: a2[kk])
            c20 = c20.addingProduct(x, b0)
            if wide { c21 = c21.addingProduct(x, b1) }
        }
        if R > 3 {
            let x = SIMD8<Float>(repeating: a3[kk])
            c30 = c30.addingProduct(x, b0)
            if wide { c31 = c31.addingProduct(x, b1) }
        }
        if R > 4 {
            let x = SIMD8<Float>(repeating: a4[kk])
            c40 = c40.addingProduct(x, b0)
            if wide { c41 = c41.addingProduct(x, b1) }
        }
        if R > 5 {
            let x = SIMD8<Float>(repeating: a5[kk])
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
