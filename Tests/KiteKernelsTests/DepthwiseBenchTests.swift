import Dispatch
import Foundation
import XCTest
@testable import KiteKernels

/// Depthwise throughput on network shapes (single thread, warm caches). Runs only with KITE_BENCH=1.
final class DepthwiseBenchTests: XCTestCase {
    func testBenchmark() throws {
        guard ProcessInfo.processInfo.environment["KITE_BENCH"] != nil else { throw XCTSkip("set KITE_BENCH=1") }
        var rng = SeededRNG(seed: 3)
        // (H = W, C, kernel, stride)
        var shapes = [(112, 32, 3, 1), (112, 96, 3, 2), (56, 144, 3, 1), (56, 144, 3, 2), (28, 192, 3, 1),
                      (14, 384, 3, 1), (14, 576, 3, 1), (7, 960, 3, 1), (14, 240, 5, 1), (7, 576, 5, 1), (28, 72, 5, 2), (56, 72, 5, 2), (56, 72, 3, 1)]
        if let only = ProcessInfo.processInfo.environment["KITE_BENCH_SHAPE"] {
            let v = only.split(separator: ",").compactMap { Int($0) }
            if v.count == 4 { shapes = [(v[0], v[1], v[2], v[3])] }
        }
        func time(_ body: () -> Void) -> Double {
            body()
            var best = Double.infinity
            let start = DispatchTime.now().uptimeNanoseconds
            var reps = 0
            repeat {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                reps += 1
            } while reps < 5 || (DispatchTime.now().uptimeNanoseconds - start < 300_000_000 && reps < 1000)
            return best
        }
        for (hw, c, k, s) in shapes {
            let g = ConvGeometry(inputHeight: hw, inputWidth: hw, kernelHeight: k, kernelWidth: k,
                                 strideHeight: s, strideWidth: s, padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2)
            let input = rng.floats(hw * hw * c), w = rng.floats(c * k * k), bias = rng.floats(c)
            let packed = PackedDepthwiseWeights(weights: w, channels: c, kernelHeight: k, kernelWidth: k, bias: bias)
            var out = [Float](repeating: 0, count: g.outputHeight * g.outputWidth * c)
            var copy = [Float](repeating: 0, count: input.count)
            var line = String(format: "%3dx%-3d C=%4d k%d s%d", hw, hw, c, k, s)
            input.withUnsafeBufferPointer { ip in
                out.withUnsafeMutableBufferPointer { op in
                    copy.withUnsafeMutableBufferPointer { cp in
                        let flops = 2.0 * Double(g.outputHeight * g.outputWidth * c * k * k)
                        for budget in [0, 16 * 1024, 32 * 1024, 256 * 1024] {
                            depthwiseTileBytes = budget
                            depthwiseSmallTileBytes = budget
                            let ms = time {
                                DepthwiseConv.run(input: ip.baseAddress!, inputPixelStride: c, geometry: g, weights: packed,
                                                  output: op.baseAddress!, outputPixelStride: c, activation: .relu6)
                            }
                            line += String(format: " | %dK %6.3f ms %4.1f GF", budget >> 10, ms, flops / ms / 1e6)
                        }
                        depthwiseTileBytes = 256 * 1024
                        depthwiseSmallTileBytes = 16 * 1024
                        let chosen = time {
                            DepthwiseConv.run(input: ip.baseAddress!, inputPixelStride: c, geometry: g, weights: packed,
                                              output: op.baseAddress!, outputPixelStride: c, activation: .relu6)
                        }
                        line += String(format: " | default %6.3f ms", chosen)
                        let copyMs = time { cp.baseAddress!.update(from: ip.baseAddress!, count: input.count) }
                        line += String(format: " (copy %6.3f ms)", copyMs)
                        if s == 2 {
                            let savedRows = depthwiseStride2BandRows
                            defer { depthwiseStride2BandRows = savedRows }
                            for rows in [4, 8] {
                                depthwiseStride2BandRows = rows
                                let ms = time {
                                    DepthwiseConv.run(input: ip.baseAddress!, inputPixelStride: c, geometry: g, weights: packed,
                                                      output: op.baseAddress!, outputPixelStride: c, activation: .relu6)
                                }
                                line += String(format: " | s2 bands of %d rows %6.3f ms", rows, ms)
                            }
                        }
                    }
                }
            }
            print(line)
        }
    }
}
