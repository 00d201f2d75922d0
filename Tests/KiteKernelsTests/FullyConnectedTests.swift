import XCTest
@testable import KiteKernels

final class FullyConnectedTests: XCTestCase {
    func testShapes() {
        // Every prefetch setting (`fcPrefetchFloats`, `fcFarPrefetchFloats`) computes the same.
        let standard = (fcPrefetchFloats, fcFarPrefetchFloats)
        defer { (fcPrefetchFloats, fcFarPrefetchFloats) = standard }
        for (near, far) in [(0, 0), (128, 0), (512, 2048)] {
            (fcPrefetchFloats, fcFarPrefetchFloats) = (near, far)
            checkShapes()
        }
    }

    func checkShapes() {
        var rng = SeededRNG(seed: 83)
        for (trial, (m, k, n)) in [(1, 1, 1), (1, 7, 5), (1, 8, 4), (1, 17, 9), (2, 33, 13), (3, 1280, 1000), (1, 1024, 10),
                                   (1, 960, 1280), (4, 15, 3), (2, 24, 18), (1, 100, 37), (1, 16, 7)].enumerated() {
            let ips = k + trial % 3, ops = n + trial % 2
            let x = rng.floats(m * ips)
            let w = rng.floats(n * k)
            let bias = trial % 2 == 0 ? rng.floats(n) : nil
            let act = allActivations[trial % allActivations.count]
            let packed = PackedFCWeights(weights: w, outputCount: n, inputCount: k, bias: bias)
            var out = [Float](repeating: sentinel, count: m * ops)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    let split = n / 3
                    for r in [0..<split, split..<n] {
                        FullyConnected.run(input: xp.baseAddress!, inputStride: ips, rows: m, weights: packed,
                                           output: op.baseAddress!, outputStride: ops, activation: act, outputs: r)
                    }
                }
            }
            let expected = referenceGEMM(a: x, lda: ips, m: m, k: k, w: w, n: n, bias: bias, residual: nil, ldr: 0,
                                         activation: act)
            var got = [Float]()
            for i in 0..<m {
                for j in 0..<ops {
                    if j < n { got.append(out[i * ops + j]) } else { XCTAssertEqual(out[i * ops + j], sentinel) }
                }
            }
            assertClose(got, expected, tol: 2e-5, "m=\(m) k=\(k) n=\(n)")
        }
    }

    /// Every weight lands where `PackedFCWeights.offset` says, K padding and bias included, for
    /// row and column strides, N not a multiple of 4 and K not a multiple of 16.
    func testPackedLayout() {
        var rng = SeededRNG(seed: 97)
        for (n, k, transposed) in [(7, 19, false), (8, 33, true), (5, 16, false), (1, 1, false), (13, 40, true)] {
            let w = rng.floats(n * k)
            let bias = rng.floats(n)
            let packed = w.withUnsafeBufferPointer { wp in
                bias.withUnsafeBufferPointer { bp in
                    transposed
                        ? PackedFCWeights(weights: wp.baseAddress!, outputCount: n, inputCount: k, rowStride: 1, columnStride: n,
                                          bias: bp.baseAddress!)
                        : PackedFCWeights(weights: wp.baseAddress!, outputCount: n, inputCount: k, bias: bp.baseAddress!)
                }
            }
            let kpad = packed.paddedInputCount
            XCTAssertEqual(kpad, (k + 15) / 16 * 16)
            for row in 0..<n {
                for j in 0..<kpad {
                    let stored = packed.rows[PackedFCWeights.offset(row: row, k: j, paddedInputCount: kpad, blockedRows: packed.blockedRows)]
                    let expected: Float = j < k ? (transposed ? w[j * n + row] : w[row * k + j]) : 0
                    XCTAssertEqual(stored, expected, "n \(n) k \(k) row \(row) k \(j)")
                }
                XCTAssertEqual(packed.bias[row], bias[row])
            }
        }
    }

    func testTransposedPacking() {
        // Gemm with transB = 0: B stored [K x N].
        var rng = SeededRNG(seed: 89)
        let k = 19, n = 6
        let bKN = rng.floats(k * n)
        let x = rng.floats(k)
        let packed = bKN.withUnsafeBufferPointer {
            PackedFCWeights(weights: $0.baseAddress!, outputCount: n, inputCount: k, rowStride: 1, columnStride: n, bias: nil)
        }
        var out = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                FullyConnected.run(input: xp.baseAddress!, inputStride: k, weights: packed, output: op.baseAddress!, outputStride: n)
            }
        }
        var expected = [Double](repeating: 0, count: n)
        for j in 0..<n { for i in 0..<k { expected[j] += Double(x[i]) * Double(bKN[i * n + j]) } }
        assertClose(out, expected, tol: 1e-5)
    }
}
