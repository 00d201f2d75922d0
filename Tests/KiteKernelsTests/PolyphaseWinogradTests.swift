import XCTest
@testable import KiteKernels

final class PolyphaseWinogradTests: XCTestCase {
    /// Runs `PolyphaseWinogradConv.run` over the row ranges between `splits` and compares with the
    /// reference convolution: max |got - ref| / max(1, max |ref|) <= 1e-4, nothing written outside
    /// each pixel's `cout` channels.
    func check(h: Int, w: Int, kh: Int, kw: Int, pads: (Int, Int, Int, Int), cin: Int, cout: Int,
               inputExtra: Int = 0, outputExtra: Int = 0, withBias: Bool = true, withResidual: Bool = false,
               activation: KernelActivation = .none, splits: [Int]? = nil, rng: inout SeededRNG,
               file: StaticString = #filePath, line: UInt = #line) {
        let g = ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: kh, kernelWidth: kw, strideHeight: 2, strideWidth: 2,
                             padTop: pads.0, padLeft: pads.1, padBottom: pads.2, padRight: pads.3)
        let ips = cin + inputExtra, ops = cout + outputExtra, rps = cout + 2
        let input = rng.floats(h * w * ips, in: -2...2)
        let weights = rng.floats(cout * cin * kh * kw, in: -0.4...0.4)
        let bias = withBias ? rng.floats(cout) : nil
        let pixels = g.outputHeight * g.outputWidth
        let residual = withResidual ? rng.floats(pixels * rps) : nil
        let packed = weights.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                PackedPolyphaseWeights(weights: wp.baseAddress!, outputChannels: cout, inputChannels: cin,
                                       kernelHeight: kh, kernelWidth: kw, bias: bias == nil ? nil : bp.baseAddress)
            }
        }
        var scratch = [Float](repeating: .nan, count: PolyphaseWinogradConv.scratchSize(geometry: g, weights: packed))
        var out = [Float](repeating: sentinel, count: pixels * ops)
        let bounds = splits ?? [0, g.outputHeight]
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { obuf in
                scratch.withUnsafeMutableBufferPointer { sbuf in
                    let op = obuf, sp = sbuf
                    for i in 0..<(bounds.count - 1) {
                        let run = { (res: UnsafePointer<Float>?) in
                            PolyphaseWinogradConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                                      output: op.baseAddress!, outputPixelStride: ops, residual: res,
                                                      residualPixelStride: rps, activation: activation,
                                                      outputRows: bounds[i]..<bounds[i + 1], scratch: sp.baseAddress!)
                        }
                        if let residual { residual.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                    }
                }
            }
        }
        let expected = referenceConv(input: input, ips: ips, g: g, cin: cin, cout: cout, groups: 1, weights: weights,
                                     bias: bias, residual: residual, rps: rps, activation: activation)
        let scale = expected.reduce(1.0) { max($0, abs($1)) }
        assertChannelSlice(out, pixels: pixels, ops: ops, cout: cout, expected: expected, tol: 1e-4 * scale,
                           "\(kh)x\(kw) pads \(pads) \(h)x\(w) cin \(cin) cout \(cout) \(activation) splits \(bounds)",
                           file: file, line: line)
    }

    func testSevenBySevenStemShapes() {
        var rng = SeededRNG(seed: 71)
        forBothKernelWidths {
            // A stem as exporters write it (pad 3, ReLU), at a size small enough for the reference.
            check(h: 40, w: 40, kh: 7, kw: 7, pads: (3, 3, 3, 3), cin: 3, cout: 64, activation: .relu, rng: &rng)
            // Odd sizes, channels not multiples of 8, padded pixels, every pad different.
            check(h: 37, w: 29, kh: 7, kw: 7, pads: (3, 2, 1, 0), cin: 3, cout: 20, inputExtra: 1, outputExtra: 3, rng: &rng)
            check(h: 23, w: 31, kh: 7, kw: 7, pads: (0, 0, 0, 0), cin: 2, cout: 13, withBias: false, rng: &rng)
            check(h: 33, w: 35, kh: 7, kw: 7, pads: (3, 3, 3, 3), cin: 5, cout: 17, activation: .hardSwish, rng: &rng)
        }
    }

    func testFiveAndSixAndMixedKernels() {
        var rng = SeededRNG(seed: 72)
        forBothKernelWidths {
            check(h: 30, w: 27, kh: 5, kw: 5, pads: (2, 2, 2, 2), cin: 4, cout: 24, activation: .relu6, rng: &rng)
            check(h: 29, w: 33, kh: 6, kw: 6, pads: (2, 3, 2, 1), cin: 4, cout: 9, rng: &rng)
            check(h: 31, w: 26, kh: 7, kw: 5, pads: (3, 2, 3, 2), cin: 3, cout: 16, rng: &rng)
            check(h: 26, w: 31, kh: 5, kw: 7, pads: (1, 3, 2, 3), cin: 16, cout: 32, rng: &rng)
        }
    }

    func testRowSplitsAndResidual() {
        var rng = SeededRNG(seed: 73)
        forBothKernelWidths {
            // Bands of 16 rows: splits inside a band, across bands, and one row alone.
            check(h: 75, w: 23, kh: 7, kw: 7, pads: (3, 3, 3, 3), cin: 3, cout: 16, withResidual: true, activation: .relu,
                  splits: [0, 5, 6, 23, 38], rng: &rng)
            check(h: 47, w: 21, kh: 7, kw: 7, pads: (3, 3, 3, 3), cin: 3, cout: 8, splits: [0, 17, 24], rng: &rng)
        }
    }

    /// `runPooled` against the reference convolution and a plain max pool, split into row ranges.
    func testPooledStem() {
        var rng = SeededRNG(seed: 74)
        let cases: [(h: Int, w: Int, cin: Int, cout: Int, ips: Int, pool: Int, stride: Int, pad: Int, splits: [Int])] = [
            (61, 45, 3, 16, 3, 3, 2, 1, [0, 16]),          // stems: 3x3 stride-2 pool, pad 1
            (61, 45, 3, 24, 4, 3, 2, 1, [0, 5, 6, 11, 16]),
            (50, 38, 2, 8, 2, 2, 2, 0, [0, 12]),           // 2x2 pool
            (47, 29, 3, 16, 3, 3, 1, 1, [0, 9, 24]),       // stride-1 pool
        ]
        forBothKernelWidths {
            for c in cases {
                let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 7, kernelWidth: 7, strideHeight: 2,
                                     strideWidth: 2, padTop: 3, padLeft: 3, padBottom: 3, padRight: 3)
                let pg = ConvGeometry(inputHeight: g.outputHeight, inputWidth: g.outputWidth, kernelHeight: c.pool,
                                      kernelWidth: c.pool, strideHeight: c.stride, strideWidth: c.stride,
                                      padTop: c.pad, padLeft: c.pad, padBottom: c.pad, padRight: c.pad)
                guard c.splits.last == pg.outputHeight else { XCTFail("splits of \(c)"); continue }
                let input = rng.floats(c.h * c.w * c.ips, in: -2...2)
                let weights = rng.floats(c.cout * c.cin * 49, in: -0.4...0.4)
                let bias = rng.floats(c.cout)
                let packed = weights.withUnsafeBufferPointer { wp in
                    bias.withUnsafeBufferPointer { bp in
                        PackedPolyphaseWeights(weights: wp.baseAddress!, outputChannels: c.cout, inputChannels: c.cin,
                                               kernelHeight: 7, kernelWidth: 7, bias: bp.baseAddress)
                    }
                }
                let ops = c.cout + 3
                var out = [Float](repeating: sentinel, count: pg.outputHeight * pg.outputWidth * ops)
                var scratch = [Float](repeating: .nan,
                                      count: PolyphaseWinogradConv.pooledScratchSize(geometry: g, weights: packed, pool: pg))
                input.withUnsafeBufferPointer { ip in
                    out.withUnsafeMutableBufferPointer { obuf in
                        scratch.withUnsafeMutableBufferPointer { sbuf in
                            for i in 0..<(c.splits.count - 1) {
                                PolyphaseWinogradConv.runPooled(input: ip.baseAddress!, inputPixelStride: c.ips, geometry: g,
                                                                weights: packed, activation: .relu, pool: pg,
                                                                output: obuf.baseAddress!, outputPixelStride: ops,
                                                                rows: c.splits[i]..<c.splits[i + 1], scratch: sbuf.baseAddress!)
                            }
                        }
                    }
                }
                let conv = referenceConv(input: input, ips: c.ips, g: g, cin: c.cin, cout: c.cout, groups: 1, weights: weights,
                                         bias: bias, residual: nil, rps: 0, activation: .relu)
                var expected = [Double]()
                for py in 0..<pg.outputHeight {
                    for px in 0..<pg.outputWidth {
                        for ch in 0..<c.cout {
                            var m = -Double.infinity
                            for ky in 0..<c.pool {
                                for kx in 0..<c.pool {
                                    let y = py * c.stride - c.pad + ky, x = px * c.stride - c.pad + kx
                                    if y >= 0 && y < g.outputHeight && x >= 0 && x < g.outputWidth {
                                        m = max(m, conv[(y * g.outputWidth + x) * c.cout + ch])
                                    }
                                }
                            }
                            expected.append(m)
                        }
                    }
                }
                let scale = expected.reduce(1.0) { max($0, abs($1)) }
                assertChannelSlice(out, pixels: pg.outputHeight * pg.outputWidth, ops: ops, cout: c.cout, expected: expected,
                                   tol: 1e-4 * scale, "\(c)")
            }
        }
    }

    func testEligibility() {
        let stem = ConvGeometry(inputHeight: 224, inputWidth: 224, kernelHeight: 7, kernelWidth: 7, strideHeight: 2,
                                strideWidth: 2, padTop: 3, padLeft: 3, padBottom: 3, padRight: 3)
        let saved = wideVectorKernels
        defer { wideVectorKernels = saved }
        wideVectorKernels = false
        XCTAssertTrue(PolyphaseWinogradConv.isEligible(geometry: stem, inputChannels: 3, groups: 1))
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: stem, inputChannels: 3, groups: 3), "grouped")
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: stem, inputChannels: 32, groups: 1), "many channels")
        var five = stem
        five.kernelHeight = 5; five.kernelWidth = 5
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: five, inputChannels: 3, groups: 1),
                       "12 patch channels are below Winograd's minimum")
        XCTAssertTrue(PolyphaseWinogradConv.isEligible(geometry: five, inputChannels: 4, groups: 1))
        var three = stem
        three.kernelHeight = 3; three.kernelWidth = 3
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: three, inputChannels: 3, groups: 1), "3x3 gains nothing")
        var strideOne = stem
        strideOne.strideHeight = 1; strideOne.strideWidth = 1
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: strideOne, inputChannels: 3, groups: 1))
        wideVectorKernels = true
        XCTAssertFalse(PolyphaseWinogradConv.isEligible(geometry: stem, inputChannels: 3, groups: 1), "not with 16 lanes")
    }
}
