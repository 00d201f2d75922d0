import Foundation
import XCTest
@testable import KiteKernels

/// Standard normal samples (Box-Muller).
private func normals(_ n: Int, _ rng: inout SeededRNG) -> [Float] {
    (0..<n).map { _ in
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng), u2 = Double.random(in: 0..<1, using: &rng)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

final class WinogradTests: XCTestCase {
    /// Runs `WinogradConv.run` (split into `splits` row ranges) and compares with the reference:
    /// max |got - ref| / max(1, max |ref|) <= tol. Returns that error.
    @discardableResult
    func check(g: ConvGeometry, cin: Int, cout: Int, groups: Int = 1, inputExtra: Int = 0, outputExtra: Int = 0,
               withBias: Bool = true, withResidual: Bool = false, activation: KernelActivation = .none,
               splits: [Int]? = nil, channelSplits: [Int]? = nil, groupSplits: [Int]? = nil, tile: Int = 4, tol: Double = 1e-4,
               rng: inout SeededRNG,
               file: StaticString = #filePath, line: UInt = #line) -> Double {
        let ips = cin + inputExtra, ops = cout + outputExtra, rps = cout + 3
        let input = normals(g.inputHeight * g.inputWidth * ips, &rng)
        let scale = Float(1 / (Double(9 * cin / groups)).squareRoot())
        let w = rng.floats(cout * (cin / groups) * 9, in: -0.5...0.5).map { $0 * scale * 2 }
        let bias = withBias ? rng.floats(cout, in: -0.5...0.5) : nil
        let outPixels = g.outputHeight * g.outputWidth
        let residual = withResidual ? normals(outPixels * rps, &rng) : nil
        let packed = PackedWinogradWeights(weights: w, outputChannels: cout, inputChannels: cin, groups: groups, bias: bias, tile: tile)
        var scratch = [Float](repeating: .nan, count: WinogradConv.scratchSize(geometry: g, weights: packed))
        var out = [Float](repeating: sentinel, count: outPixels * ops)
        let bounds = splits ?? [0, g.outputHeight]
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { obuf in
                scratch.withUnsafeMutableBufferPointer { sbuf in
                    let op = obuf, sp = sbuf
                    // Channel or group ranges (one pass when neither is split).
                    let cb = channelSplits ?? groupSplits ?? [0, 1]
                    for i in 0..<(bounds.count - 1) {
                        for j in 0..<(cb.count - 1) {
                            let run = { (res: UnsafePointer<Float>?) in
                                WinogradConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                                 output: op.baseAddress!, outputPixelStride: ops,
                                                 residual: res, residualPixelStride: rps, activation: activation,
                                                 outputRows: bounds[i]..<bounds[i + 1],
                                                 outputChannels: channelSplits == nil ? nil : cb[j]..<cb[j + 1],
                                                 groups: groupSplits == nil ? nil : cb[j]..<cb[j + 1],
                                                 scratch: sp.baseAddress!)
                            }
                            if let residual { residual.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                        }
                    }
                }
            }
        }
        let expected = referenceConv(input: input, ips: ips, g: g, cin: cin, cout: cout, groups: groups, weights: w,
                                     bias: bias, residual: residual, rps: rps, activation: activation)
        var scaleRef = 1.0
        for e in expected { scaleRef = max(scaleRef, abs(e)) }
        var worst = 0.0
        for p in 0..<outPixels {
            for c in 0..<ops {
                let v = out[p * ops + c]
                if c < cout {
                    let err = abs(Double(v) - expected[p * cout + c])
                    if !(err <= worst) { worst = err.isNaN ? .infinity : err }
                } else if v != sentinel {
                    XCTFail("wrote outside the output slice", file: file, line: line)
                    return .infinity
                }
            }
        }
        let rel = worst / scaleRef
        XCTAssertLessThanOrEqual(rel, tol, "F\(tile) cin=\(cin) cout=\(cout) groups=\(groups) \(g) \(activation) splits=\(bounds)",
                                 file: file, line: line)
        return rel
    }

    func geometry(_ h: Int, _ w: Int, pad: (Int, Int, Int, Int) = (1, 1, 1, 1)) -> ConvGeometry {
        ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: 3, kernelWidth: 3,
                     padTop: pad.0, padLeft: pad.1, padBottom: pad.2, padRight: pad.3)
    }

    /// The packed filters are exactly `Float((G g) G^T)` computed in Double in formula order, for
    /// every group, position, output and input channel; the panel columns past Cout stay zero.
    func testFilterTransformIsExact() {
        var rng = SeededRNG(seed: 211)
        let G4: [[Double]] = [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                              [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        let G2: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        for tile in [4, 2] {
            let G = tile == 4 ? G4 : G2, n = tile + 2
            for (cout, cin, groups) in [(18, 5, 1), (6, 4, 2), (40, 8, 4)] {
                let coutG = cout / groups, cinG = cin / groups
                let w = rng.floats(cout * cinG * 9, in: -2...2)
                let packed = PackedWinogradWeights(weights: w, outputChannels: cout, inputChannels: cin, groups: groups, bias: nil,
                                                   tile: tile)
                XCTAssertEqual(packed.positions.count, groups * n * n)
                for gi in 0..<groups {
                    for r in 0..<n {
                        for c in 0..<n {
                            let u = packed.positions[gi * n * n + r * n + c]
                            XCTAssertEqual(u.outputChannels, coutG)
                            XCTAssertEqual(u.inputChannels, cinG)
                            for co in 0..<(u.panelCount * PackedGEMMWeights.panelWidth) {
                                for ci in 0..<cinG {
                                    guard co < coutG else {
                                        XCTAssertEqual(u.panels[(co / 16) * cinG * 16 + ci * 16 + co % 16], 0)
                                        continue
                                    }
                                    let g = Array(w[(((gi * coutG + co) * cinG + ci) * 9)...].prefix(9)).map(Double.init)
                                    var t = [Double](repeating: 0, count: 3)
                                    for kx in 0..<3 {
                                        var s = 0.0
                                        for ky in 0..<3 { s += G[r][ky] * g[ky * 3 + kx] }
                                        t[kx] = s
                                    }
                                    var s = 0.0
                                    for kx in 0..<3 { s += t[kx] * G[c][kx] }
                                    XCTAssertEqual(u.weight(n: co, k: ci), Float(s),
                                                   "F\(tile) cout \(cout) cin \(cin) groups \(groups) position \(r),\(c)")
                                }
                            }
                            XCTAssertEqual(u.biasValue(n: 0), 0)
                        }
                    }
                }
            }
        }
    }

    func testSmallShapesAndChannels() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 201)
            check(g: geometry(7, 9), cin: 3, cout: 5, rng: &rng)
            check(g: geometry(7, 9, pad: (0, 0, 0, 0)), cin: 3, cout: 5, withBias: false, rng: &rng)
            check(g: geometry(13, 13), cin: 17, cout: 33, activation: .relu, rng: &rng)
            check(g: geometry(13, 13, pad: (0, 0, 0, 0)), cin: 17, cout: 33, withResidual: true, rng: &rng)
            check(g: geometry(5, 6, pad: (0, 1, 1, 0)), cin: 8, cout: 16, rng: &rng)
            check(g: geometry(1, 1), cin: 9, cout: 7, rng: &rng)
            check(g: geometry(3, 3, pad: (0, 0, 0, 0)), cin: 9, cout: 7, rng: &rng)
            check(g: geometry(4, 11, pad: (2, 0, 1, 2)), cin: 24, cout: 20, activation: .leakyRelu(alpha: 0.1), rng: &rng)
        }
    }

    /// F(2x2, 3x3), which small maps take (`WinogradConv.tileSize`): odd and tiny maps, padding on
    /// any side, channels off the vector width, groups, residual, activations, and threads'
    /// splits by rows (off the 2-row tile grid), by 16-aligned output channels and by groups.
    func testSmallTiles() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 212)
            check(g: geometry(7, 7), cin: 64, cout: 64, groups: 4, withResidual: true, activation: .relu, tile: 2, rng: &rng)
            check(g: geometry(7, 9), cin: 3, cout: 5, tile: 2, rng: &rng)
            check(g: geometry(7, 9, pad: (0, 0, 0, 0)), cin: 3, cout: 5, withBias: false, tile: 2, rng: &rng)
            check(g: geometry(13, 13), cin: 17, cout: 33, activation: .relu6, splits: [0, 5, 13], tile: 2, rng: &rng)
            check(g: geometry(5, 6, pad: (0, 1, 1, 0)), cin: 8, cout: 16, tile: 2, rng: &rng)
            check(g: geometry(1, 1), cin: 9, cout: 7, tile: 2, rng: &rng)
            check(g: geometry(2, 2), cin: 24, cout: 40, inputExtra: 3, outputExtra: 2, tile: 2, rng: &rng)
            check(g: geometry(4, 11, pad: (2, 0, 1, 2)), cin: 24, cout: 20, activation: .leakyRelu(alpha: 0.1),
                  splits: [0, 1, 2, 5], tile: 2, rng: &rng)
            check(g: geometry(6, 6), cin: 64, cout: 40, inputExtra: 3, withBias: false, activation: .sigmoid,
                  channelSplits: [0, 16, 40], tile: 2, rng: &rng)
            check(g: geometry(8, 7, pad: (0, 1, 2, 1)), cin: 60, cout: 36, groups: 3, inputExtra: 2, outputExtra: 1,
                  withBias: false, groupSplits: [0, 1, 3], tile: 2, rng: &rng)
            check(g: geometry(7, 7), cin: 96, cout: 96, groups: 6, activation: .hardSwish, groupSplits: [0, 1, 2, 3, 6],
                  tile: 2, rng: &rng)
            for trial in 0..<24 {
                let h = rng.int(1...12), w = rng.int(1...12)
                let pt = rng.int(0...2), pl = rng.int(0...2), pb = rng.int(0...2), pr = rng.int(0...2)
                if h + pt + pb < 3 || w + pl + pr < 3 { continue }
                let g = ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: 3, kernelWidth: 3,
                                     padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
                let groups = [1, 2, 4][rng.int(0...2)]
                let cin = groups * rng.int(1...36), cout = groups * rng.int(1...36)
                var splits = [0, g.outputHeight]
                if g.outputHeight > 2 && trial % 2 == 0 { splits = [0, rng.int(1...(g.outputHeight - 1)), g.outputHeight] }
                check(g: g, cin: cin, cout: cout, groups: groups, inputExtra: rng.int(0...3), outputExtra: rng.int(0...3),
                      withBias: trial % 4 != 1, withResidual: trial % 3 == 0,
                      activation: allActivations[trial % allActivations.count], splits: splits, tile: 2, rng: &rng)
            }
        }
    }

    /// 2x2 tiles with 32+ input channels per group where they cost at most 1.4x the multiplies of
    /// 4x4 ones or the map is at most four 4x4 tiles: IGCv1's and CondenseNet's 7x7 and 14x14
    /// stages, SqueezeNet's 13x13 ones; 4x4 on 12x12, 15x15 and 28x28 maps (1.8x) and for
    /// ResNeXt-50's 16-channel groups. Always 4x4 with the 16-lane kernels.
    func testTileSizeChoice() {
        for (size, cin, cout, groups, tile) in [(7, 512, 512, 4, 2), (7, 512, 128, 4, 2), (14, 256, 256, 4, 2), (14, 256, 64, 4, 2),
                                                (13, 48, 192, 1, 2), (10, 384, 384, 1, 2), (5, 128, 12, 4, 2), (14, 512, 512, 32, 4),
                                                (7, 1024, 1024, 32, 2), (12, 64, 64, 1, 4), (15, 64, 64, 1, 4), (28, 128, 128, 4, 4),
                                                (56, 64, 64, 4, 4)] {
            XCTAssertEqual(WinogradConv.tileSize(geometry: geometry(size, size), inputChannels: cin, outputChannels: cout,
                                                 groups: groups), wideVectorKernels ? 4 : tile, "\(size)x\(size) \(cin)->\(cout) g=\(groups)")
        }
    }

    func testLargerShapes() {
        var rng = SeededRNG(seed: 202)
        check(g: geometry(56, 56), cin: 64, cout: 64, withResidual: true, activation: .relu, splits: [0, 19, 37, 56],
              rng: &rng)
        check(g: geometry(14, 15), cin: 96, cout: 128, inputExtra: 5, outputExtra: 3, activation: .relu6,
              splits: [0, 6, 14], rng: &rng)
        check(g: geometry(27, 27), cin: 32, cout: 128, inputExtra: 32, outputExtra: 64, rng: &rng)
    }

    func testChannelSplits() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 207)
            check(g: geometry(13, 13), cin: 17, cout: 33, withResidual: true, activation: .relu, channelSplits: [0, 16, 32, 33],
                  rng: &rng)
            check(g: geometry(9, 7, pad: (0, 1, 1, 2)), cin: 40, cout: 64, outputExtra: 4, splits: [0, 3, 8],
                  channelSplits: [0, 32, 64], rng: &rng)
            check(g: geometry(6, 6), cin: 64, cout: 40, inputExtra: 3, withBias: false, activation: .sigmoid,
                  channelSplits: [0, 16, 40], rng: &rng)
        }
    }

    func testGroups() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 203)
            check(g: geometry(9, 10), cin: 64, cout: 64, groups: 2, withResidual: true, activation: .relu,
                  splits: [0, 5, 9], rng: &rng)
            check(g: geometry(8, 7, pad: (0, 1, 2, 1)), cin: 60, cout: 36, groups: 3, inputExtra: 2, outputExtra: 1,
                  withBias: false, rng: &rng)
            check(g: geometry(11, 6), cin: 68, cout: 52, groups: 4, activation: .hardSwish, splits: [0, 1, 10, 11], rng: &rng)
        }
    }

    /// Input channels read in runs of 8 from anywhere in the pixel (a folded channel shuffle):
    /// against the reference convolution on the input in the order the runs give.
    func testInputChannelRuns() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 209)
            for (cin, cout, groups, h, w, tile) in [(64, 32, 2, 9, 11, 4), (128, 32, 4, 6, 7, 4), (16, 8, 1, 5, 4, 4),
                                                    (128, 32, 4, 7, 7, 2), (64, 40, 2, 5, 6, 2)] {
                let g = geometry(h, w)
                let ips = cin + 5
                let starts = (0..<(cin / 8)).shuffled(using: &rng).map { $0 * 8 + 3 }
                let physical = normals(h * w * ips, &rng)
                var logical = [Float](repeating: 0, count: h * w * cin)
                for p in 0..<(h * w) {
                    for c in 0..<cin { logical[p * cin + c] = physical[p * ips + starts[c / 8] + c % 8] }
                }
                let weights = rng.floats(cout * (cin / groups) * 9, in: -0.2...0.2)
                let bias = rng.floats(cout)
                let packed = PackedWinogradWeights(weights: weights, outputChannels: cout, inputChannels: cin, groups: groups, bias: bias,
                                                   tile: tile)
                var scratch = [Float](repeating: .nan, count: WinogradConv.scratchSize(geometry: g, weights: packed))
                var out = [Float](repeating: sentinel, count: h * w * cout)
                physical.withUnsafeBufferPointer { ip in
                    starts.withUnsafeBufferPointer { sp in
                        for rows in [0..<(h / 2), (h / 2)..<h] {
                            WinogradConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                             output: &out, outputPixelStride: cout, activation: .relu, outputRows: rows,
                                             inputChannelRuns: sp.baseAddress!, scratch: &scratch)
                        }
                    }
                }
                let expected = referenceConv(input: logical, ips: cin, g: g, cin: cin, cout: cout, groups: groups, weights: weights,
                                             bias: bias, residual: nil, rps: 0, activation: .relu)
                assertClose(out, expected, tol: 1e-4, "F\(tile) cin=\(cin) cout=\(cout) groups=\(groups)")
            }
        }
    }

    /// Threads split convolutions with large transformed filters by groups.
    func testGroupSplits() {
        var rng = SeededRNG(seed: 208)
        check(g: geometry(7, 7), cin: 64, cout: 64, groups: 4, withResidual: true, activation: .relu, groupSplits: [0, 2, 4], rng: &rng)
        check(g: geometry(9, 6, pad: (0, 1, 1, 2)), cin: 60, cout: 36, groups: 3, inputExtra: 2, outputExtra: 1,
              withBias: false, splits: [0, 4, 8], groupSplits: [0, 1, 3], rng: &rng)
        check(g: geometry(5, 11), cin: 96, cout: 96, groups: 6, activation: .hardSwish, groupSplits: [0, 1, 2, 3, 6], rng: &rng)
        // ResNeXt-50's 7x7 stage (32 groups of 32 channels, 4.7 MB of transformed filters) splits by
        // groups, and so does its 14x14 stage (16 channels per group, 1.2 MB, more than L2); its
        // 28x28 stage (8 channels per group, 0.3 MB) by rows.
        XCTAssertTrue(WinogradConv.prefersGroupSplit(inputChannels: 1024, outputChannels: 1024, groups: 32, threads: 2))
        XCTAssertEqual(WinogradConv.prefersGroupSplit(inputChannels: 512, outputChannels: 512, groups: 32, threads: 2),
                       36 * 512 * 16 * 4 > CacheSizes.level2OrDefault)
        XCTAssertFalse(WinogradConv.prefersGroupSplit(inputChannels: 256, outputChannels: 256, groups: 32, threads: 2))
        XCTAssertFalse(WinogradConv.prefersGroupSplit(inputChannels: 1024, outputChannels: 1024, groups: 1, threads: 2))
    }

    func testAccuracyWideReductions() {
        var rng = SeededRNG(seed: 204)
        var worst = 0.0
        for (cin, cout) in [(128, 24), (256, 16), (384, 40), (512, 17)] {
            worst = max(worst, check(g: geometry(10, 9), cin: cin, cout: cout, rng: &rng))
        }
        print("Winograd worst relative error, Cin up to 512: \(worst)")
    }

    func testRandomGeometriesAndRowSplits() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 205)
            for trial in 0..<40 {
                let h = rng.int(1...19), w = rng.int(1...19)
                let pt = rng.int(0...2), pl = rng.int(0...2), pb = rng.int(0...2), pr = rng.int(0...2)
                if h + pt + pb < 3 || w + pl + pr < 3 { continue }
                let g = ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: 3, kernelWidth: 3,
                                     padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
                let groups = [1, 1, 2, 3][rng.int(0...3)]
                let cin = groups * rng.int(1...40), cout = groups * rng.int(1...40)
                var splits = [0, g.outputHeight]
                if g.outputHeight > 2 && trial % 2 == 0 {
                    let a = rng.int(1...(g.outputHeight - 1))
                    splits = [0, a, g.outputHeight]
                    if a + 1 < g.outputHeight && trial % 4 == 0 { splits = [0, a, rng.int((a + 1)...(g.outputHeight - 1)), g.outputHeight] }
                }
                check(g: g, cin: cin, cout: cout, groups: groups, inputExtra: rng.int(0...3), outputExtra: rng.int(0...3),
                      withBias: rng.int(0...1) == 1, withResidual: trial % 3 == 0,
                      activation: allActivations[trial % allActivations.count], splits: splits, rng: &rng)
            }
        }
    }

    func testResidualAliasesOutput() {
        // In-place residual add (residual == output, same stride), rows split off the tile grid.
        var rng = SeededRNG(seed: 206)
        let g = geometry(11, 10)
        let cin = 24, cout = 20, ops = 23
        let input = normals(g.inputHeight * g.inputWidth * cin, &rng)
        let w = rng.floats(cout * cin * 9, in: -0.1...0.1)
        let bias = rng.floats(cout)
        let outPixels = g.outputHeight * g.outputWidth
        var out = normals(outPixels * ops, &rng)
        let residual = out
        let packed = PackedWinogradWeights(weights: w, outputChannels: cout, inputChannels: cin, bias: bias)
        var scratch = [Float](repeating: .nan, count: WinogradConv.scratchSize(geometry: g, weights: packed))
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                scratch.withUnsafeMutableBufferPointer { sp in
                    for rows in [0..<3, 3..<7, 7..<11] {
                        WinogradConv.run(input: ip.baseAddress!, inputPixelStride: cin, geometry: g, weights: packed,
                                         output: op.baseAddress!, outputPixelStride: ops,
                                         residual: UnsafePointer(op.baseAddress!), residualPixelStride: ops,
                                         activation: .relu, outputRows: rows, scratch: sp.baseAddress!)
                    }
                }
            }
        }
        let expected = referenceConv(input: input, ips: cin, g: g, cin: cin, cout: cout, groups: 1, weights: w,
                                     bias: bias, residual: residual, rps: ops, activation: .relu)
        var got = [Float]()
        for p in 0..<outPixels {
            for c in 0..<ops {
                if c < cout { got.append(out[p * ops + c]) } else { XCTAssertEqual(out[p * ops + c], residual[p * ops + c]) }
            }
        }
        assertClose(got, expected, tol: 1e-4)
    }

    func testEligibility() {
        let saved = wideVectorKernels
        defer { wideVectorKernels = saved }
        // The 8-lane GEMM: every map with enough channels and not too many filters per tile.
        wideVectorKernels = false
        let g = geometry(14, 14)
        XCTAssertTrue(WinogradConv.isEligible(geometry: g, inputChannels: 64, outputChannels: 64, groups: 1))
        XCTAssertTrue(WinogradConv.isEligible(geometry: g, inputChannels: 128, outputChannels: 128, groups: 2))
        XCTAssertFalse(WinogradConv.isEligible(geometry: g, inputChannels: 3, outputChannels: 64, groups: 1))
        XCTAssertFalse(WinogradConv.isEligible(geometry: g, inputChannels: 64, outputChannels: 64, groups: 64))
        XCTAssertTrue(WinogradConv.isEligible(geometry: geometry(13, 13), inputChannels: 384, outputChannels: 384, groups: 1))
        XCTAssertTrue(WinogradConv.isEligible(geometry: geometry(7, 7), inputChannels: 256, outputChannels: 256, groups: 1))
        XCTAssertFalse(WinogradConv.isEligible(geometry: geometry(7, 7), inputChannels: 512, outputChannels: 512, groups: 1))
        let s2 = ConvGeometry(inputHeight: 14, inputWidth: 14, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
                              strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertFalse(WinogradConv.isEligible(geometry: s2, inputChannels: 64, outputChannels: 64, groups: 1))
        // The 16-lane GEMM: maps of 16 tiles or more with little waste in the 4x4 tiles.
        wideVectorKernels = true
        XCTAssertTrue(WinogradConv.isEligible(geometry: geometry(56, 56), inputChannels: 16, outputChannels: 64, groups: 1))
        XCTAssertTrue(WinogradConv.isEligible(geometry: geometry(27, 27), inputChannels: 32, outputChannels: 128, groups: 1))
        XCTAssertTrue(WinogradConv.isEligible(geometry: g, inputChannels: 512, outputChannels: 512, groups: 1))
        XCTAssertTrue(WinogradConv.isEligible(geometry: g, inputChannels: 256, outputChannels: 256, groups: 4))
        XCTAssertFalse(WinogradConv.isEligible(geometry: g, inputChannels: 512, outputChannels: 512, groups: 32))
        XCTAssertFalse(WinogradConv.isEligible(geometry: geometry(13, 13), inputChannels: 64, outputChannels: 256, groups: 1))
        XCTAssertFalse(WinogradConv.isEligible(geometry: geometry(7, 7), inputChannels: 256, outputChannels: 256, groups: 1))
        XCTAssertFalse(WinogradConv.isEligible(geometry: s2, inputChannels: 64, outputChannels: 64, groups: 1))
    }

    /// Timings against `Im2colConv.run` (single thread). Runs only with KITE_BENCH=1.
    func testBenchmark() throws {
        guard ProcessInfo.processInfo.environment["KITE_BENCH"] != nil else { throw XCTSkip("set KITE_BENCH=1") }
        var rng = SeededRNG(seed: 299)
        // (H, W, Cin, Cout, groups)
        var shapes: [(Int, Int, Int, Int, Int)] = [
            (56, 56, 64, 64, 1), (28, 28, 128, 128, 1), (14, 14, 256, 256, 1), (13, 13, 384, 384, 1),
            (55, 55, 16, 64, 1), (27, 27, 32, 128, 1), (13, 13, 48, 192, 1), (13, 13, 64, 256, 1),
            (56, 56, 16, 16, 1), (56, 56, 32, 32, 1), (28, 28, 24, 24, 1), (7, 7, 512, 512, 1),
            (28, 28, 128, 128, 4), (28, 28, 128, 128, 8), (56, 56, 128, 128, 8),
        ]
        if let only = ProcessInfo.processInfo.environment["KITE_BENCH_SHAPE"] {
            let v = only.split(separator: ",").map { Int($0)! }
            shapes = [(v[0], v[1], v[2], v[3], v[4])]
        }
        let pool = WorkerPool(threadCount: 2)
        func time(_ body: () -> Void) -> Double {
            body()
            var best = Double.infinity
            let start = DispatchTime.now().uptimeNanoseconds
            var reps = 0
            repeat {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                reps += 1
            } while reps < 5 || (DispatchTime.now().uptimeNanoseconds - start < 400_000_000 && reps < 200)
            return best
        }
        for (h, w, cin, cout, groups) in shapes {
            let g = geometry(h, w)
            let input = rng.floats(h * w * cin)
            let wts = rng.floats(cout * cin / groups * 9, in: -0.1...0.1)
            let bias = rng.floats(cout)
            let wino = PackedWinogradWeights(weights: wts, outputChannels: cout, inputChannels: cin, groups: groups, bias: bias)
            let im2 = PackedConvWeights(weights: wts, outputChannels: cout, inputChannels: cin, kernelHeight: 3,
                                        kernelWidth: 3, groups: groups, bias: bias)
            let ws = WinogradConv.scratchSize(geometry: g, weights: wino)
            let isz = max(1, Im2colConv.scratchSize(geometry: g, weights: im2))
            var s1 = [Float](repeating: 0, count: 2 * ws)
            var s2 = [Float](repeating: 0, count: 2 * isz)
            var o1 = [Float](repeating: 0, count: h * w * cout), o2 = o1
            var results = [Double]()
            input.withUnsafeBufferPointer { ibuf in
                o1.withUnsafeMutableBufferPointer { o1buf in
                    o2.withUnsafeMutableBufferPointer { o2buf in
                        s1.withUnsafeMutableBufferPointer { s1buf in
                            s2.withUnsafeMutableBufferPointer { s2buf in
                                let ip = ibuf.baseAddress!, op1 = o1buf.baseAddress!, op2 = o2buf.baseAddress!
                                let sp1 = s1buf.baseAddress!, sp2 = s2buf.baseAddress!
                                let oh = g.outputHeight
                                func wrun(_ rows: Range<Int>, _ t: Int) {
                                    WinogradConv.run(input: ip, inputPixelStride: cin, geometry: g, weights: wino,
                                                     output: op1, outputPixelStride: cout, activation: .relu,
                                                     outputRows: rows, scratch: sp1 + t * ws)
                                }
                                func irun(_ rows: Range<Int>, _ t: Int) {
                                    Im2colConv.run(input: ip, inputPixelStride: cin, geometry: g, weights: im2,
                                                   output: op2, outputPixelStride: cout, activation: .relu,
                                                   outputRows: rows, scratch: sp2 + t * isz)
                                }
                                results.append(time { wrun(0..<oh, 0) })
                                results.append(time { irun(0..<oh, 0) })
                                results.append(time { pool.parallelFor(count: 2) { t in
                                    wrun(WorkerPool.partition(0..<oh, parts: 2, index: t), t) } })
                                results.append(time { pool.parallelFor(count: 2) { t in
                                    irun(WorkerPool.partition(0..<oh, parts: 2, index: t), t) } })
                                let panels = (cout + 15) / 16
                                results.append(groups > 1 ? .nan : time { pool.parallelFor(count: 2) { t in
                                    let pr = WorkerPool.partition(0..<panels, parts: 2, index: t)
                                    WinogradConv.run(input: ip, inputPixelStride: cin, geometry: g, weights: wino,
                                                     output: op1, outputPixelStride: cout, activation: .relu,
                                                     outputChannels: (pr.lowerBound * 16)..<min(cout, pr.upperBound * 16),
                                                     scratch: sp1 + t * ws) } })
                            }
                        }
                    }
                }
            }
            let (tw, ti, tw2, ti2, twc) = (results[0], results[1], results[2], results[3], results[4])
            var diff: Float = 0
            for i in 0..<o1.count { diff = max(diff, abs(o1[i] - o2[i])) }
            let gflop = 2.0 * Double(h * w * cout * cin / groups * 9) / 1e9
            print(String(format: "BENCH %dx%d %d->%d g%d: 1T winograd %.3f ms (%.0f GF/s) im2col %.3f ms ratio %.2f | 2T winograd %.3f ms im2col %.3f ms ratio %.2f | 2T by channels winograd %.3f ms | maxdiff %.2g",
                         h, w, cin, cout, groups, tw, gflop / tw * 1e3, ti, ti / tw, tw2, ti2, ti2 / tw2, twc, diff))
        }
    }
}
