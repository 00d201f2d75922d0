import Foundation
import XCTest
@testable import KiteKernels

/// Deterministic SplitMix64 so failures reproduce.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func floats(_ n: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &self) }
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
}

/// Every activation, with non-trivial parameters.
let allActivations: [KernelActivation] = [
    .none, .relu, .relu6, .clip(min: -0.5, max: 0.7), .leakyRelu(alpha: 0.1), .sigmoid,
    .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish,
]

/// Double-precision reference activation.
func referenceActivation(_ act: KernelActivation, _ x: Double) -> Double {
    switch act {
    case .none: return x
    case .relu: return max(x, 0)
    case let .clip(lo, hi): return min(max(x, Double(lo)), Double(hi))
    case let .leakyRelu(alpha): return x >= 0 ? x : Double(alpha) * x
    case .sigmoid: return 1 / (1 + Foundation.exp(-x))
    case let .hardSigmoid(alpha, beta): return max(0, min(1, Double(alpha) * x + Double(beta)))
    case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
    }
}

/// Asserts `|actual - expected| <= tol * max(1, |expected|)` elementwise.
func assertClose(_ actual: [Float], _ expected: [Double], tol: Double = 1e-5, _ message: @autoclosure () -> String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count " + message(), file: file, line: line)
    var worst = 0.0, worstIndex = -1
    for i in 0..<min(actual.count, expected.count) {
        let err = Double(actual[i]) == expected[i] ? 0 : abs(Double(actual[i]) - expected[i]) / max(1, abs(expected[i]))
        if !(err <= worst) { worst = err; worstIndex = i }
        if err.isNaN { worst = .infinity; worstIndex = i; break }
    }
    if worst > tol {
        XCTFail("max rel error \(worst) at \(worstIndex): got \(actual[worstIndex]) want \(expected[worstIndex]) " + message(),
                file: file, line: line)
    }
}

/// Asserts equality of floats exactly (for data-movement kernels).
func assertEqualFloats(_ actual: [Float], _ expected: [Float], _ message: @autoclosure () -> String = "",
                       file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count " + message(), file: file, line: line)
    for i in 0..<min(actual.count, expected.count) where actual[i] != expected[i] && !(actual[i].isNaN && expected[i].isNaN) {
        XCTFail("mismatch at \(i): got \(actual[i]) want \(expected[i]) " + message(), file: file, line: line)
        return
    }
}

/// A sentinel that marks memory the kernel must not touch.
let sentinel: Float = -12345.5

/// A random geometry with the given kernel (odd sizes, strides 1-2, asymmetric pads, dilation), or nil if empty.
func randomGeometry(kh: Int, kw: Int, maxSize: Int = 15, maxStride: Int = 2, maxDilation: Int = 2,
                    rng: inout SeededRNG) -> ConvGeometry? {
    let h = rng.int(1...maxSize), w = rng.int(1...maxSize)
    let sh = rng.int(1...maxStride), sw = rng.int(1...maxStride)
    let pt = rng.int(0...2), pl = rng.int(0...3), pb = rng.int(0...2), pr = rng.int(0...1)
    let dh = rng.int(1...maxDilation), dw = rng.int(1...maxDilation)
    let oh = (h + pt + pb - dh * (kh - 1) - 1)
    let ow = (w + pl + pr - dw * (kw - 1) - 1)
    if oh < 0 || ow < 0 { return nil }
    return ConvGeometry(inputHeight: h, inputWidth: w, kernelHeight: kh, kernelWidth: kw,
                        strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, padBottom: pb, padRight: pr,
                        dilationHeight: dh, dilationWidth: dw)
}

/// Checks an NHWC output of `cout` channels at pixel stride `ops`: the first `cout` channels of
/// each pixel close to `expected`, the rest of each pixel untouched (still `sentinel`).
func assertChannelSlice(_ out: [Float], pixels: Int, ops: Int, cout: Int, expected: [Double], tol: Double,
                        _ message: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
    var got = [Float]()
    for p in 0..<pixels {
        for c in 0..<ops {
            let v = out[p * ops + c]
            if c < cout { got.append(v) } else if v != sentinel {
                XCTFail("wrote outside the output slice", file: file, line: line)
                return
            }
        }
    }
    assertClose(got, expected, tol: tol, message(), file: file, line: line)
}

/// Runs `body` under each of the depthwise kernel's block-outer modes (`depthwiseBlockOuterMode`):
/// 0 row-outer in place and tiles only, 1 the default, 2 every 3x3 and 5x5 layer block by block.
func forBlockOuterModes(_ modes: [Int] = [0, 1, 2], _ body: () -> Void) {
    let saved = depthwiseBlockOuterMode
    defer { depthwiseBlockOuterMode = saved }
    for mode in modes {
        depthwiseBlockOuterMode = mode
        body()
    }
}

/// Runs `body` with the in-place depthwise paths' 16-lane blocks in pairs and one at a time.
func forBlockPairs(_ body: () -> Void) {
    let saved = depthwiseBlockPairs
    defer { depthwiseBlockPairs = saved }
    for pairs in [true, false] {
        depthwiseBlockPairs = pairs
        body()
    }
}

/// Runs `body` with the in-place 8-lane depthwise rows two blocks at a time at both strides (mode 2)
/// and one block at a time (mode 0, the default); mode 1 pairs stride 2 only.
func forNarrowPairModes(_ body: () -> Void) {
    let saved = depthwiseNarrowPairMode
    defer { depthwiseNarrowPairMode = saved }
    for mode in [2, 0] {
        depthwiseNarrowPairMode = mode
        body()
    }
}

/// Runs `body` with the 16-lane (AVX-512) kernels and with the 8-lane ones; both are correct on
/// any CPU the package was compiled for, only their speed depends on the registers.
func forBothKernelWidths(_ body: () -> Void) {
    let saved = wideVectorKernels
    defer { wideVectorKernels = saved }
    for wide in [true, false] {
        wideVectorKernels = wide
        body()
    }
}
