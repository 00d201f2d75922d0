import Foundation
import XCTest
@testable import KiteKernels

final class LayoutTests: XCTestCase {
    func testNCHWRoundTrip() {
        var rng = SeededRNG(seed: 97)
        for (channels, pixels) in [(3, 7 * 9), (8, 16), (17, 13 * 13), (33, 5), (64, 24)] {
            let ops = channels + 3
            let nchw = rng.floats(channels * pixels)
            var nhwc = [Float](repeating: sentinel, count: pixels * ops)
            var back = [Float](repeating: sentinel, count: channels * pixels)
            nchw.withUnsafeBufferPointer { ip in
                nhwc.withUnsafeMutableBufferPointer { op in
                    let split = pixels / 3
                    for r in [0..<split, split..<pixels] {
                        Layout.nchwToNHWC(input: ip.baseAddress!, channels: channels, pixels: pixels,
                                          output: op.baseAddress!, outputPixelStride: ops, pixelRange: r)
                    }
                }
            }
            for p in 0..<pixels {
                for c in 0..<ops {
                    XCTAssertEqual(nhwc[p * ops + c], c < channels ? nchw[c * pixels + p] : sentinel)
                }
            }
            nhwc.withUnsafeBufferPointer { ip in
                back.withUnsafeMutableBufferPointer { op in
                    Layout.nhwcToNCHW(input: ip.baseAddress!, inputPixelStride: ops, channels: channels, pixels: pixels,
                                      output: op.baseAddress!)
                }
            }
            assertEqualFloats(back, nchw, "C=\(channels) P=\(pixels)")
        }
    }

    func testCopyShuffleAndPermute() {
        var rng = SeededRNG(seed: 101)
        for (channels, groups) in [(4, 2), (6, 3), (24, 2), (58, 2), (116, 2), (240, 3), (40, 8), (5, 5)] {
            let pixels = 11, ips = channels + 5, ops = channels + 2
            let input = rng.floats(pixels * ips)
            var shuffled = [Float](repeating: sentinel, count: pixels * ops)
            var permuted = [Float](repeating: sentinel, count: pixels * ops)
            var copied = [Float](repeating: sentinel, count: pixels * ops)
            let per = channels / groups
            var perm = [Int32](repeating: 0, count: channels)
            for i in 0..<per { for j in 0..<groups { perm[i * groups + j] = Int32(j * per + i) } }
            input.withUnsafeBufferPointer { ip in
                shuffled.withUnsafeMutableBufferPointer { op in
                    Layout.channelShuffle(input: ip.baseAddress!, inputPixelStride: ips, groups: groups, output: op.baseAddress!,
                                          outputPixelStride: ops, channels: channels, pixels: 0..<pixels)
                }
                permuted.withUnsafeMutableBufferPointer { op in
                    perm.withUnsafeBufferPointer { pp in
                        Layout.permuteChannels(input: ip.baseAddress!, inputPixelStride: ips, permutation: pp.baseAddress!,
                                               output: op.baseAddress!, outputPixelStride: ops, channels: channels,
                                               pixels: 0..<pixels)
                    }
                }
                copied.withUnsafeMutableBufferPointer { op in
                    Layout.copyChannels(input: ip.baseAddress!, inputPixelStride: ips, output: op.baseAddress!,
                                        outputPixelStride: ops, channels: channels, pixels: 0..<pixels)
                }
            }
            var expectedShuffle = [Float](repeating: sentinel, count: pixels * ops)
            var expectedCopy = [Float](repeating: sentinel, count: pixels * ops)
            for p in 0..<pixels {
                for c in 0..<channels {
                    expectedShuffle[p * ops + c] = input[p * ips + Int(perm[c])]
                    expectedCopy[p * ops + c] = input[p * ips + c]
                }
            }
            assertEqualFloats(shuffled, expectedShuffle, "shuffle C=\(channels) g=\(groups)")
            assertEqualFloats(permuted, expectedShuffle, "permute C=\(channels) g=\(groups)")
            assertEqualFloats(copied, expectedCopy, "copy C=\(channels)")
        }
    }

    func testSoftmax() {
        var rng = SeededRNG(seed: 103)
        for count in [1, 3, 8, 10, 17, 1000] {
            var x = rng.floats(count, in: -20...20)
            if count > 3 { x[2] = 80; x[3] = -90 }
            var y = [Float](repeating: 0, count: count)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { Layout.softmax(input: xp.baseAddress!, output: $0.baseAddress!, count: count) }
            }
            let m = x.map(Double.init).max()!
            let e = x.map { Foundation.exp(Double($0) - m) }
            let s = e.reduce(0, +)
            assertClose(y, e.map { $0 / s }, tol: 1e-6, "softmax \(count)")
            // In place.
            x.withUnsafeMutableBufferPointer { Layout.softmax(input: $0.baseAddress!, output: $0.baseAddress!, count: count) }
            assertEqualFloats(x, y)
        }
    }
}

/// Partial vector loads and stores (the edges of GEMM tiles whose N is not a multiple of 8):
/// exactly `count` lanes, nothing before or after them touched, at every alignment.
final class PartialVectorTests: XCTestCase {
    func testPartialLoadsAndStoresTouchExactlyCountLanes() {
        let values = SIMD8<Float>(1, 2, 3, 4, 5, 6, 7, 8)
        var buffer = [Float](repeating: -1, count: 24)
        for offset in 0..<4 {
            for count in 0...8 {
                for i in buffer.indices { buffer[i] = -Float(i) - 1 }
                buffer.withUnsafeMutableBufferPointer { b in
                    storePartial8(values, b.baseAddress! + 8 + offset, count)
                }
                for i in buffer.indices {
                    let lane = i - 8 - offset
                    let want = lane >= 0 && lane < count ? values[lane] : -Float(i) - 1
                    XCTAssertEqual(buffer[i], want, "store: offset \(offset), count \(count), index \(i)")
                }
                let loaded = buffer.withUnsafeBufferPointer { b in loadPartial8(b.baseAddress! + 8 + offset, count) }
                for lane in 0..<8 {
                    XCTAssertEqual(loaded[lane], lane < count ? values[lane] : 0, "load: offset \(offset), count \(count), lane \(lane)")
                }
            }
        }
    }
}
