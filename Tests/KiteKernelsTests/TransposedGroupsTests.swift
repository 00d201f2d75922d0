import XCTest
@testable import KiteKernels

/// The transposed-order group convolution against the definition: read the input through the
/// G-group shuffle map, convolve each group in logical order, store logical channel j at
/// physical channel map[j].
final class TransposedGroupsTests: XCTestCase {
    func check(groupSize g: Int, groups q: Int, pixels: Int, inputExtra: Int, outputExtra: Int, withBias: Bool,
               activation: KernelActivation, parts: Int, rng: inout SeededRNG, file: StaticString = #filePath, line: UInt = #line) {
        let c = g * q
        let ips = c + inputExtra, ops = c + outputExtra
        let input = rng.floats(pixels * ips)
        let w = rng.floats(c * g)
        let bias = withBias ? rng.floats(c) : nil
        let map = TransposedGroupConv.transposedMap(groupSize: g, groups: q)
        // Reference in logical order.
        var want = [Double](repeating: 0, count: pixels * c)
        for p in 0..<pixels {
            for oc in 0..<c {
                let group = oc / g
                var s = Double(bias?[oc] ?? 0)
                for m in 0..<g { s += Double(w[oc * g + m]) * Double(input[p * ips + map[group * g + m]]) }
                want[p * c + oc] = referenceActivation(activation, s)
            }
        }
        let conv = w.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                TransposedGroupConv(weights: wp.baseAddress!, channels: c, groups: q, bias: withBias ? bp.baseAddress : nil)
            }
        }
        var out = [Float](repeating: sentinel, count: pixels * ops)
        input.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                for k in 0..<parts {
                    conv.run(input: i.baseAddress!, inputPixelStride: ips, output: o.baseAddress!, outputPixelStride: ops,
                             activation: activation, pixels: (pixels * k / parts)..<(pixels * (k + 1) / parts))
                }
            }
        }
        var worst = 0.0
        for p in 0..<pixels {
            for j in 0..<c { worst = max(worst, abs(Double(out[p * ops + map[j]]) - want[p * c + j])) }
            for j in c..<ops { XCTAssertEqual(out[p * ops + j], sentinel, "padding channel written", file: file, line: line) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "G=\(g) Q=\(q) pixels=\(pixels)", file: file, line: line)
    }

    func testAgainstDefinition() {
        var rng = SeededRNG(seed: 77)
        for (g, q) in [(4, 16), (4, 11), (2, 8), (2, 13), (8, 9), (8, 16), (4, 32)] {
            for (pixels, parts) in [(1, 1), (37, 1), (70, 3)] {
                check(groupSize: g, groups: q, pixels: pixels, inputExtra: pixels % 2 * 5, outputExtra: pixels % 3 * 3,
                      withBias: pixels != 1, activation: pixels == 70 ? .relu : .none, parts: parts, rng: &rng)
            }
        }
    }

    func testEligibility() {
        XCTAssertTrue(TransposedGroupConv.isEligible(inputChannels: 64, outputChannels: 64, groups: 16))
        XCTAssertTrue(TransposedGroupConv.isEligible(inputChannels: 16, outputChannels: 16, groups: 8))
        XCTAssertFalse(TransposedGroupConv.isEligible(inputChannels: 16, outputChannels: 16, groups: 4), "fewer than 8 groups")
        XCTAssertFalse(TransposedGroupConv.isEligible(inputChannels: 48, outputChannels: 48, groups: 16), "3 channels per group")
        XCTAssertFalse(TransposedGroupConv.isEligible(inputChannels: 64, outputChannels: 128, groups: 16), "channel counts differ")
        XCTAssertEqual(TransposedGroupConv.transposedMap(groupSize: 2, groups: 4), [0, 4, 1, 5, 2, 6, 3, 7])
    }
}
