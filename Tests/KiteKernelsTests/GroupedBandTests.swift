import XCTest
@testable import KiteKernels

/// The banded grouped convolution against the plain reference convolution: pairs of 8-channel
/// groups and 16/32-channel groups, odd sizes, strides, padding, dilation, residual, row splits.
final class GroupedBandTests: XCTestCase {
    func check(g: ConvGeometry, cin: Int, cout: Int, groups: Int, inputExtra: Int, outputExtra: Int, withBias: Bool,
               withResidual: Bool, activation: KernelActivation, split: [Int], unitSplit: [Int]? = nil, rng: inout SeededRNG,
               file: StaticString = #filePath, line: UInt = #line) {
        let ips = cin + inputExtra, ops = cout + outputExtra, rps = cout + 3
        let input = rng.floats(g.inputHeight * g.inputWidth * ips)
        let w = rng.floats(cout * (cin / groups) * g.kernelHeight * g.kernelWidth)
        let bias = withBias ? rng.floats(cout) : nil
        let pixels = g.outputHeight * g.outputWidth
        let residual = withResidual ? rng.floats(pixels * rps) : nil
        XCTAssertTrue(GroupedBandWeights.isEligible(kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth,
                                                    inputChannels: cin, outputChannels: cout, groups: groups),
                      file: file, line: line)
        let packed = w.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                GroupedBandWeights(weights: wp.baseAddress!, outputChannels: cout, inputChannels: cin,
                                   kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, groups: groups,
                                   bias: bias == nil ? nil : bp.baseAddress)
            }
        }
        var scratch = [Float](repeating: .nan, count: GroupedBandConv.scratchSize(geometry: g, inputChannels: cin, weights: packed))
        var out = [Float](repeating: sentinel, count: pixels * ops)
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                scratch.withUnsafeMutableBufferPointer { sp in
                    (residual ?? []).withUnsafeBufferPointer { rp in
                        // Rows split as `split` says; each part's units split as `unitSplit` says (all of them if nil).
                        let unitBounds = unitSplit ?? [0, GroupedBandConv.unitCount(packed)]
                        for i in 0..<(split.count - 1) {
                            for j in 0..<(unitBounds.count - 1) {
                                GroupedBandConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                                    output: op.baseAddress!, outputPixelStride: ops,
                                                    residual: residual == nil ? nil : rp.baseAddress, residualPixelStride: rps,
                                                    activation: activation, outputRows: split[i]..<split[i + 1],
                                                    units: unitBounds[j]..<unitBounds[j + 1], scratch: sp.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        let expected = referenceConv(input: input, ips: ips, g: g, cin: cin, cout: cout, groups: groups, weights: w,
                                     bias: bias, residual: residual, rps: rps, activation: activation)
        assertChannelSlice(out, pixels: pixels, ops: ops, cout: cout, expected: expected, tol: 2e-5,
                           "cin=\(cin) cout=\(cout) groups=\(groups) \(g) \(activation)", file: file, line: line)
    }

    func testResNeXtShapes() {
        forBothKernelWidths { resNeXtShapes() }
    }

    func resNeXtShapes() {
        var rng = SeededRNG(seed: 211)
        // 3x3 pad 1, stride 1 and 2, 8 / 16 / 32 channels per group (narrow maps).
        for (perGroup, groups) in [(8, 4), (16, 3), (32, 2)] {
            for stride in [1, 2] {
                let size = 9 + stride
                let g = ConvGeometry(inputHeight: size, inputWidth: size + 2, kernelHeight: 3, kernelWidth: 3,
                                     strideHeight: stride, strideWidth: stride, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
                check(g: g, cin: perGroup * groups, cout: perGroup * groups, groups: groups, inputExtra: 0, outputExtra: 0,
                      withBias: true, withResidual: false, activation: .relu, split: [0, g.outputHeight], rng: &rng)
            }
        }
    }

    /// Weights larger than half of L2 (IGCv1's 7x7 layers): bands of 8 rows, each panel pair
    /// sweeping the band's rows; and the same convolutions in the row-by-row order.
    func testLargeWeightsSweepRowsPerPanelPair() {
        var rng = SeededRNG(seed: 227)
        let groups = 2, perGroupIn = 64
        var perGroupOut = 64
        while 4 * 9 * perGroupIn * groups * perGroupOut <= CacheSizes.level2OrDefault / 2 { perGroupOut += 64 }
        for stride in [1, 2] {
            let size = 7 * stride
            let g = ConvGeometry(inputHeight: size, inputWidth: size + stride - 1, kernelHeight: 3, kernelWidth: 3,
                                 strideHeight: stride, strideWidth: stride, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
            for panelOuter in [true, false] {
                groupedBandPanelOuter = panelOuter
                defer { groupedBandPanelOuter = true }
                let packed = GroupedBandWeights(weights: [Float](repeating: 0, count: groups * perGroupOut * perGroupIn * 9),
                                                outputChannels: groups * perGroupOut, inputChannels: groups * perGroupIn,
                                                kernelHeight: 3, kernelWidth: 3, groups: groups, bias: nil)
                XCTAssertEqual(GroupedBandConv.weightsStream(packed), panelOuter)
                XCTAssertEqual(GroupedBandConv.bandRows(packed), panelOuter ? 8 : 4)
                XCTAssertEqual(GroupedBandConv.splitsByUnits(packed), panelOuter)
                forBothKernelWidths {
                    check(g: g, cin: perGroupIn * groups, cout: perGroupOut * groups, groups: groups, inputExtra: 3, outputExtra: 5,
                          withBias: true, withResidual: stride == 1, activation: .relu, split: [0, 3, g.outputHeight], rng: &rng)
                    check(g: g, cin: perGroupIn * groups, cout: perGroupOut * groups, groups: groups, inputExtra: 0, outputExtra: 0,
                          withBias: false, withResidual: false, activation: .none, split: [0, g.outputHeight], rng: &rng)
                    // One group each, as two threads split it (`splitsByUnits`).
                    check(g: g, cin: perGroupIn * groups, cout: perGroupOut * groups, groups: groups, inputExtra: 1, outputExtra: 2,
                          withBias: true, withResidual: true, activation: .relu, split: [0, g.outputHeight], unitSplit: [0, 1, 2],
                          rng: &rng)
                }
            }
        }
    }

    func testRandomGeometries() {
        forBothKernelWidths { randomGeometries() }
    }

    func randomGeometries() {
        var rng = SeededRNG(seed: 223)
        var checked = 0
        for trial in 0..<40 {
            let kh = [2, 3, 3, 5][rng.int(0...3)]
            let kw = trial % 5 == 0 ? [1, 3][rng.int(0...1)] : kh
            guard let g = randomGeometry(kh: kh, kw: kw, maxSize: 15, rng: &rng) else { continue }
            let perGroupOut = [8, 8, 16, 32][rng.int(0...3)]
            let groups = perGroupOut == 8 ? 2 * rng.int(1...3) : rng.int(2...3)
            let perGroupIn = [2, 3, 8, 13][rng.int(0...3)]
            let rows = g.outputHeight
            let split = trial % 2 == 0 ? [0, rows] : [0, rows / 3, rows / 3 + (rows - rows / 3) / 2, rows]
            check(g: g, cin: perGroupIn * groups, cout: perGroupOut * groups, groups: groups, inputExtra: rng.int(0...3),
                  outputExtra: rng.int(0...3), withBias: rng.int(0...1) == 1, withResidual: trial % 3 == 0,
                  activation: allActivations[trial % allActivations.count], split: split, rng: &rng)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 25)
    }

    func testEligibility() {
        // Depthwise, 1x1, odd group counts of 8-channel groups and 4-channel groups stay elsewhere.
        XCTAssertFalse(GroupedBandWeights.isEligible(kernelHeight: 3, kernelWidth: 3, inputChannels: 32, outputChannels: 32, groups: 32))
        XCTAssertFalse(GroupedBandWeights.isEligible(kernelHeight: 1, kernelWidth: 1, inputChannels: 32, outputChannels: 32, groups: 4))
        XCTAssertFalse(GroupedBandWeights.isEligible(kernelHeight: 3, kernelWidth: 3, inputChannels: 24, outputChannels: 24, groups: 3))
        XCTAssertFalse(GroupedBandWeights.isEligible(kernelHeight: 3, kernelWidth: 3, inputChannels: 32, outputChannels: 32, groups: 8))
        XCTAssertTrue(GroupedBandWeights.isEligible(kernelHeight: 3, kernelWidth: 3, inputChannels: 256, outputChannels: 256, groups: 32))
    }
}
