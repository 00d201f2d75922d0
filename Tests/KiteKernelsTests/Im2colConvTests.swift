import XCTest
@testable import KiteKernels

/// Naive grouped convolution reference over NHWC (double), output dense [OH][OW][Cout].
func referenceConv(input: [Float], ips: Int, g: ConvGeometry, cin: Int, cout: Int, groups: Int,
                   weights: [Float], bias: [Float]?, residual: [Float]?, rps: Int,
                   activation: KernelActivation) -> [Double] {
    let cinG = cin / groups, coutG = cout / groups
    var out = [Double](repeating: 0, count: g.outputHeight * g.outputWidth * cout)
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for co in 0..<cout {
                let gi = co / coutG
                var s = Double(bias?[co] ?? 0)
                for ci in 0..<cinG {
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                        if iy < 0 || iy >= g.inputHeight { continue }
                        for kx in 0..<g.kernelWidth {
                            let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                            if ix < 0 || ix >= g.inputWidth { continue }
                            let x = input[(iy * g.inputWidth + ix) * ips + gi * cinG + ci]
                            let w = weights[((co * cinG + ci) * g.kernelHeight + ky) * g.kernelWidth + kx]
                            s += Double(x) * Double(w)
                        }
                    }
                }
                let p = oy * g.outputWidth + ox
                if let residual { s += Double(residual[p * rps + co]) }
                out[p * cout + co] = referenceActivation(activation, s)
            }
        }
    }
    return out
}

final class Im2colConvTests: XCTestCase {
    func check(g: ConvGeometry, cin: Int, cout: Int, groups: Int, inputExtra: Int, outputExtra: Int,
               withBias: Bool, withResidual: Bool, activation: KernelActivation, splitRows: Bool,
               rng: inout SeededRNG, file: StaticString = #filePath, line: UInt = #line) {
        let ips = cin + inputExtra, ops = cout + outputExtra, rps = cout + 2
        let input = rng.floats(g.inputHeight * g.inputWidth * ips)
        let w = rng.floats(cout * (cin / groups) * g.kernelHeight * g.kernelWidth)
        let bias = withBias ? rng.floats(cout) : nil
        let outPixels = g.outputHeight * g.outputWidth
        let residual = withResidual ? rng.floats(outPixels * rps) : nil
        let packed = PackedConvWeights(weights: w, outputChannels: cout, inputChannels: cin,
                                       kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, groups: groups, bias: bias)
        var scratch = [Float](repeating: .nan, count: Im2colConv.scratchSize(geometry: g, weights: packed) + 1)
        var out = [Float](repeating: sentinel, count: outPixels * ops)
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { obuf in
                scratch.withUnsafeMutableBufferPointer { sbuf in
                    let op = obuf, sp = sbuf
                    let split = splitRows ? [0, g.outputHeight / 3, g.outputHeight] : [0, g.outputHeight]
                    for i in 0..<(split.count - 1) {
                        let run = { (res: UnsafePointer<Float>?) in
                            Im2colConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                           output: op.baseAddress!, outputPixelStride: ops,
                                           residual: res, residualPixelStride: rps, activation: activation,
                                           outputRows: split[i]..<split[i + 1], scratch: sp.baseAddress!)
                        }
                        if let residual { residual.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                    }
                }
            }
        }
        let expected = referenceConv(input: input, ips: ips, g: g, cin: cin, cout: cout, groups: groups, weights: w,
                                     bias: bias, residual: residual, rps: rps, activation: activation)
        assertChannelSlice(out, pixels: outPixels, ops: ops, cout: cout, expected: expected, tol: 2e-5,
                           "cin=\(cin) cout=\(cout) groups=\(groups) \(g) \(activation)", file: file, line: line)
    }

    /// 3-channel first layers wide enough for the stem tiles (8 output pixels by 16/24/32 channels
    /// with the 16-lane kernels; 6 pixels by 16 channels, or 12 by a last panel of at most 8, with
    /// the 8-lane ones), against the reference: tile remainders, border pixels, every panel shape.
    func testStemTiles() {
        var rng = SeededRNG(seed: 41)
        let cases: [(h: Int, w: Int, k: Int, s: Int, pad: Int, cout: Int, act: KernelActivation)] = [
            (23, 45, 3, 2, 1, 32, .relu6), (21, 37, 3, 2, 1, 24, .relu), (19, 29, 3, 2, 0, 16, .hardSwish),
            (15, 31, 3, 1, 1, 16, .leakyRelu(alpha: 0.1)), (13, 27, 3, 2, 1, 20, .none), (17, 41, 7, 2, 3, 64, .relu),
            (13, 35, 3, 2, 0, 40, .relu), (12, 30, 3, 1, 0, 8, .clip(min: -1, max: 1)), (11, 47, 3, 2, 1, 13, .relu),
        ]
        for c in cases {
            let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: c.k, kernelWidth: c.k, strideHeight: c.s,
                                 strideWidth: c.s, padTop: c.pad, padLeft: c.pad, padBottom: c.pad, padRight: c.pad)
            XCTAssertTrue(StemConv.takesWholeRows(geometry: g, inputChannels: 3, inputPixelStride: 3, groups: 1), "\(g)")
            check(g: g, cin: 3, cout: c.cout, groups: 1, inputExtra: 0, outputExtra: c.cout % 3, withBias: true,
                  withResidual: false, activation: c.act, splitRows: true, rng: &rng)
        }
        // Rows of 6-11 pixels (one tile and an overlapping one; rows narrower than a tile take the
        // GEMM), asymmetric and wide padding, windows taller than wide, and padding wider than the
        // kernel reaches.
        let odd: [(h: Int, w: Int, kh: Int, kw: Int, s: Int, pads: [Int], cout: Int)] = [
            (9, 17, 3, 3, 2, [1, 1, 1, 1], 24), (10, 19, 3, 3, 2, [0, 0, 1, 1], 32), (8, 11, 3, 3, 1, [1, 1, 1, 1], 16),
            (12, 23, 5, 3, 2, [2, 1, 2, 1], 24), (11, 16, 7, 7, 1, [3, 3, 3, 3], 40), (9, 13, 3, 3, 1, [2, 4, 0, 3], 20),
            (14, 20, 7, 7, 2, [3, 3, 3, 3], 64), (9, 13, 3, 3, 2, [1, 1, 1, 1], 24), (7, 11, 3, 3, 2, [1, 1, 1, 1], 8),
            (8, 7, 3, 3, 1, [1, 1, 1, 1], 16), (10, 25, 3, 3, 2, [1, 1, 1, 1], 8),
        ]
        for c in odd {
            let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: c.kh, kernelWidth: c.kw, strideHeight: c.s,
                                 strideWidth: c.s, padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
            XCTAssertEqual(StemConv.takesWholeRows(geometry: g, inputChannels: 3, inputPixelStride: 3, groups: 1),
                           g.outputWidth >= StemConv.tileRows, "\(g)")
            check(g: g, cin: 3, cout: c.cout, groups: 1, inputExtra: 0, outputExtra: 1, withBias: true,
                  withResidual: false, activation: .relu6, splitRows: true, rng: &rng)
        }
        // A residual, or input pixels wider than 3 floats, keep the GEMM path; results are the same.
        let g = ConvGeometry(inputHeight: 16, inputWidth: 40, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
                             strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertFalse(StemConv.isEligible(geometry: g, inputChannels: 3, inputPixelStride: 4, groups: 1))
        check(g: g, cin: 3, cout: 32, groups: 1, inputExtra: 1, outputExtra: 0, withBias: true, withResidual: false,
              activation: .relu, splitRows: false, rng: &rng)
        check(g: g, cin: 3, cout: 24, groups: 1, inputExtra: 0, outputExtra: 0, withBias: false, withResidual: true,
              activation: .relu, splitRows: false, rng: &rng)
    }

    /// A stem convolution with its max pool fused (`StemConv.runPooled`) against the reference
    /// convolution followed by the reference pool: stem and pool padding, pool strides 1-2,
    /// ceil-mode windows clipped at the end, 2x2 and dilated pool windows, and threads' row splits.
    func testPooledStem() throws {
        var rng = SeededRNG(seed: 47)
        let cases: [(h: Int, w: Int, k: Int, s: Int, pad: Int, cout: Int, pk: Int, ps: Int, ppad: [Int], pd: Int)] = [
            (23, 45, 3, 2, 1, 24, 3, 2, [1, 1, 1, 1], 1), (29, 37, 7, 2, 3, 64, 3, 2, [1, 1, 1, 1], 1),
            (27, 31, 3, 2, 0, 16, 3, 2, [0, 0, 1, 1], 1), (20, 22, 3, 1, 1, 16, 2, 2, [0, 0, 0, 0], 1),
            (17, 30, 3, 2, 1, 40, 3, 1, [1, 1, 1, 1], 1), (19, 26, 3, 1, 1, 20, 3, 2, [2, 2, 2, 2], 2),
        ]
        for c in cases {
            let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: c.k, kernelWidth: c.k, strideHeight: c.s,
                                 strideWidth: c.s, padTop: c.pad, padLeft: c.pad, padBottom: c.pad, padRight: c.pad)
            let pg = ConvGeometry(inputHeight: g.outputHeight, inputWidth: g.outputWidth, kernelHeight: c.pk, kernelWidth: c.pk,
                                  strideHeight: c.ps, strideWidth: c.ps, padTop: c.ppad[0], padLeft: c.ppad[1],
                                  padBottom: c.ppad[2], padRight: c.ppad[3], dilationHeight: c.pd, dilationWidth: c.pd)
            XCTAssertTrue(StemConv.takesWholeRows(geometry: g, inputChannels: 3, inputPixelStride: 3, groups: 1))
            let input = rng.floats(c.h * c.w * 3)
            let w = rng.floats(c.cout * 27 * c.k * c.k / 9)
            let bias = rng.floats(c.cout)
            let packed = PackedConvWeights(weights: w, outputChannels: c.cout, inputChannels: 3, kernelHeight: c.k,
                                           kernelWidth: c.k, bias: bias)
            let conv = referenceConv(input: input, ips: 3, g: g, cin: 3, cout: c.cout, groups: 1, weights: w, bias: bias,
                                     residual: nil, rps: 0, activation: .relu6)
            let expected = referencePool(input: conv.map { Float($0) }, ips: c.cout, g: pg, channels: c.cout, isMax: true,
                                         countIncludePad: false)
            let ops = c.cout + 3
            let pixels = pg.outputHeight * pg.outputWidth
            var out = [Float](repeating: sentinel, count: pixels * ops)
            var scratch = [Float](repeating: .nan, count: StemConv.pooledScratchSize(geometry: g, outputChannels: c.cout, pool: pg))
            // Two row ranges, as two threads would split them.
            let split = pg.outputHeight / 2
            for rows in [0..<split, split..<pg.outputHeight] {
                out.withUnsafeMutableBufferPointer { o in
                    input.withUnsafeBufferPointer { i in
                        scratch.withUnsafeMutableBufferPointer { s in
                            StemConv.runPooled(input: i.baseAddress!, geometry: g, weights: packed, activation: .relu6, pool: pg,
                                               output: o.baseAddress!, outputPixelStride: ops, rows: rows, scratch: s.baseAddress!)
                        }
                    }
                }
            }
            assertChannelSlice(out, pixels: pixels, ops: ops, cout: c.cout, expected: expected, tol: 2e-5, "\(c)")
        }
    }

    func testFirstLayer() {
        var rng = SeededRNG(seed: 37)
        // MobileNet stem: 3x3 s2, Cin 3, TF-style asymmetric padding.
        let g = ConvGeometry(inputHeight: 17, inputWidth: 13, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
                             strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)
        check(g: g, cin: 3, cout: 32, groups: 1, inputExtra: 0, outputExtra: 0, withBias: true, withResidual: false,
              activation: .relu6, splitRows: true, rng: &rng)
        let g2 = ConvGeometry(inputHeight: 32, inputWidth: 32, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
                              strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        check(g: g2, cin: 3, cout: 16, groups: 1, inputExtra: 1, outputExtra: 3, withBias: true, withResidual: false,
              activation: .hardSwish, splitRows: false, rng: &rng)
    }

    func testGroupedPointwise() {
        var rng = SeededRNG(seed: 41)
        let g = ConvGeometry(inputHeight: 7, inputWidth: 9, kernelHeight: 1, kernelWidth: 1)
        for groups in [1, 3, 8] {
            check(g: g, cin: 24, cout: groups * 5, groups: groups, inputExtra: 4, outputExtra: 2, withBias: true,
                  withResidual: true, activation: .relu, splitRows: true, rng: &rng)
        }
    }

    func testRandomGeometries() {
        var rng = SeededRNG(seed: 43)
        var checked = 0
        for trial in 0..<50 {
            let kh = [1, 2, 3, 3, 5][rng.int(0...4)]
            let kw = trial % 4 == 0 ? [1, 3][rng.int(0...1)] : kh
            guard let g = randomGeometry(kh: kh, kw: kw, maxSize: 13, rng: &rng) else { continue }
            let groups = [1, 1, 2, 3, 4][rng.int(0...4)]
            let cin = groups * [1, 3, 5, 9][rng.int(0...3)]
            let cout = groups * [1, 2, 7, 17][rng.int(0...3)]
            check(g: g, cin: cin, cout: cout, groups: groups, inputExtra: rng.int(0...3), outputExtra: rng.int(0...3),
                  withBias: rng.int(0...1) == 1, withResidual: trial % 3 == 0,
                  activation: allActivations[trial % allActivations.count], splitRows: trial % 2 == 1, rng: &rng)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 30)
    }

    func testImplicitInteriorPath() {
        // Outputs at least 12 pixels wide take the implicit-im2col path for interior pixels.
        var rng = SeededRNG(seed: 107)
        for trial in 0..<12 {
            let kh = [1, 3, 3, 5][trial % 4], kw = trial % 5 == 0 ? 1 : kh
            let s = 1 + trial % 2, d = trial % 3 == 2 ? 2 : 1
            let w = 12 * s + (kw - 1) * d + rng.int(0...9)
            let g = ConvGeometry(inputHeight: rng.int(3...8) + (kh - 1) * d, inputWidth: w, kernelHeight: kh, kernelWidth: kw,
                                 strideHeight: s, strideWidth: s, padTop: rng.int(0...1), padLeft: rng.int(0...2),
                                 padBottom: rng.int(0...2), padRight: rng.int(0...1), dilationHeight: d, dilationWidth: d)
            let groups = [1, 2, 4][trial % 3]
            check(g: g, cin: groups * [1, 3, 8][rng.int(0...2)], cout: groups * [3, 16, 21][rng.int(0...2)], groups: groups,
                  inputExtra: rng.int(0...2), outputExtra: rng.int(0...2), withBias: true, withResidual: trial % 2 == 0,
                  activation: allActivations[trial % allActivations.count], splitRows: trial % 2 == 1, rng: &rng)
        }
    }

    func testSmallGroupDirectKernel() {
        // cin/group == cout/group in {2, 4, 8}: the direct rotated-lane kernel.
        var rng = SeededRNG(seed: 109)
        var trial = 0
        for c in [2, 4, 8] {
            for channels in [8, 10, 12, 24, 36, 40] where channels % c == 0 && channels > c {
                let k = [3, 3, 1, 5][trial % 4]
                guard let g = randomGeometry(kh: k, kw: k, maxSize: 17, rng: &rng) else { continue }
                XCTAssertTrue(RotatedGroupWeights.isEligible(inputChannels: channels, outputChannels: channels,
                                                             groups: channels / c))
                check(g: g, cin: channels, cout: channels, groups: channels / c, inputExtra: rng.int(0...3),
                      outputExtra: rng.int(0...3), withBias: trial % 3 != 0, withResidual: trial % 2 == 0,
                      activation: allActivations[trial % allActivations.count], splitRows: trial % 2 == 1, rng: &rng)
                trial += 1
            }
        }
        XCTAssertGreaterThan(trial, 10)
    }

    func testGroupPairs() {
        // 1x1, 8 output channels per group, even group count: two groups per 16-column tile
        // (any input channels per group, odd pixel counts, row splits, residual).
        // With and without the runs of full 6-row tiles (`gemmPairTiles`); 40x37 pixels make several
        // pixel blocks of whole tiles and a remainder.
        let standard = groupPairTileRuns
        defer { groupPairTileRuns = standard }
        for runs in [true, false] {
            groupPairTileRuns = runs
            var rng = SeededRNG(seed: 113)
            var trial = 0
            for groups in [2, 4, 6, 16] {
                for cinPerGroup in [1, 3, 8, 13] {
                    let g = ConvGeometry(inputHeight: rng.int(1...9), inputWidth: rng.int(1...13), kernelHeight: 1, kernelWidth: 1)
                    let packed = PackedConvWeights(weights: [Float](repeating: 0, count: groups * 8 * cinPerGroup),
                                                   outputChannels: groups * 8, inputChannels: groups * cinPerGroup,
                                                   kernelHeight: 1, kernelWidth: 1, groups: groups, bias: nil)
                    XCTAssertEqual(packed.kernelName, "group-pairs")
                    check(g: g, cin: groups * cinPerGroup, cout: groups * 8, groups: groups, inputExtra: rng.int(0...3),
                          outputExtra: rng.int(0...3), withBias: trial % 3 != 0, withResidual: trial % 2 == 0,
                          activation: allActivations[trial % allActivations.count], splitRows: trial % 2 == 1, rng: &rng)
                    trial += 1
                }
            }
            check(g: ConvGeometry(inputHeight: 40, inputWidth: 37, kernelHeight: 1, kernelWidth: 1), cin: 32, cout: 64, groups: 8,
                  inputExtra: 3, outputExtra: 1, withBias: true, withResidual: true, activation: .relu, splitRows: true, rng: &rng)
        }
        // An odd group count keeps the per-group GEMM.
        let odd = PackedConvWeights(weights: [Float](repeating: 0, count: 24 * 4), outputChannels: 24, inputChannels: 12,
                                    kernelHeight: 1, kernelWidth: 1, groups: 3, bias: nil)
        XCTAssertEqual(odd.kernelName, "group-gemm")
    }

    func testDepthwiseAsGroupedConvMatches() {
        // groups == C through the im2col path (channel multiplier 2).
        var rng = SeededRNG(seed: 47)
        let g = ConvGeometry(inputHeight: 9, inputWidth: 7, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 1,
                             padTop: 1, padLeft: 0, padBottom: 2, padRight: 1)
        check(g: g, cin: 5, cout: 10, groups: 5, inputExtra: 0, outputExtra: 0, withBias: true, withResidual: false,
              activation: .leakyRelu(alpha: 0.2), splitRows: false, rng: &rng)
    }

    func testLargeChunks() {
        // More output pixels than one scratch chunk, wide reduction.
        var rng = SeededRNG(seed: 53)
        let g = ConvGeometry(inputHeight: 20, inputWidth: 21, kernelHeight: 3, kernelWidth: 3,
                             padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        check(g: g, cin: 64, cout: 40, groups: 1, inputExtra: 0, outputExtra: 0, withBias: true, withResidual: true,
              activation: .relu, splitRows: true, rng: &rng)
    }
}
