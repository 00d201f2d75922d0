import XCTest
@testable import KiteKernels

/// Naive GEMM reference in double precision.
func referenceGEMM(a: [Float], lda: Int, m: Int, k: Int, w: [Float], n: Int, bias: [Float]?,
                   residual: [Float]?, ldr: Int, activation: KernelActivation) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = Double(bias?[j] ?? 0)
            for kk in 0..<k { s += Double(a[i * lda + kk]) * Double(w[j * k + kk]) }
            if let residual { s += Double(residual[i * ldr + j]) }
            out[i * n + j] = referenceActivation(activation, s)
        }
    }
    return out
}

final class GEMMTests: XCTestCase {
    func checkGEMM(m: Int, k: Int, n: Int, lda: Int, ldc: Int, ldr: Int?, withBias: Bool,
                   activation: KernelActivation, rng: inout SeededRNG, splitRows: Bool = false, splitPanels: Bool = false,
                   tol: Double = 2e-5) {
        let a = rng.floats(max(1, (m - 1) * lda + k))
        let w = rng.floats(n * k)
        let bias = withBias ? rng.floats(n) : nil
        let residual = ldr.map { rng.floats(max(1, (m - 1) * $0 + n)) }
        let packed = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: bias)
        var c = [Float](repeating: sentinel, count: (m - 1) * ldc + n + 5)
        a.withUnsafeBufferPointer { ap in
            c.withUnsafeMutableBufferPointer { cbuf in
                let cp = cbuf
                let run = { (rows: Range<Int>, panels: Range<Int>) in
                    if let residual {
                        residual.withUnsafeBufferPointer { rp in
                            GEMM.run(a: ap.baseAddress!, lda: lda, weights: packed, c: cp.baseAddress!, ldc: ldc,
                                     residual: rp.baseAddress!, ldr: ldr!, activation: activation, rows: rows, panels: panels)
                        }
                    } else {
                        GEMM.run(a: ap.baseAddress!, lda: lda, weights: packed, c: cp.baseAddress!, ldc: ldc,
                                 activation: activation, rows: rows, panels: panels)
                    }
                }
                let rowSplit = splitRows ? [0, m / 3, m] : [0, m]
                let panelSplit = splitPanels ? [0, packed.panelCount / 2, packed.panelCount] : [0, packed.panelCount]
                for r in 0..<(rowSplit.count - 1) {
                    for p in 0..<(panelSplit.count - 1) {
                        run(rowSplit[r]..<rowSplit[r + 1], panelSplit[p]..<panelSplit[p + 1])
                    }
                }
            }
        }
        let expected = referenceGEMM(a: a, lda: lda, m: m, k: k, w: w, n: n, bias: bias, residual: residual,
                                     ldr: ldr ?? 0, activation: activation)
        var got = [Float]()
        for i in 0..<m {
            for j in 0..<ldc where i * ldc + j < c.count {
                if j < n { got.append(c[i * ldc + j]) } else {
                    XCTAssertEqual(c[i * ldc + j], sentinel, "wrote outside C at row \(i) col \(j)")
                }
            }
        }
        XCTAssertEqual(c[(m - 1) * ldc + n], sentinel)
        assertClose(got, expected, tol: tol, "m=\(m) k=\(k) n=\(n) lda=\(lda) ldc=\(ldc) ldr=\(String(describing: ldr)) \(activation)")
    }

    func testShapesAndRemainders() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 7)
            for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 17, 19, 20, 25, 49, 50] {
                for n in [1, 3, 5, 8, 9, 16, 17, 20, 24, 33, 40, 48] {
                    for k in [1, 3, 17] {
                        checkGEMM(m: m, k: k, n: n, lda: k, ldc: n, ldr: nil, withBias: true, activation: .none, rng: &rng)
                    }
                }
            }
        }
    }

    func testStridesResidualActivations() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 11)
            for act in allActivations {
                let m = rng.int(1...40), k = rng.int(1...70), n = rng.int(1...50)
                checkGEMM(m: m, k: k, n: n, lda: k + rng.int(0...9), ldc: n + rng.int(0...9), ldr: n + rng.int(0...5),
                          withBias: rng.int(0...1) == 1, activation: act, rng: &rng)
                checkGEMM(m: m, k: k, n: n, lda: k, ldc: n, ldr: n, withBias: true, activation: act, rng: &rng)
            }
        }
    }

    func testSplitsAndLargeK() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 13)
            checkGEMM(m: 49, k: 960, n: 160, lda: 960, ldc: 160, ldr: nil, withBias: true, activation: .relu6, rng: &rng,
                      splitRows: true, splitPanels: true)
            checkGEMM(m: 200, k: 37, n: 70, lda: 40, ldc: 75, ldr: 70, withBias: true, activation: .hardSwish, rng: &rng,
                      splitRows: true, splitPanels: true)
            // One row (squeeze-excite 1x1 layers): four accumulator pairs over k mod 4 with a
            // remainder of 3, a narrow last panel, a residual, panel splits; and K blocks of 850.
            // (A generator of their own leaves the other cases' data as it was.)
            var oneRowRNG = SeededRNG(seed: 17)
            checkGEMM(m: 1, k: 963, n: 241, lda: 963, ldc: 243, ldr: 245, withBias: true, activation: .relu, rng: &oneRowRNG,
                      splitRows: true, splitPanels: true, tol: 1e-4)
            checkGEMM(m: 1, k: 1700, n: 40, lda: 1700, ldc: 40, ldr: nil, withBias: true, activation: .hardSwish, rng: &oneRowRNG,
                      splitPanels: true, tol: 1e-4)
            // Row blocking (more rows than one cache block).
            checkGEMM(m: 1000, k: 24, n: 20, lda: 24, ldc: 20, ldr: nil, withBias: false, activation: .relu, rng: &rng)
            checkGEMM(m: 53, k: 700, n: 37, lda: 703, ldc: 40, ldr: 41, withBias: true, activation: .hardSwish, rng: &rng,
                      splitRows: true, splitPanels: true)
            // K blocking of the 8-lane kernels (2 blocks of 850): partial sums in C, residual added
            // once, activation last.
            checkGEMM(m: 53, k: 1700, n: 37, lda: 1703, ldc: 40, ldr: 41, withBias: true, activation: .hardSwish, rng: &rng,
                      splitRows: true, splitPanels: true, tol: 1e-4)
            checkGEMM(m: 400, k: 1100, n: 24, lda: 1100, ldc: 24, ldr: 24, withBias: false, activation: .relu, rng: &rng)
            // K blocking of the 16-lane kernels (2 blocks of 1600; 8-lane: 4 blocks of 800).
            // (Float sums of 3200 products: rounding reaches a few 1e-5 of sums of order 1.)
            checkGEMM(m: 21, k: 3200, n: 40, lda: 3203, ldc: 41, ldr: 40, withBias: true, activation: .relu6, rng: &rng,
                      splitRows: true, splitPanels: true, tol: 1e-4)
            // Rows-outer order (a residual and 16+ panels): panel groups of 16, a narrow last panel,
            // remainder rows, K blocks, and a split by rows.
            checkGEMM(m: 61, k: 600, n: 300, lda: 603, ldc: 305, ldr: 301, withBias: true, activation: .relu, rng: &rng, splitRows: true)
            checkGEMM(m: 700, k: 40, n: 520, lda: 40, ldc: 520, ldr: 520, withBias: true, activation: .hardSwish, rng: &rng)
            // Rows-outer with tiles of 6 and 5 rows (49 = 4 x 6 + 5 x 5, 50 = 5 x 6 + 4 x 5).
            checkGEMM(m: 49, k: 70, n: 260, lda: 70, ldc: 260, ldr: 261, withBias: true, activation: .relu, rng: &rng)
            checkGEMM(m: 50, k: 33, n: 256, lda: 35, ldc: 256, ldr: 256, withBias: false, activation: .none, rng: &rng)
            // Both orders on shapes the 8-lane kernels run rows-outer (4+ panels, no residual
            // needed): groups of 16 panels at small K, of 4 at K = 1100 (256 KiB of weights).
            defer { gemmRowsOuter = true }
            for rowsOuter in [false, true] {
                gemmRowsOuter = rowsOuter
                checkGEMM(m: 97, k: 64, n: 280, lda: 67, ldc: 283, ldr: nil, withBias: true, activation: .relu6, rng: &rng,
                          splitRows: true, splitPanels: true)
                checkGEMM(m: 31, k: 1100, n: 136, lda: 1100, ldc: 136, ldr: nil, withBias: true, activation: .none, rng: &rng)
            }
            // Row blocking of the 16-lane drivers (768 KiB of A rows a block): two equal blocks of
            // 1050 rows, panel-major and rows-outer (with a residual and 17 panels).
            checkGEMM(m: 2100, k: 100, n: 20, lda: 100, ldc: 20, ldr: nil, withBias: true, activation: .relu, rng: &rng)
            checkGEMM(m: 1100, k: 190, n: 260, lda: 190, ldc: 260, ldr: 260, withBias: true, activation: .relu, rng: &rng)
            // A larger than L2 (3.2 MB): the 8-lane rows-outer tiles ask for the next tile's A
            // lines (`gemmPrefetchA`), 38 of them: 8 before each of the first four panels' tiles
            // and 6 before the last one's; with and without.
            XCTAssertGreaterThan(4 * 8000 * 100, CacheSizes.level2OrDefault)
            let savedPrefetch = gemmPrefetchA
            for prefetch in [true, false] {
                gemmPrefetchA = prefetch
                checkGEMM(m: 8000, k: 100, n: 72, lda: 100, ldc: 72, ldr: nil, withBias: true, activation: .relu, rng: &rng,
                          splitRows: true)
            }
            gemmPrefetchA = savedPrefetch
            // C larger than L2 (5.6 MB) with small weights: rows-outer without a residual
            // (`gemmWideOutputStreams`), a narrow last panel, split rows.
            XCTAssertGreaterThan(4 * 20000 * 70, CacheSizes.level2OrDefault)
            checkGEMM(m: 20000, k: 20, n: 70, lda: 21, ldc: 73, ldr: nil, withBias: true, activation: .relu6, rng: &rng,
                      splitRows: true)
            // Weights larger than half of L2 (4.4 MB): panel order with a residual, the tiles asking
            // for the next panel pair (`GEMMPanelPrefetch`), a narrow last panel, split rows and panels.
            XCTAssertGreaterThan(4 * 1100 * 1000, CacheSizes.level2OrDefault / 2)
            checkGEMM(m: 57, k: 1100, n: 1000, lda: 1100, ldc: 1003, ldr: 1001, withBias: true, activation: .relu, rng: &rng,
                      splitRows: true, splitPanels: true, tol: 1e-4)
        }
    }

    /// Three whole panels left (N = 48, 80, 144, a range of 5 of 9 panels, a rows-outer group of
    /// 3 after 16) go as one tile: at 6 rows (rows-outer tiles of 8 split in two), at 8, and at 5.
    func testThreePanelTiles() {
        forBothKernelWidths {
            let standard = gemmWideTripleRows
            defer { gemmWideTripleRows = standard }
            for most in [6, 8, 5] {
                gemmWideTripleRows = most
                var rng = SeededRNG(seed: 19)
                for m in [1, 3, 6, 7, 8, 9, 11, 12, 13, 29] {
                    checkGEMM(m: m, k: 16, n: 48, lda: 16, ldc: 48, ldr: 48, withBias: true, activation: .relu, rng: &rng)
                }
                checkGEMM(m: 57, k: 24, n: 144, lda: 27, ldc: 150, ldr: 147, withBias: true, activation: .relu6, rng: &rng,
                          splitRows: true, splitPanels: true)
                checkGEMM(m: 45, k: 37, n: 80, lda: 37, ldc: 80, ldr: nil, withBias: true, activation: .hardSwish, rng: &rng,
                          splitPanels: true)
                checkGEMM(m: 61, k: 40, n: 304, lda: 40, ldc: 304, ldr: 304, withBias: true, activation: .relu, rng: &rng)
            }
        }
    }

    /// Reductions of 8, 12, 16, 24, 32, 40, 48 and 64 steps run their full 6 x 16 tiles unrolled in one call
    /// (`gemmShortKRun`): down one panel's rows (fewer than 4 panels), across a row tile's panels
    /// (rows-outer: 4 or more, in groups of 16), next to a narrow last panel (of 4 and 8 columns),
    /// 3 x 24 tiles (`gemmShortK24Run` and the general ones) and remainder rows; with residuals,
    /// strides, splits and every activation; with the paths off too.
    /// K of 7, 9, 25, 33 and 63 take the general tiles beside them.
    func testShortReductions() {
        forBothKernelWidths {
            let standard = (gemmShortKEnabled, gemmShortKRowsOuter, gemmShortKNarrowPanel, gemmShortK24)
            defer { (gemmShortKEnabled, gemmShortKRowsOuter, gemmShortKNarrowPanel, gemmShortK24) = standard }
            for (enabled, rowsOuter, narrow, pair) in [(true, true, false, true), (true, true, true, false), (true, true, false, false),
                                                       (true, false, false, true), (false, false, false, false)] {
                gemmShortKEnabled = enabled
                gemmShortKRowsOuter = rowsOuter
                gemmShortKNarrowPanel = narrow
                gemmShortK24 = pair
                var rng = SeededRNG(seed: 23)
                for k in [7, 8, 9, 12, 16, 24, 25, 32, 33, 40, 48, 63, 64] {
                    for n in [16, 20, 24, 32, 40, 52, 64, 72, 280] {
                        for m in [5, 6, 13, 50] {
                            checkGEMM(m: m, k: k, n: n, lda: k, ldc: n, ldr: nil, withBias: true, activation: .relu, rng: &rng)
                        }
                        let act = allActivations[rng.int(0...(allActivations.count - 1))]
                        checkGEMM(m: 61, k: k, n: n, lda: k + 3, ldc: n + 5, ldr: n + 2, withBias: rng.int(0...1) == 1,
                                  activation: act, rng: &rng, splitRows: true, splitPanels: true)
                    }
                }
                // Row blocks (more rows than a cache block of K = 8) with a residual.
                checkGEMM(m: 1500, k: 8, n: 16, lda: 64, ldc: 128, ldr: 16, withBias: true, activation: .relu6, rng: &rng)
            }
        }
    }

    /// Short reductions read through an offset table (a channel shuffle folded into the reads,
    /// as Im2colConv passes it): rows of 64 floats, the group's 8 or 16 channels 4 apart.
    func testShortReductionsThroughOffsets() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 29)
            for (k, n) in [(8, 16), (16, 16), (12, 72), (24, 40), (32, 32)] {
                let m = 45, lda = 4 * k + 3
                let a = rng.floats(m * lda), w = rng.floats(n * k), bias = rng.floats(n)
                let offsets = (0..<k).map { 4 * $0 + 1 }
                let gathered = (0..<m).flatMap { i in offsets.map { a[i * lda + $0] } }
                let residual = rng.floats(m * n)
                let expected = referenceGEMM(a: gathered, lda: k, m: m, k: k, w: w, n: n, bias: bias, residual: residual,
                                             ldr: n, activation: .relu)
                let packed = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: bias)
                var c = [Float](repeating: sentinel, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    offsets.withUnsafeBufferPointer { op in
                        residual.withUnsafeBufferPointer { rp in
                            c.withUnsafeMutableBufferPointer { cp in
                                GEMM.run(a: ap.baseAddress!, lda: lda, offsets: op.baseAddress!, weights: packed,
                                         c: cp.baseAddress!, ldc: n, residual: rp.baseAddress!, ldr: n,
                                         activation: .relu, rows: 0..<m)
                            }
                        }
                    }
                }
                assertClose(c, expected, tol: 2e-5, "k=\(k) n=\(n)")
            }
        }
    }

    func testResidualAliasingOutput() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 17)
            let m = 13, k = 9, n = 21
            let a = rng.floats(m * k), w = rng.floats(n * k)
            var c = rng.floats(m * n)
            let expected = referenceGEMM(a: a, lda: k, m: m, k: k, w: w, n: n, bias: nil, residual: c, ldr: n, activation: .relu)
            let packed = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: nil)
            a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    GEMM.run(a: ap.baseAddress!, lda: k, weights: packed, c: cp.baseAddress!, ldc: n,
                             residual: UnsafePointer(cp.baseAddress!), ldr: n, activation: .relu, rows: 0..<m)
                }
            }
            assertClose(c, expected)
        }
    }

    func testPackedReadBack() {
        var rng = SeededRNG(seed: 19)
        let n = 19, k = 7
        let w = rng.floats(n * k), b = rng.floats(n)
        let p = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: b)
        XCTAssertEqual(p.panelCount, 2)
        for j in 0..<n {
            XCTAssertEqual(p.biasValue(n: j), b[j])
            for kk in 0..<k { XCTAssertEqual(p.weight(n: j, k: kk), w[j * k + kk]) }
        }
        // Columns past N are zero, weights and bias; so is the bias when packed without one.
        for j in n..<32 {
            XCTAssertEqual(p.biasValue(n: j), 0)
            for kk in 0..<k { XCTAssertEqual(p.weight(n: j, k: kk), 0) }
        }
        // A row stride wider than K (a slice of a larger matrix).
        let ld = 11
        let wide = rng.floats(n * ld)
        let q = wide.withUnsafeBufferPointer { PackedGEMMWeights(weights: $0.baseAddress!, outputChannels: n, inputChannels: k, rowStride: ld, bias: nil) }
        for j in 0..<32 {
            XCTAssertEqual(q.biasValue(n: j), 0)
            for kk in 0..<k { XCTAssertEqual(q.weight(n: j, k: kk), j < n ? wide[j * ld + kk] : 0) }
        }
    }
}
