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
}
