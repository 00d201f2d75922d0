import XCTest
@testable import KiteKernels

/// The four-groups-in-lanes 3x3 convolution against the plain reference convolution: 4, 8 and 16
/// inputs and 2 and 4 outputs per group, odd sizes, 1-pixel maps, pixel strides wider than the
/// channels, channel maps (CondenseNet's shuffle, random permutations, repeats), every
/// activation, and row ranges computed in separate calls.
final class LaneGroupConvTests: XCTestCase {
    func geometry(_ h: Int, _ w: Int) -> ConvGeometry {
        ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
    }

    func check(h: Int, w: Int, ci: Int, co: Int, map: [Int]?, inputExtra: Int, outputExtra: Int, withBias: Bool,
               activation: KernelActivation, split: [Int], rng: inout SeededRNG,
               file: StaticString = #filePath, line: UInt = #line) {
        let g = geometry(h, w)
        let cin = 4 * ci, cout = 4 * co
        let physical = (map?.max() ?? (cin - 1)) + 1
        let ips = physical + inputExtra, ops = cout + outputExtra
        let input = rng.floats(h * w * ips)
        let weights = rng.floats(cout * ci * 9)
        let bias = withBias ? rng.floats(cout) : nil
        XCTAssertTrue(LaneGroupConv.isEligible(geometry: g, inputChannels: cin, outputChannels: cout, groups: 4), file: file, line: line)
        let packed = weights.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                PackedLaneGroupWeights(weights: wp.baseAddress!, inputsPerGroup: ci, outputsPerGroup: co,
                                       bias: bias == nil ? nil : bp.baseAddress, channelMap: map)
            }
        }
        var scratch = [Float](repeating: .nan, count: LaneGroupConv.scratchSize(geometry: g, weights: packed))
        var out = [Float](repeating: sentinel, count: h * w * ops)
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                scratch.withUnsafeMutableBufferPointer { sp in
                    for i in 0..<(split.count - 1) {
                        LaneGroupConv.run(input: ip.baseAddress!, inputPixelStride: ips, geometry: g, weights: packed,
                                          output: op.baseAddress!, outputPixelStride: ops, activation: activation,
                                          outputRows: split[i]..<split[i + 1], scratch: sp.baseAddress!)
                    }
                }
            }
        }
        // The input as the convolution sees it: channel j read from `map[j]`.
        var logical = [Float](repeating: 0, count: h * w * cin)
        for p in 0..<(h * w) {
            for j in 0..<cin { logical[p * cin + j] = input[p * ips + (map?[j] ?? j)] }
        }
        let expected = referenceConv(input: logical, ips: cin, g: g, cin: cin, cout: cout, groups: 4, weights: weights,
                                     bias: bias, residual: nil, rps: 0, activation: activation)
        assertChannelSlice(out, pixels: h * w, ops: ops, cout: cout, expected: expected, tol: 2e-5,
                           "\(h)x\(w) ci=\(ci) co=\(co) map=\(map != nil) \(activation)", file: file, line: line)
    }

    /// CondenseNet's shuffle of the 4-group 1x1 conv before the 3x3 one.
    func shuffleMap(channels: Int) -> [Int] {
        (0..<channels).map { j in (j % 4) * (channels / 4) + j / 4 }
    }

    func testCondenseNetShapes() {
        var rng = SeededRNG(seed: 307)
        for (ci, co, size) in [(8, 2, 19), (16, 4, 13), (4, 2, 9), (4, 4, 8), (8, 4, 7), (16, 2, 10)] {
            for map in [nil, shuffleMap(channels: 4 * ci)] {
                check(h: size, w: size + 2, ci: ci, co: co, map: map, inputExtra: 0, outputExtra: 0, withBias: false,
                      activation: .none, split: [0, size], rng: &rng)
            }
        }
    }

    func testRandomShapes() {
        var rng = SeededRNG(seed: 311)
        for trial in 0..<36 {
            let ci = [4, 8, 16][trial % 3], co = [2, 4][(trial / 3) % 2]
            let h = rng.int(1...12), w = rng.int(1...21)
            let cin = 4 * ci
            let map: [Int]?
            switch trial % 4 {
            case 0: map = nil
            case 1: map = shuffleMap(channels: cin)
            case 2: map = (0..<cin).shuffled(using: &rng)
            default: map = (0..<cin).map { _ in rng.int(0...(cin + 5)) }
            }
            let split = trial % 2 == 0 ? [0, h] : [0, h / 3, h / 3 + (h - h / 3) / 2, h]
            check(h: h, w: w, ci: ci, co: co, map: map, inputExtra: rng.int(0...3), outputExtra: rng.int(0...3),
                  withBias: trial % 3 != 0, activation: allActivations[trial % allActivations.count], split: split, rng: &rng)
        }
    }

    func testRegatherLayouts() {
        // Plain group order and CondenseNet's shuffle regather by runs; other orders by table.
        let w = [Float](repeating: 0.5, count: 16 * 16 * 9)
        func run(ci: Int, co: Int, map: [Int]?) -> Int {
            w.withUnsafeBufferPointer { PackedLaneGroupWeights(weights: $0.baseAddress!, inputsPerGroup: ci, outputsPerGroup: co,
                                                               bias: nil, channelMap: map).gatherRun }
        }
        XCTAssertEqual(run(ci: 8, co: 2, map: nil), 8)
        XCTAssertEqual(run(ci: 8, co: 2, map: shuffleMap(channels: 32)), 2)
        XCTAssertEqual(run(ci: 16, co: 4, map: shuffleMap(channels: 64)), 4)
        XCTAssertEqual(run(ci: 16, co: 4, map: Array((0..<64).reversed())), 0)
    }

    func testEligibility() {
        let g = geometry(10, 10)
        XCTAssertFalse(LaneGroupConv.isEligible(geometry: g, inputChannels: 32, outputChannels: 32, groups: 4), "8 outputs per group")
        XCTAssertFalse(LaneGroupConv.isEligible(geometry: g, inputChannels: 24, outputChannels: 6, groups: 3))
        XCTAssertFalse(LaneGroupConv.isEligible(geometry: g, inputChannels: 48, outputChannels: 8, groups: 4), "12 inputs per group")
        let strided = ConvGeometry(inputHeight: 10, inputWidth: 10, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2,
                                   padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertFalse(LaneGroupConv.isEligible(geometry: strided, inputChannels: 32, outputChannels: 8, groups: 4))
        XCTAssertTrue(LaneGroupConv.isEligible(geometry: g, inputChannels: 64, outputChannels: 16, groups: 4))
    }
}
