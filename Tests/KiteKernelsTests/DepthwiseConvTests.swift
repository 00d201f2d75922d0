import XCTest
@testable import KiteKernels

/// Naive depthwise reference (double), output dense [OH][OW][C].
func referenceDepthwise(input: [Float], ips: Int, inputOffset: Int, g: ConvGeometry, channels: Int,
                        weights: [Float], bias: [Float]?, activation: KernelActivation) -> [Double] {
    var out = [Double](repeating: 0, count: g.outputHeight * g.outputWidth * channels)
    for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
            for c in 0..<channels {
                var s = Double(bias?[c] ?? 0)
                for ky in 0..<g.kernelHeight {
                    let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                    if iy < 0 || iy >= g.inputHeight { continue }
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                        if ix < 0 || ix >= g.inputWidth { continue }
                        s += Double(input[inputOffset + (iy * g.inputWidth + ix) * ips + c])
                            * Double(weights[(c * g.kernelHeight + ky) * g.kernelWidth + kx])
                    }
                }
                out[(oy * g.outputWidth + ox) * channels + c] = referenceActivation(activation, s)
            }
        }
    }
    return out
}

final class DepthwiseConvTests: XCTestCase {
    func check(channels: Int, g: ConvGeometry, inputExtra: Int, inputOffset: Int, outputExtra: Int, outputOffset: Int,
               withBias: Bool, activation: KernelActivation, splitRows: Bool, blockParts: Int = 0, fromMemory: Bool = false,
               rng: inout SeededRNG, file: StaticString = #filePath, line: UInt = #line) {
        let ips = channels + inputExtra, ops = channels + outputExtra
        let input = rng.floats(inputOffset + g.inputHeight * g.inputWidth * ips)
        let w = rng.floats(channels * g.kernelHeight * g.kernelWidth)
        let bias = withBias ? rng.floats(channels) : nil
        let packed = PackedDepthwiseWeights(weights: w, channels: channels, kernelHeight: g.kernelHeight,
                                            kernelWidth: g.kernelWidth, bias: bias)
        let outCount = g.outputHeight * g.outputWidth
        var out = [Float](repeating: sentinel, count: outputOffset + outCount * ops)
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                if blockParts > 0 {
                    for blocks in DepthwiseConv.channelBlockRanges(channels: channels, parts: blockParts) {
                        DepthwiseConv.run(input: ip.baseAddress! + inputOffset, inputPixelStride: ips, geometry: g,
                                          weights: packed, output: op.baseAddress! + outputOffset, outputPixelStride: ops,
                                          activation: activation, channelBlocks: blocks)
                    }
                    return
                }
                let split = splitRows ? [0, g.outputHeight / 2, g.outputHeight] : [0, g.outputHeight]
                for i in 0..<(split.count - 1) {
                    DepthwiseConv.run(input: ip.baseAddress! + inputOffset, inputPixelStride: ips, geometry: g,
                                      weights: packed, output: op.baseAddress! + outputOffset, outputPixelStride: ops,
                                      activation: activation, outputRows: split[i]..<split[i + 1], fromMemory: fromMemory)
                }
            }
        }
        let expected = referenceDepthwise(input: input, ips: ips, inputOffset: inputOffset, g: g, channels: channels,
                                          weights: w, bias: bias, activation: activation)
        var got = [Float]()
        for i in 0..<outputOffset { XCTAssertEqual(out[i], sentinel, file: file, line: line) }
        for p in 0..<outCount {
            for c in 0..<ops {
                let v = out[outputOffset + p * ops + c]
                if c < channels { got.append(v) } else if v != sentinel {
                    XCTFail("wrote outside the channel slice", file: file, line: line)
                    return
                }
            }
        }
        assertClose(got, expected, tol: 1e-5, "C=\(channels) \(g) \(activation)", file: file, line: line)
    }

    /// Threads split maps of fewer than 8 output rows by channel blocks: every block is computed
    /// once, including the last one that overlaps its neighbour when C is not a multiple of 8.
    func testChannelBlockSplits() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 29)
            for channels in [8, 9, 16, 17, 20, 33, 99] {
                for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                    for (h, w) in [(7, 7), (5, 13), (3, 6)] {
                        let g = ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: k, kernelWidth: k,
                                             strideHeight: s, strideWidth: s,
                                             padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2)
                        XCTAssertTrue(DepthwiseConv.splitsByChannels(g, channels: channels), "\(g)")
                        for parts in [2, 3] {
                            check(channels: channels, g: g, inputExtra: channels % 3, inputOffset: 5, outputExtra: 2, outputOffset: 3,
                                  withBias: true, activation: .relu6, splitRows: false, blockParts: parts, rng: &rng)
                        }
                    }
                }
            }
            let g14 = ConvGeometry(inputHeight: 14, inputWidth: 14, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                                   padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
            XCTAssertFalse(DepthwiseConv.splitsByChannels(g14, channels: 96), "14x14 maps split by rows")
        }
    }

    func testChannelBlockRanges() {
        for channels in [8, 9, 15, 16, 17, 24, 100, 1152] {
            let blocks = DepthwiseConv.blockCount(channels: channels)
            for parts in 1...5 {
                let ranges = DepthwiseConv.channelBlockRanges(channels: channels, parts: parts)
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, blocks)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                XCTAssertTrue(ranges.allSatisfy { !$0.isEmpty })
                XCTAssertLessThanOrEqual(ranges.count, parts)
                if channels % 8 != 0 && blocks >= 2 {
                    XCTAssertTrue(ranges.contains { $0.contains(blocks - 2) && $0.contains(blocks - 1) },
                                  "C=\(channels) parts \(parts): overlapping last blocks in one range")
                }
                if channels == 1152 { XCTAssertEqual(ranges.count, parts) }
            }
        }
    }

    func testFixedShapes() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 23)
            for channels in [3, 5, 8, 16, 17, 33] {
                for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                    let g = ConvGeometry(inputHeight: 7, inputWidth: 9, kernelHeight: k, kernelWidth: k,
                                         strideHeight: s, strideWidth: s,
                                         padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2)
                    check(channels: channels, g: g, inputExtra: 0, inputOffset: 0, outputExtra: 0, outputOffset: 0,
                          withBias: true, activation: .relu6, splitRows: false, rng: &rng)
                }
            }
        }
    }

    func testRandomGeometries() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 29)
            var checked = 0
            for trial in 0..<60 {
                let kh = [1, 2, 3, 3, 3, 5, 5, 7][rng.int(0...7)]
                let kw = trial % 3 == 0 ? [1, 3, 5][rng.int(0...2)] : kh
                guard let g = randomGeometry(kh: kh, kw: kw, rng: &rng) else { continue }
                let channels = [1, 3, 5, 8, 9, 17, 24, 33][rng.int(0...7)]
                check(channels: channels, g: g, inputExtra: rng.int(0...5), inputOffset: rng.int(0...4),
                      outputExtra: rng.int(0...5), outputOffset: rng.int(0...3), withBias: rng.int(0...1) == 1,
                      activation: allActivations[trial % allActivations.count], splitRows: trial % 2 == 0, rng: &rng)
                checked += 1
            }
            XCTAssertGreaterThan(checked, 40)
        }
    }

    func testLargerMobileNetLike() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 31)
            let g = ConvGeometry(inputHeight: 28, inputWidth: 28, kernelHeight: 3, kernelWidth: 3,
                                 strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1)
            check(channels: 144, g: g, inputExtra: 0, inputOffset: 0, outputExtra: 0, outputOffset: 0,
                  withBias: true, activation: .relu6, splitRows: true, rng: &rng)
            let g2 = ConvGeometry(inputHeight: 14, inputWidth: 14, kernelHeight: 5, kernelWidth: 5,
                                  padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)
            check(channels: 58, g: g2, inputExtra: 58, inputOffset: 58, outputExtra: 6, outputOffset: 0,
                  withBias: true, activation: .hardSwish, splitRows: true, rng: &rng)
        }
    }

    /// Wide rows: four-pixel 3x3 spans at stride 1 and 2, top/bottom rows vectorised over the
    /// interior columns with only their valid kernel rows, chunks of several widths.
    func testWideRowsAndBorderRows() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 37)
            for (h, w, k, s, pad, channels) in [(33, 41, 3, 1, 1, 20), (31, 37, 3, 2, 1, 96), (19, 23, 5, 1, 2, 13),
                                                  (12, 45, 3, 1, 1, 600), (17, 50, 3, 2, 0, 24)] {
                let g = ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: k, kernelWidth: k,
                                     strideHeight: s, strideWidth: s, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
                check(channels: channels, g: g, inputExtra: 3, inputOffset: 5, outputExtra: 2, outputOffset: 1,
                      withBias: true, activation: .relu, splitRows: true, rng: &rng)
            }
        }
    }

    /// 3x3 undilated rows: mixed vertical/horizontal strides, pads larger than the kernel (rows
    /// wholly outside the input), and rows too wide for the shared zero row (clipped path).
    func testThreeByThreeRowEdges() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 41)
            let cases: [(h: Int, w: Int, sh: Int, sw: Int, pads: [Int], channels: Int)] = [
                (9, 13, 2, 1, [1, 1, 1, 1], 19), (10, 11, 1, 2, [0, 1, 2, 0], 8), (6, 7, 1, 1, [3, 1, 4, 1], 16),
                (5, 9, 2, 2, [2, 3, 3, 2], 12), (4, 50, 1, 1, [1, 1, 1, 1], 1500), (8, 21, 3, 2, [1, 0, 1, 1], 27),
            ]
            for c in cases {
                let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 3, kernelWidth: 3,
                                     strideHeight: c.sh, strideWidth: c.sw,
                                     padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
                check(channels: c.channels, g: g, inputExtra: 2, inputOffset: 3, outputExtra: 1, outputOffset: 2,
                      withBias: true, activation: .relu6, splitRows: true, rng: &rng)
            }
        }
    }
}

extension DepthwiseConvTests {
    /// The tiled kernel's bands of up to eight rows and eight outputs per step (5x5 filters, and
    /// 3x3 with 8-lane kernels): row widths that leave 1-7 outputs for the last step, spans cut
    /// from rows wider than 32, maps taller than one band with a last partial band, row ranges that
    /// start inside a band, channel counts that are not multiples of 8 or 16.
    func testEightOutputStepsAndBands() {
        forBlockOuterModes([0, 2]) { forBothKernelWidths {
            var rng = SeededRNG(seed: 47)
            let cases: [(h: Int, w: Int, k: Int, s: Int, channels: Int)] = [
                (7, 7, 5, 1, 40), (9, 5, 5, 1, 24), (11, 6, 5, 1, 17), (14, 13, 5, 1, 58), (17, 15, 5, 1, 33),
                (20, 29, 5, 1, 16), (10, 70, 5, 1, 20), (13, 13, 5, 2, 48), (27, 27, 5, 2, 72), (12, 43, 5, 2, 9),
                (30, 61, 5, 2, 24), (14, 14, 3, 1, 224), (19, 21, 3, 1, 128), (10, 37, 3, 1, 192),
                // 3x3 widths leaving 1, 2, 3, 4 and 7 outputs for the last step; stride 2 on maps of
                // fewer than eight output rows (tiled), C not a multiple of 8.
                (9, 9, 3, 1, 256), (11, 10, 3, 1, 192), (12, 11, 3, 1, 128), (8, 12, 3, 1, 224), (7, 15, 3, 1, 256),
                (13, 13, 3, 2, 203), (9, 23, 3, 2, 61), (14, 29, 3, 2, 96), (5, 40, 3, 2, 19),
                // 5x5 widths leaving 1, 2, 3 and 4 outputs after a whole oct, at stride 1 and 2.
                (9, 9, 5, 1, 20), (8, 10, 5, 1, 11), (8, 11, 5, 1, 8), (6, 12, 5, 1, 33), (11, 17, 5, 2, 13), (9, 20, 5, 2, 30),
            ]
            for (i, c) in cases.enumerated() {
                let p = c.k / 2
                let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: c.k, kernelWidth: c.k,
                                     strideHeight: c.s, strideWidth: c.s, padTop: p, padLeft: p, padBottom: p, padRight: p)
                XCTAssertFalse(DepthwiseConv.readsInPlace(g, channels: c.channels), "\(g) C=\(c.channels) takes the tiles")
                check(channels: c.channels, g: g, inputExtra: i % 3, inputOffset: i % 2, outputExtra: i % 4, outputOffset: 1,
                      withBias: i % 2 == 0, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1, rng: &rng)
            }
        } }
    }

    /// 5x5 stride-2 maps of more than eight output rows in bands of four rows (the default) and of
    /// eight: partial last bands, row splits that start inside a band, C not a multiple of 16.
    func testStride2BandsOfFourAndEight() {
        let saved = depthwiseStride2BandRows
        defer { depthwiseStride2BandRows = saved }
        for rows in [4, 8] {
            depthwiseStride2BandRows = rows
            forBothKernelWidths {
                var rng = SeededRNG(seed: 53)
                let cases: [(h: Int, w: Int, channels: Int)] = [(27, 27, 72), (30, 61, 24), (35, 20, 13), (57, 57, 40), (19, 33, 240)]
                for (i, c) in cases.enumerated() {
                    let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 5, kernelWidth: 5,
                                         strideHeight: 2, strideWidth: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)
                    XCTAssertGreaterThan(g.outputHeight, 8)
                    check(channels: c.channels, g: g, inputExtra: i % 3, inputOffset: i % 2, outputExtra: i % 4, outputOffset: 1,
                          withBias: i % 2 == 0, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1, rng: &rng)
                }
            }
        }
    }

    /// 3x3 maps of 8 or more output rows at stride 2, or at stride 1 with at most 160 channels (not 128),
    /// read the input in place, 16-lane blocks in pairs (stride 1) or one at a time: quads,
    /// single-output remainders, clipped border pixels (symmetric and exporter-style asymmetric
    /// pads, maps whose interior is empty), channel counts that are not multiples of 8, pixel
    /// strides wider than C. The 5x5 cases keep the tiles.
    func testInPlaceReads() {
        forBlockPairs { forBlockOuterModes { for fromMemory in [false, true] {
            forBothKernelWidths { forNarrowPairModes {
                var rng = SeededRNG(seed: 43)
                let cases: [(h: Int, w: Int, k: Int, s: Int, pads: [Int], channels: Int)] = [
                    (16, 16, 3, 2, [1, 1, 1, 1], 8), (17, 23, 3, 2, [1, 1, 1, 1], 20), (24, 31, 3, 2, [0, 0, 1, 1], 37),
                    (19, 41, 5, 2, [2, 2, 2, 2], 13), (21, 18, 5, 2, [1, 1, 2, 2], 72), (16, 5, 5, 2, [2, 2, 2, 2], 9),
                    (15, 3, 3, 2, [1, 1, 1, 1], 16), (33, 67, 3, 2, [1, 1, 1, 1], 144),
                    (9, 19, 3, 1, [1, 1, 1, 1], 24), (12, 13, 5, 1, [2, 2, 2, 2], 32), (10, 4, 3, 1, [1, 1, 1, 1], 11),
                    (11, 29, 3, 1, [1, 1, 1, 1], 72), (13, 9, 3, 1, [0, 0, 1, 1], 149),
                    // Stride 1 runs pairs of rows with 8-lane kernels: odd and even row counts, widths
                    // leaving 1-3 single outputs, asymmetric pads.
                    (14, 22, 3, 1, [1, 1, 1, 1], 16), (17, 35, 3, 1, [0, 0, 1, 1], 61), (12, 13, 3, 1, [1, 1, 1, 1], 9),
                ]
                for (i, c) in cases.enumerated() {
                    let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: c.k, kernelWidth: c.k,
                                         strideHeight: c.s, strideWidth: c.s,
                                         padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
                    XCTAssertEqual(DepthwiseConv.readsInPlace(g, channels: c.channels), c.k == 3, "\(g)")
                    check(channels: c.channels, g: g, inputExtra: i % 3, inputOffset: i % 2, outputExtra: i % 4, outputOffset: 1,
                          withBias: i % 2 == 0, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1,
                          fromMemory: fromMemory, rng: &rng)
                }
                let small = ConvGeometry(inputHeight: 14, inputWidth: 14, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
                                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
                XCTAssertFalse(DepthwiseConv.readsInPlace(small, channels: 64), "7x7 outputs keep the tiled kernel (channel splits)")
                let wide = ConvGeometry(inputHeight: 16, inputWidth: 16, kernelHeight: 3, kernelWidth: 3,
                                        padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
                XCTAssertTrue(DepthwiseConv.readsInPlace(wide, channels: 32))
                XCTAssertTrue(DepthwiseConv.readsInPlace(wide, channels: 144))
                XCTAssertFalse(DepthwiseConv.readsInPlace(wide, channels: 128), "128 channels keep the tiles (L1 set conflicts in place)")
                XCTAssertFalse(DepthwiseConv.readsInPlace(wide, channels: 192), "stride 1 with more than 160 channels keeps the tiles")
                XCTAssertEqual(DepthwiseConv.readsInPlace(wide, channels: 728), !wideVectorKernels,
                               "8-lane kernels read C not a multiple of 32 in place")
                for channels in [128, 192, 256, 1536] {
                    XCTAssertTrue(DepthwiseConv.readsInPlace(wide, channels: channels, fromMemory: true), "inputs from memory: any C")
                }
            } }
        } } }
    }

    /// 3x3 in place block by block (16-lane kernels, inputs in cache), blocks in pairs (stride 1) or
    /// one at a time: stride 1 (and 2 in mode 2),
    /// symmetric and asymmetric pads, C not a multiple of 16 (the last block overlaps), padded pixel
    /// strides, rows wider than a span (several spans, octs then quads then single outputs), spans
    /// shortened by pixel strides that reach few L1 sets, row splits; which layers take it.
    func testBlockOuterOrder() {
        let saved = wideVectorKernels
        defer { wideVectorKernels = saved }
        wideVectorKernels = true
        XCTAssertEqual(depthwiseBlockOuterSpan(pixelStride: 80, stride: 1, kernel: 3), 64)
        XCTAssertEqual(depthwiseBlockOuterSpan(pixelStride: 128, stride: 1, kernel: 3), 8, "512-byte pixels reach 8 of 64 sets")
        XCTAssertEqual(depthwiseBlockOuterSpan(pixelStride: 32, stride: 1, kernel: 3), 32, "128-byte pixels reach 32 sets")
        XCTAssertEqual(depthwiseBlockOuterSpan(pixelStride: 32, stride: 2, kernel: 3), 32)
        let cases: [(h: Int, w: Int, s: Int, pads: [Int], channels: Int, extra: Int)] = [
            (20, 21, 1, [1, 1, 1, 1], 72, 8), (18, 19, 2, [0, 0, 1, 1], 40, 3), (12, 150, 1, [1, 1, 1, 1], 128, 0),
            (10, 11, 1, [1, 1, 1, 1], 200, 0), (17, 30, 1, [0, 0, 1, 1], 20, 0), (19, 141, 2, [1, 1, 1, 1], 24, 0),
            (14, 14, 1, [1, 1, 1, 1], 384, 0), (16, 70, 1, [1, 1, 1, 1], 16, 5),
            // Pairs of blocks whose second block overlaps the first (C = 56, 20), a single block after
            // the pairs (C = 48), rows leaving 1-3 outputs after the pairs' quads.
            (11, 13, 1, [1, 1, 1, 1], 56, 0), (10, 12, 1, [0, 0, 1, 1], 48, 2), (9, 16, 1, [1, 1, 1, 1], 20, 1),
        ]
        var rng = SeededRNG(seed: 53)
        forBlockPairs { forBlockOuterModes([1, 2]) {
            for (i, c) in cases.enumerated() {
                let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 3, kernelWidth: 3,
                                     strideHeight: c.s, strideWidth: c.s,
                                     padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
                let ips = c.channels + c.extra
                XCTAssertEqual(DepthwiseConv.readsInPlaceByBlocks(g, channels: c.channels, inputPixelStride: ips, outputPixelStride: c.channels),
                               depthwiseBlockOuterMode == 2 || c.s == 1, "\(g) C=\(c.channels)")
                XCTAssertFalse(DepthwiseConv.readsInPlaceByBlocks(g, channels: c.channels, inputPixelStride: ips, outputPixelStride: c.channels,
                                                                  fromMemory: true), "inputs from memory keep the row order")
                check(channels: c.channels, g: g, inputExtra: c.extra, inputOffset: i % 2, outputExtra: i % 3, outputOffset: 1,
                      withBias: i % 2 == 0, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1, rng: &rng)
            }
        } }
        let big = ConvGeometry(inputHeight: 56, inputWidth: 56, kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let l2 = CacheSizes.level2OrDefault
        let c144 = 56 * 56 * 144 * 8 > l2
        XCTAssertEqual(DepthwiseConv.readsInPlaceByBlocks(big, channels: 144, inputPixelStride: 144, outputPixelStride: 144), !c144,
                       "a map larger than L2 that reads in place keeps the row order")
        XCTAssertTrue(DepthwiseConv.readsInPlaceByBlocks(big, channels: 128, inputPixelStride: 128, outputPixelStride: 128),
                      "layers that would take the tiles read block by block")
        let five = ConvGeometry(inputHeight: 28, inputWidth: 28, kernelHeight: 5, kernelWidth: 5, strideHeight: 2, strideWidth: 2,
                                padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)
        XCTAssertFalse(DepthwiseConv.readsInPlaceByBlocks(five, channels: 72, inputPixelStride: 72, outputPixelStride: 72), "5x5 keeps the tiles")
        let small = ConvGeometry(inputHeight: 7, inputWidth: 7, kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertFalse(DepthwiseConv.readsInPlaceByBlocks(small, channels: 576, inputPixelStride: 576, outputPixelStride: 576),
                       "7x7 maps keep the tiles (channel splits)")
    }

    /// With 8-lane blocks the in-place span shrinks when the pixel stride maps pixels to few L1
    /// sets (128 channels: 8 sets; 256: 4), so rows are cut into several spans with a remainder;
    /// every span length is checked against the reference on rows wider than the span, and
    /// stride-1 maps with C not a multiple of 32 and above 160 (read in place by 8-lane kernels).
    func testInPlaceSpansForPixelStrides() {
        let saved = wideVectorKernels
        defer { wideVectorKernels = saved }
        wideVectorKernels = false
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 128, stride: 2, kernel: 3), 8)
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 256, stride: 2, kernel: 3), 4)
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 64, stride: 2, kernel: 3), 16)
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 144, stride: 2, kernel: 3), 32, "a 576-byte stride spreads over all sets")
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 32, stride: 1, kernel: 3), 32)
        var rng = SeededRNG(seed: 47)
        // Widths whose interior rows leave a last span of 1-3 outputs (merged into the span before)
        // and spans ending in 1-3 outputs past their quads (a quad stepped back); odd block counts
        // and C not a multiple of 8 for the two-block rows.
        let cases: [(h: Int, w: Int, s: Int, channels: Int, extra: Int)] = [
            (20, 43, 2, 128, 0), (18, 29, 2, 256, 0), (17, 75, 2, 64, 0), (21, 37, 1, 120, 8), (16, 23, 2, 248, 8),
            (11, 13, 1, 728, 0), (10, 38, 1, 200, 3), (18, 56, 2, 128, 0), (19, 21, 2, 61, 0), (17, 26, 1, 20, 4),
        ]
        forNarrowPairModes { for (i, c) in cases.enumerated() {
            let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 3, kernelWidth: 3,
                                 strideHeight: c.s, strideWidth: c.s, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
            XCTAssertTrue(DepthwiseConv.readsInPlace(g, channels: c.channels), "\(g)")
            check(channels: c.channels, g: g, inputExtra: c.extra, inputOffset: 0, outputExtra: i % 2, outputOffset: 1,
                  withBias: true, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1, rng: &rng)
        } }
        wideVectorKernels = saved
        XCTAssertEqual(depthwiseDirectSpan(pixelStride: 128, stride: 2, kernel: 3), wideVectorKernels ? 32 : 8)
    }

    /// Inputs from memory read in place at stride 1 with channel counts that otherwise keep the
    /// tiles (128, multiples of 32 above 160), with their next steps' lines asked for ahead: row
    /// pairs and single rows, row splits, pixel strides wider than C, the last rows of a map.
    func testInputsFromMemory() {
        forBothKernelWidths {
            var rng = SeededRNG(seed: 53)
            let cases: [(h: Int, w: Int, s: Int, pads: [Int], channels: Int, extra: Int)] = [
                (19, 21, 1, [1, 1, 1, 1], 128, 0), (17, 16, 1, [0, 0, 1, 1], 256, 8), (12, 9, 1, [1, 1, 1, 1], 192, 3),
                (16, 11, 2, [1, 1, 1, 1], 96, 0), (21, 13, 1, [1, 1, 1, 1], 728, 0), (9, 40, 1, [1, 1, 1, 1], 64, 5),
            ]
            for (i, c) in cases.enumerated() {
                let g = ConvGeometry(inputHeight: c.h, inputWidth: c.w, kernelHeight: 3, kernelWidth: 3,
                                     strideHeight: c.s, strideWidth: c.s,
                                     padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3])
                XCTAssertTrue(DepthwiseConv.readsInPlace(g, channels: c.channels, fromMemory: true), "\(g)")
                check(channels: c.channels, g: g, inputExtra: c.extra, inputOffset: i % 2, outputExtra: i % 3, outputOffset: 1,
                      withBias: i % 2 == 0, activation: allActivations[i % allActivations.count], splitRows: i % 2 == 1,
                      fromMemory: true, rng: &rng)
            }
        }
    }

    /// The in-place path's prefetch spreads every row's lines over the span's channel blocks:
    /// the parts tile the lines (each requested once), and they cover the span's last float even
    /// when the span does not start at a line's start. Prefetches are hints and never change the
    /// results, which `testInPlaceReads` and `testInputsFromMemory` check.
    func testInPlacePrefetchCoversTheSpan() {
        for (floats, parts) in [(18 * 64, 8), (19 * 728, 91), (5, 3), (16, 1), (35 * 144, 18), (0, 4)] {
            let ahead = DepthwiseRowPrefetch(start: nil, rowStride: 0, rows: 2, floatsPerRow: floats)
            var next = 0
            for part in 0..<parts {
                let range = ahead.lines(part: part, of: parts)
                XCTAssertEqual(range.lowerBound, next, "parts are contiguous (\(floats) floats, \(parts) parts)")
                next = range.upperBound
            }
            XCTAssertEqual(next, ahead.linesPerRow)
            // A start 60 bytes into a line still reaches the line holding the last float.
            if floats > 0 { XCTAssertGreaterThanOrEqual(64 * ahead.linesPerRow, 60 + 4 * floats) }
        }
    }
}
