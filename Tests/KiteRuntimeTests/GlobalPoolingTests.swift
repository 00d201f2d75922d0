import KiteCore
@testable import KiteRuntime
import XCTest

/// Global pooling split across threads by pixels (partial sums or maxima the caller combines) on
/// maps of many pixels, and on one thread on small maps; against sums in Double.
final class GlobalPoolingTests: XCTestCase {
    func graph(kind: PoolKind, shape: [Int]) throws -> NativeGraph {
        let op = Op.globalPool(GlobalPooling(kind: kind))
        let out = try op.nativeOperator.inferShapes([shape])[0]
        return NativeGraph(inputs: [ValueInfo(name: "x", shape: shape)], outputs: [ValueInfo(name: "y", shape: out)],
                           nodes: [NativeNode(name: "pool", op: op, inputs: ["x"], outputs: ["y"])],
                           shapes: ["x": shape, "y": out])
    }

    func testSplitsMatchDoubleSums() throws {
        var seed: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Float {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2001 - 1000) / 500
        }
        // [2, 50, 20, 20]: 400 pixels, split by pixels at 2 and 3 threads; [1, 400, 7, 7] (a 7x7
        // map), [1, 37, 9, 9] and [1, 3, 5, 5]: one thread.
        for shape in [[2, 50, 20, 20], [1, 400, 7, 7], [1, 37, 9, 9], [1, 3, 5, 5]] {
            let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
            let x = Tensor(shape: shape, floats: (0..<(n * c * h * w)).map { _ in next() })
            for kind in [PoolKind.average, .max] {
                var want = [Float]()
                for b in 0..<n {
                    for ch in 0..<c {
                        let plane = x.floats[((b * c + ch) * h * w)..<((b * c + ch + 1) * h * w)]
                        want.append(kind == .max ? plane.max()! : Float(plane.reduce(0.0) { $0 + Double($1) } / Double(h * w)))
                    }
                }
                for threads in [1, 2, 3] {
                    let y = try Executor(graph: graph(kind: kind, shape: shape), threads: threads).run(["x": x])["y"]
                    XCTAssertEqual(y?.shape, [n, c, 1, 1])
                    let got = y?.floats ?? []
                    XCTAssertEqual(got.count, want.count)
                    for (g, e) in zip(got, want) {
                        XCTAssertEqual(g, e, accuracy: kind == .max ? 0 : 1e-5, "\(shape) \(kind) \(threads) threads")
                    }
                }
            }
        }
    }
}

/// Squeeze-excite's 1x1 convolutions over the pooled 1x1 map run as matrix-vector products
/// (`planPointwiseAsGEMV`): against the reference executor at 1 and 2 threads, batches of 1 and
/// 3, channel counts that are not multiples of 4 or 16, and sizes large enough to split.
final class SqueezeExciteGEMVTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testOnePixelConvolutionsMatchTheReference() throws {
        for (batch, channels, squeezed) in [(1, 37, 13), (3, 72, 24), (1, 960, 240), (2, 200, 50)] {
            let input = [batch, channels, 9, 7]
            var b = Builder(input: input)
            let pooled = try b.add(.globalPool(GlobalPooling(kind: .average)), ["x"])[0]
            let s = try b.conv(pooled, out: squeezed, activation: .relu)
            let e = try b.conv(s, out: channels, activation: .hardSigmoid(alpha: 1 / 6, beta: 0.5))
            b.output(e)
            try assertMatchesReference(b, input: input, seed: 3) { exec in
                XCTAssertEqual(exec.steps.filter { $0.kernel == "fc-gemv" }.count, 2, "\(input): \(exec.steps.map(\.kernel))")
            }
        }
    }
}
