import XCTest
@testable import KiteKernels

/// Naive ONNX pooling reference (double).
func referencePool(input: [Float], ips: Int, g: ConvGeometry, channels: Int, isMax: Bool, countIncludePad: Bool) -> [Double] {
    var out = [Double]()
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for c in 0..<channels {
                var m = -Double.infinity, s = 0.0, n = 0, np = 0
                for ky in 0..<g.kernelHeight {
                    let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                        if iy >= -g.padTop && iy < g.inputHeight + g.padBottom && ix >= -g.padLeft && ix < g.inputWidth + g.padRight {
                            np += 1
                        }
                        if iy < 0 || iy >= g.inputHeight || ix < 0 || ix >= g.inputWidth { continue }
                        let v = Double(input[(iy * g.inputWidth + ix) * ips + c])
                        m = max(m, v); s += v; n += 1
                    }
                }
                if isMax { out.append(m) } else {
                    let d = countIncludePad ? np : n
                    out.append(d > 0 ? s / Double(d) : 0)
                }
            }
        }
    }
    return out
}

final class PoolingTests: XCTestCase {
    func check(g: ConvGeometry, channels: Int, isMax: Bool, countIncludePad: Bool, inputExtra: Int, outputExtra: Int,
               rng: inout SeededRNG, file: StaticString = #filePath, line: UInt = #line) {
        let ips = channels + inputExtra, ops = channels + outputExtra
        let input = rng.floats(g.inputHeight * g.inputWidth * ips)
        var out = [Float](repeating: sentinel, count: g.outputHeight * g.outputWidth * ops)
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                let half = g.outputHeight / 2
                for rows in [0..<half, half..<g.outputHeight] {
                    if isMax {
                        Pooling.maxPool(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, channels: channels,
                                        output: op.baseAddress!, outputPixelStride: ops, outputRows: rows)
                    } else {
                        Pooling.averagePool(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, channels: channels,
                                            countIncludePad: countIncludePad, output: op.baseAddress!,
                                            outputPixelStride: ops, outputRows: rows)
                    }
                }
            }
        }
        let expected = referencePool(input: input, ips: ips, g: g, channels: channels, isMax: isMax,
                                     countIncludePad: countIncludePad)
        var got = [Float]()
        for p in 0..<(g.outputHeight * g.outputWidth) {
            for c in 0..<ops {
                if c < channels { got.append(out[p * ops + c]) } else if out[p * ops + c] != sentinel {
                    XCTFail("wrote outside the slice", file: file, line: line)
                    return
                }
            }
        }
        assertClose(got, expected, tol: 1e-6, "\(g) C=\(channels) max=\(isMax) cip=\(countIncludePad)", file: file, line: line)
    }

    func testCommonShapes() {
        forBothKernelWidths { commonShapes() }
    }

    func commonShapes() {
        var rng = SeededRNG(seed: 71)
        // ShuffleNet / ResNet stem max pool 3x3 s2 p1, SqueezeNet 3x3 s2 ceil mode (output 7 from 15: clipped windows).
        for channels in [3, 8, 24, 29] {
            check(g: ConvGeometry(inputHeight: 13, inputWidth: 13, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
                                  padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
                  channels: channels, isMax: true, countIncludePad: false, inputExtra: 2, outputExtra: 1, rng: &rng)
            check(g: ConvGeometry(inputHeight: 14, inputWidth: 14, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
                                  outputHeight: 7, outputWidth: 7),
                  channels: channels, isMax: true, countIncludePad: false, inputExtra: 0, outputExtra: 0, rng: &rng)
            for cip in [false, true] {
                check(g: ConvGeometry(inputHeight: 7, inputWidth: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
                                      padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, outputHeight: 5, outputWidth: 5),
                      channels: channels, isMax: false, countIncludePad: cip, inputExtra: 3, outputExtra: 2, rng: &rng)
            }
        }
        // 2x2 windows (unrolled path): stride 2 on an even map, and on an odd one in ceil mode
        // (the last column and row clipped), stride 1 with padding; max and average.
        for channels in [8, 16, 29] {
            for isMax in [true, false] {
                check(g: ConvGeometry(inputHeight: 12, inputWidth: 10, kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2),
                      channels: channels, isMax: isMax, countIncludePad: false, inputExtra: 1, outputExtra: 2, rng: &rng)
                check(g: ConvGeometry(inputHeight: 9, inputWidth: 11, kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2,
                                      outputHeight: 5, outputWidth: 6),
                      channels: channels, isMax: isMax, countIncludePad: false, inputExtra: 0, outputExtra: 1, rng: &rng)
                check(g: ConvGeometry(inputHeight: 7, inputWidth: 8, kernelHeight: 2, kernelWidth: 2, strideHeight: 1, strideWidth: 1,
                                      padTop: 1, padLeft: 0, padBottom: 0, padRight: 1),
                      channels: channels, isMax: isMax, countIncludePad: !isMax, inputExtra: 2, outputExtra: 0, rng: &rng)
            }
        }
        // Stride 1 and 3, whole-window interiors (unrolled path) next to clipped borders.
        for (s, isMax, cip) in [(1, false, true), (1, false, false), (1, true, false), (3, true, false), (3, false, true)] {
            check(g: ConvGeometry(inputHeight: 9, inputWidth: 11, kernelHeight: 3, kernelWidth: 3, strideHeight: s, strideWidth: s,
                                  padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
                  channels: 40, isMax: isMax, countIncludePad: cip, inputExtra: 1, outputExtra: 3, rng: &rng)
        }
    }

    func testRandomGeometries() {
        forBothKernelWidths { randomGeometries() }
    }

    func randomGeometries() {
        var rng = SeededRNG(seed: 73)
        var checked = 0
        for trial in 0..<80 {
            let k = [1, 2, 3, 5][rng.int(0...3)]
            guard var g = randomGeometry(kh: k, kw: [1, 2, 3][rng.int(0...2)], maxSize: 13, maxStride: 3,
                                         maxDilation: trial % 2 == 0 ? 2 : 1, rng: &rng) else { continue }
            if trial % 3 == 0 { // ceil mode: one more output where it still starts inside the padded input
                g.outputHeight += 1
                g.outputWidth += 1
                if (g.outputHeight - 1) * g.strideHeight >= g.inputHeight + g.padTop { g.outputHeight -= 1 }
                if (g.outputWidth - 1) * g.strideWidth >= g.inputWidth + g.padLeft { g.outputWidth -= 1 }
            }
            let isMax = trial % 2 == 0
            if !isMax { g.dilationHeight = 1; g.dilationWidth = 1 }
            let channels = [1, 3, 8, 13, 40][rng.int(0...4)]
            check(g: g, channels: channels, isMax: isMax, countIncludePad: trial % 4 == 1, inputExtra: rng.int(0...3),
                  outputExtra: rng.int(0...3), rng: &rng)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
    }

    func testGlobalPooling() {
        var rng = SeededRNG(seed: 79)
        for channels in [1, 3, 8, 17, 40, 100] {
            for pixels in [1, 7, 49] {
                let ips = channels + 3
                let input = rng.floats(pixels * ips)
                var avg = [Float](repeating: sentinel, count: channels + 1)
                var mx = [Float](repeating: sentinel, count: channels + 1)
                input.withUnsafeBufferPointer { ip in
                    avg.withUnsafeMutableBufferPointer { ap in
                        let split = channels / 3
                        for r in [0..<split, split..<channels] {
                            Pooling.globalAveragePool(input: ip.baseAddress!, inputPixelStride: ips, pixels: pixels,
                                                      channels: channels, output: ap.baseAddress!, channelRange: r)
                        }
                    }
                    mx.withUnsafeMutableBufferPointer { mp in
                        Pooling.globalMaxPool(input: ip.baseAddress!, inputPixelStride: ips, pixels: pixels,
                                              channels: channels, output: mp.baseAddress!)
                    }
                }
                var eAvg = [Double](), eMax = [Double]()
                for c in 0..<channels {
                    var s = 0.0, m = -Double.infinity
                    for p in 0..<pixels { s += Double(input[p * ips + c]); m = max(m, Double(input[p * ips + c])) }
                    eAvg.append(s / Double(pixels)); eMax.append(m)
                }
                XCTAssertEqual(avg[channels], sentinel)
                XCTAssertEqual(mx[channels], sentinel)
                assertClose(Array(avg[0..<channels]), eAvg, tol: 1e-6, "avg C=\(channels) P=\(pixels)")
                assertClose(Array(mx[0..<channels]), eMax, tol: 0, "max C=\(channels) P=\(pixels)")
            }
        }
    }
}
