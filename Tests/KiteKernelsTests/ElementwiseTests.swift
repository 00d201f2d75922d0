import XCTest
@testable import KiteKernels

final class ElementwiseTests: XCTestCase {
    /// ONNX Clip is min(max(x, min), max): with min > max every value becomes max.
    func testClipWithMinAboveMaxGivesMax() {
        let clip = KernelActivation.clip(min: 2, max: 1)
        XCTAssertEqual([0, 1.5, 3].map { clip.apply(Float($0)) }, [1, 1, 1])
        XCTAssertEqual(clip.apply(SIMD8<Float>(0, 1, 2, 3, -4, 5, 1.5, 0.5)), SIMD8<Float>(repeating: 1))
        var buffer: [Float] = (0..<19).map { Float($0) - 9 }
        buffer.withUnsafeMutableBufferPointer { clip.apply(to: $0.baseAddress!, count: $0.count) }
        XCTAssertEqual(buffer, [Float](repeating: 1, count: 19))
        XCTAssertEqual(KernelActivation.clip(min: -1, max: 1).apply(SIMD8<Float>(-3, -1, 0, 0.5, 1, 2, 3, 4)),
                       SIMD8<Float>(-1, -1, 0, 0.5, 1, 1, 1, 1))
    }

    let ops: [(BinaryOperation, (Double, Double) -> Double)] = [
        (.add, { $0 + $1 }), (.subtract, { $0 - $1 }), (.multiply, { $0 * $1 }), (.divide, { $0 / $1 }),
        (.maximum, { max($0, $1) }), (.minimum, { min($0, $1) }),
    ]

    /// Extracts `pixels` x `channels` from a strided buffer.
    func gather(_ buf: [Float], stride: Int, offset: Int, pixels: Int, channels: Int) -> [Float] {
        var r = [Float]()
        for p in 0..<pixels { for c in 0..<channels { r.append(buf[offset + p * stride + c]) } }
        return r
    }

    /// Checks the strided output: values inside the slice against `expected`, sentinels elsewhere.
    func checkOutput(_ out: [Float], stride: Int, pixels: Int, channels: Int, expected: [Double], tol: Double = 1e-6,
                     _ msg: String, file: StaticString = #filePath, line: UInt = #line) {
        for p in 0..<pixels {
            for c in channels..<stride where out[p * stride + c] != sentinel {
                XCTFail("wrote outside the slice " + msg, file: file, line: line)
                return
            }
        }
        assertClose(gather(out, stride: stride, offset: 0, pixels: pixels, channels: channels), expected, tol: tol, msg,
                    file: file, line: line)
    }

    func testBinaryStridedAndBroadcast() {
        var rng = SeededRNG(seed: 59)
        for trial in 0..<48 {
            let channels = [1, 3, 5, 8, 17, 33, 40][rng.int(0...6)]
            let pixels = [1, 7, 13 * 13][rng.int(0...2)]
            let dense = trial % 3 == 0
            let aps = dense ? channels : channels + rng.int(0...4)
            let broadcast = trial % 4 == 1
            let bps = broadcast ? 0 : (dense ? channels : channels + rng.int(0...4))
            let ops = dense ? channels : channels + rng.int(0...4)
            let (op, f) = self.ops[trial % self.ops.count]
            let act = allActivations[trial % allActivations.count]
            let a = rng.floats(pixels * aps)
            let b = rng.floats(max(1, pixels * bps + channels), in: 0.5...2)
            var out = [Float](repeating: sentinel, count: pixels * ops)
            let split = pixels / 2
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { obuf in
                        for range in [0..<split, split..<pixels] {
                            Elementwise.binary(op, a: ap.baseAddress!, aPixelStride: aps, b: bp.baseAddress!, bPixelStride: bps,
                                               output: obuf.baseAddress!, outputPixelStride: ops, channels: channels,
                                               pixels: range, activation: act)
                        }
                    }
                }
            }
            var expected = [Double]()
            for p in 0..<pixels {
                for c in 0..<channels {
                    expected.append(referenceActivation(act, f(Double(a[p * aps + c]), Double(b[p * bps + c]))))
                }
            }
            checkOutput(out, stride: ops, pixels: pixels, channels: channels, expected: expected,
                        "\(op) C=\(channels) P=\(pixels) strides \(aps) \(bps) \(ops) \(act)")
        }
    }

    func testInPlaceAddAndMultiplyByChannel() {
        var rng = SeededRNG(seed: 61)
        let channels = 37, pixels = 15, stride = 45
        var a = rng.floats(pixels * stride)
        let b = rng.floats(pixels * channels)
        let scale = rng.floats(channels)
        var expected = [Double]()
        for p in 0..<pixels {
            for c in 0..<channels {
                let v = (Double(a[p * stride + c]) + Double(b[p * channels + c])) * Double(scale[c])
                expected.append(max(0, v))
            }
        }
        a.withUnsafeMutableBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                Elementwise.add(a: ap.baseAddress!, aPixelStride: stride, b: bp.baseAddress!, bPixelStride: channels,
                                output: ap.baseAddress!, outputPixelStride: stride, channels: channels, pixels: 0..<pixels)
            }
            scale.withUnsafeBufferPointer { sp in
                Elementwise.multiplyByChannel(input: ap.baseAddress!, inputPixelStride: stride, scale: sp.baseAddress!,
                                              output: ap.baseAddress!, outputPixelStride: stride, channels: channels,
                                              pixels: 0..<pixels, activation: .relu)
            }
        }
        assertClose(gather(a, stride: stride, offset: 0, pixels: pixels, channels: channels), expected)
    }

    func testScalarScaleShiftActivate() {
        var rng = SeededRNG(seed: 67)
        for trial in 0..<24 {
            let channels = [3, 8, 19, 64][trial % 4]
            let pixels = 11
            let ips = channels + (trial % 2) * 3, ops = channels + (trial % 3)
            let x = rng.floats(pixels * ips)
            let scale = rng.floats(channels), shift = rng.floats(channels)
            let act = allActivations[trial % allActivations.count]
            let (op, f) = self.ops[trial % self.ops.count]
            let s: Float = 1.75
            var outScalar = [Float](repeating: sentinel, count: pixels * ops)
            var outSS = [Float](repeating: sentinel, count: pixels * ops)
            var outScale = [Float](repeating: sentinel, count: pixels * ops)
            var outAct = [Float](repeating: sentinel, count: pixels * ops)
            x.withUnsafeBufferPointer { xp in
                scale.withUnsafeBufferPointer { sc in
                    shift.withUnsafeBufferPointer { sh in
                        outScalar.withUnsafeMutableBufferPointer {
                            Elementwise.scalar(op, input: xp.baseAddress!, inputPixelStride: ips, scalar: s, output: $0.baseAddress!,
                                               outputPixelStride: ops, channels: channels, pixels: 0..<pixels, activation: act)
                        }
                        outSS.withUnsafeMutableBufferPointer {
                            Elementwise.scaleShift(input: xp.baseAddress!, inputPixelStride: ips, scale: sc.baseAddress!,
                                                   shift: sh.baseAddress!, output: $0.baseAddress!, outputPixelStride: ops,
                                                   channels: channels, pixels: 0..<pixels, activation: act)
                        }
                        outScale.withUnsafeMutableBufferPointer {
                            Elementwise.scaleShift(input: xp.baseAddress!, inputPixelStride: ips, scale: sc.baseAddress!,
                                                   shift: nil, output: $0.baseAddress!, outputPixelStride: ops,
                                                   channels: channels, pixels: 0..<pixels, activation: act)
                        }
                        outAct.withUnsafeMutableBufferPointer {
                            Elementwise.activate(input: xp.baseAddress!, inputPixelStride: ips, output: $0.baseAddress!,
                                                 outputPixelStride: ops, channels: channels, pixels: 0..<pixels, activation: act)
                        }
                    }
                }
            }
            var eScalar = [Double](), eSS = [Double](), eScale = [Double](), eAct = [Double]()
            for p in 0..<pixels {
                for c in 0..<channels {
                    let v = Double(x[p * ips + c])
                    eScalar.append(referenceActivation(act, f(v, Double(s))))
                    eSS.append(referenceActivation(act, v * Double(scale[c]) + Double(shift[c])))
                    eScale.append(referenceActivation(act, v * Double(scale[c])))
                    eAct.append(referenceActivation(act, v))
                }
            }
            checkOutput(outScalar, stride: ops, pixels: pixels, channels: channels, expected: eScalar, "scalar \(op) \(act)")
            checkOutput(outSS, stride: ops, pixels: pixels, channels: channels, expected: eSS, "scaleShift \(act)")
            checkOutput(outScale, stride: ops, pixels: pixels, channels: channels, expected: eScale, "scale \(act)")
            checkOutput(outAct, stride: ops, pixels: pixels, channels: channels, expected: eAct, "activate \(act)")
        }
    }
}

final class GatherScaleShiftTests: XCTestCase {
    /// Against the definition, channel counts around the vector width, repeated and permuted sources.
    func testAgainstDefinition() {
        var rng = SeededRNG(seed: 31)
        for (inChannels, outChannels, pixels) in [(5, 3, 4), (24, 16, 7), (20, 29, 5), (64, 100, 3)] {
            let ips = inChannels + 3, ops = outChannels + 2
            let input = rng.floats(pixels * ips)
            let source = (0..<outChannels).map { ($0 * 7 + 5) % inChannels }
            let scale = rng.floats(outChannels), shift = rng.floats(outChannels)
            for activation in [KernelActivation.none, .relu] {
                var out = [Float](repeating: sentinel, count: pixels * ops)
                input.withUnsafeBufferPointer { i in
                    source.withUnsafeBufferPointer { s in
                        out.withUnsafeMutableBufferPointer { o in
                            Elementwise.gatherScaleShift(input: i.baseAddress!, inputPixelStride: ips, source: s.baseAddress!,
                                                         scale: scale, shift: shift, output: o.baseAddress!, outputPixelStride: ops,
                                                         channels: outChannels, pixels: 0..<pixels, activation: activation)
                        }
                    }
                }
                for p in 0..<pixels {
                    for j in 0..<outChannels {
                        let want = referenceActivation(activation, Double(input[p * ips + source[j]]) * Double(scale[j]) + Double(shift[j]))
                        XCTAssertEqual(Double(out[p * ops + j]), want, accuracy: 1e-5, "C=\(outChannels) p=\(p) j=\(j)")
                    }
                    for j in outChannels..<ops { XCTAssertEqual(out[p * ops + j], sentinel) }
                }
            }
        }
    }
}
