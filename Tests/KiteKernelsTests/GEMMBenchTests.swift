import Dispatch
import Foundation
import XCTest
@testable import KiteKernels

/// GEMM with a residual, tiles panel-major vs rows-outer, with the residual and C evicted from the
/// caches before each call as in a network (single thread). Runs only with KITE_BENCH=1.
final class GEMMBenchTests: XCTestCase {
    func testResidualOrderBenchmark() throws {
        guard ProcessInfo.processInfo.environment["KITE_BENCH"] != nil else { throw XCTSkip("set KITE_BENCH=1") }
        var rng = SeededRNG(seed: 5)
        // (M, K, N): ResNeXt-50 and MobileNetV2 1x1 convolutions that add a residual.
        let shapes = [(3136, 128, 256), (784, 256, 512), (196, 512, 1024), (49, 1024, 2048),
                      (3136, 144, 24), (784, 192, 32), (196, 384, 64), (196, 576, 96), (49, 960, 160)]
        var flush = [Float](repeating: 1, count: 16 << 20)
        func evict() {
            flush.withUnsafeMutableBufferPointer { f in
                var i = 0
                while i < f.count { f[i] += 1; i += 16 }
            }
        }
        func time(_ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<15 {
                evict()
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            return best
        }
        for (m, k, n) in shapes {
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n), r = rng.floats(m * n)
            let packed = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: bias)
            var c = [Float](repeating: 0, count: m * n)
            var line = String(format: "M=%5d K=%4d N=%4d", m, k, n)
            a.withUnsafeBufferPointer { ap in
                r.withUnsafeBufferPointer { rp in
                    c.withUnsafeMutableBufferPointer { cp in
                        for rowsOuter in [false, true] {
                            gemmRowsOuter = rowsOuter
                            let ms = time {
                                GEMM.run(a: ap.baseAddress!, lda: k, weights: packed, c: cp.baseAddress!, ldc: n,
                                         residual: rp.baseAddress!, ldr: n, activation: .relu, rows: 0..<m)
                            }
                            line += String(format: "  %@ %6.3f ms %5.1f GF", rowsOuter ? "rows-outer" : "panels", ms,
                                           GEMM.flops(m: m, n: n, k: k) / ms / 1e6)
                        }
                        gemmRowsOuter = true
                    }
                }
            }
            print(line)
        }
    }

    /// GFLOP/s of single-thread GEMMs (ReLU, no residual) on `KITE_BENCH_GEMM` = "M,K,N;M,K,N"
    /// (default: network shapes), best of 15 calls with A in L2 and C evicted, as in a network.
    func testShapeBenchmark() throws {
        guard ProcessInfo.processInfo.environment["KITE_BENCH"] != nil else { throw XCTSkip("set KITE_BENCH=1") }
        var rng = SeededRNG(seed: 6)
        var shapes = [(12544, 16, 48), (12544, 32, 16), (3136, 24, 144), (3136, 24, 72), (784, 58, 58), (196, 80, 480)]
        if let only = ProcessInfo.processInfo.environment["KITE_BENCH_GEMM"] {
            shapes = only.split(separator: ";").map { s in
                let v = s.split(separator: ",").compactMap { Int($0) }
                return (v[0], v[1], v[2])
            }
        }
        var flush = [Float](repeating: 1, count: 16 << 20)
        var touched: Float = 0
        for (m, k, n) in shapes {
            let a = rng.floats(m * k), w = rng.floats(n * k), bias = rng.floats(n)
            let packed = PackedGEMMWeights(weights: w, outputChannels: n, inputChannels: k, bias: bias)
            var c = [Float](repeating: 0, count: m * n)
            var line = String(format: "M=%5d K=%4d N=%4d", m, k, n)
            for coldC in [false, true] {
                var best = Double.infinity
                a.withUnsafeBufferPointer { ap in
                    for _ in 0..<15 {
                        if coldC {
                            flush.withUnsafeMutableBufferPointer { f in
                                var i = 0
                                while i < f.count { f[i] += 1; i += 16 }
                            }
                            // A back in cache, as its producer just wrote it.
                            var s: Float = 0
                            for i in stride(from: 0, to: ap.count, by: 16) { s += ap[i] }
                            touched += s
                        }
                        c.withUnsafeMutableBufferPointer { cp in
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            GEMM.run(a: ap.baseAddress!, lda: k, weights: packed, c: cp.baseAddress!, ldc: n,
                                     activation: .relu, rows: 0..<m)
                            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                        }
                    }
                }
                line += String(format: "  %@ %6.4f ms %5.1f GF", coldC ? "cold C" : "warm", best, GEMM.flops(m: m, n: n, k: k) / best / 1e6)
            }
            print(line)
        }
        print(String(format: "(sum of A read back: %g)", touched))
    }
}
