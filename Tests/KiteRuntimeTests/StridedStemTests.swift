import KiteCore
@testable import KiteRuntime
import enum KiteKernels.CPUFeatures
import XCTest

/// 7x7 stride-2 stems (ResNeXt-50's, IGCv1's) run on the stem tiles over 3-channel pixels, and as
/// Winograd over stride-2 patches over 4-channel ones with the 8-lane kernels; both give what the
/// reference executor gives at 1 and 2 threads, batched too.
final class StridedStemTests: XCTestCase {
    /// The kernel a 7x7 stride-2 stem over `channels` input channels runs on (`pooled`: with its
    /// max pool in the same step), nil where it is the general im2col GEMM.
    static func stemKernel(channels: Int, pooled: Bool) -> String? {
        let kernel = channels == 3 ? "stem-direct" : CPUFeatures.avx512 ? nil : "winograd-polyphase"
        return kernel.map { pooled ? $0 + "+maxpool" : $0 }
    }

    func testSevenBySevenStems() throws {
        for (input, out) in [([1, 3, 37, 30], 16), ([2, 3, 20, 21], 24), ([1, 4, 19, 40], 8), ([1, 4, 23, 31], 20)] {
            var b = ChannelMapTests.Builder(input: input)
            let stem = try b.conv("x", out: out, kernel: 7, stride: 2, activation: .relu)
            let pool = try b.add(.pool(Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [stem])[0]
            b.output(pool, stem)
            var rng = ChannelMapTests.Builder(input: input)
            rng.state = 7
            let x = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
            let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
            for threads in [1, 2] {
                let exec = try Executor(graph: b.graph, threads: threads)
                if let kernel = Self.stemKernel(channels: input[1], pooled: false) {
                    XCTAssertEqual(exec.steps.filter { $0.kernel == kernel }.count, 1, "\(input)")
                }
                let got = try exec.run(["x": x])
                for (name, w) in want {
                    let g = try XCTUnwrap(got[name])
                    XCTAssertEqual(g.shape, w.shape)
                    let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
                    let scale = max(1, w.floats.map { abs($0) }.max() ?? 0)
                    XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(name) of \(input) at \(threads) threads")
                }
            }
        }
    }

    /// A stem read only by a max pool, above the streaming threshold: computed band by band
    /// inside the pool's step, never stored whole.
    func testSevenBySevenStemPooledAsItsRowsAreComputed() throws {
        for input in [[1, 3, 61, 50], [2, 3, 34, 27], [1, 4, 45, 38]] {
            guard let kernel = Self.stemKernel(channels: input[1], pooled: true) else { continue }
            var b = ChannelMapTests.Builder(input: input)
            let stem = try b.conv("x", out: 16, kernel: 7, stride: 2, activation: .relu)
            let pool = try b.add(.pool(Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [stem])[0]
            let y = try b.conv(pool, out: 8, activation: .relu)
            b.output(y)
            var rng = ChannelMapTests.Builder(input: input)
            rng.state = 9
            let x = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
            let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
            // The stem's output has no place in the arena.
            XCTAssertLessThan(try Executor(graph: b.graph, threads: 1, streamingThreshold: 0).arenaBytes,
                              try Executor(graph: b.graph, threads: 1).arenaBytes, "\(input)")
            for threads in [1, 2] {
                let exec = try Executor(graph: b.graph, threads: threads, streamingThreshold: 0)
                XCTAssertEqual(exec.steps.filter { $0.kernel == kernel }.count, 1, "\(input)")
                let got = try exec.run(["x": x])
                let g = try XCTUnwrap(got[y]), w = try XCTUnwrap(want[y])
                XCTAssertEqual(g.shape, w.shape)
                let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
                let scale = max(1, w.floats.map { abs($0) }.max() ?? 0)
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(input) at \(threads) threads")
            }
        }
    }
}
