import KiteCore
import KiteKernels
@testable import KiteRuntime
import XCTest

/// A pointwise expansion streamed into the depthwise convolution that reads it must equal the
/// reference executor: strides 1 and 2, 3x3 and 5x5, asymmetric padding, odd sizes, 1-2 threads,
/// and with the expansion reading a folded shuffle.
final class PointwiseDepthwiseTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func run(_ b: Builder, input: [Int], fused: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try assertMatchesReference(b, input: input, seed: 7, streamingThreshold: 384 * 1024, file: file, line: line) { exec in
            XCTAssertEqual(exec.steps.filter { $0.kernel.contains("+") }.count, fused, "fused steps", file: file, line: line)
            XCTAssertTrue(exec.steps.allSatisfy { $0.kernel != "reference" }, file: file, line: line)
        }
    }

    func depthwise(_ b: inout Builder, _ x: String, kernel: Int, stride: Int, pads: [Int], activation: Activation?) throws -> String {
        try b.depthwise(x, kernel: kernel, stride: stride, pads: pads, activation: activation)
    }

    func testStrideOneAndTwo() throws {
        for (kernel, stride, pads) in [(3, 1, [1, 1, 1, 1]), (3, 2, [1, 1, 1, 1]), (5, 2, [2, 2, 2, 2]), (3, 2, [0, 0, 1, 1]), (5, 1, [1, 2, 2, 1])] {
            var b = Builder(input: [1, 13, 37, 29])
            let e = try b.conv("x", out: 100, activation: .clip(min: 0, max: 6))
            let d = try depthwise(&b, e, kernel: kernel, stride: stride, pads: pads, activation: .relu)
            let y = try b.conv(d, out: 11)
            b.output(y)
            try run(b, input: [1, 13, 37, 29], fused: 1)
        }
    }

    /// MobileNetV1/V2 style: depthwise into its projection, with a residual, with and without an expansion.
    func testDepthwiseIntoProjection() throws {
        for (expand, stride) in [(false, 1), (true, 1), (false, 2)] {
            var b = Builder(input: [1, 72, 45, 33])
            let e = expand ? try b.conv("x", out: 72, activation: .hardSwish) : "x"
            let d = try depthwise(&b, e, kernel: 3, stride: stride, pads: [1, 1, 1, 1], activation: .clip(min: 0, max: 6))
            let y = stride == 1 ? try b.conv(d, out: 72, residual: "x", activation: .relu) : try b.conv(d, out: 40)
            let z = try depthwise(&b, y, kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: nil)
            let w = try b.conv(z, out: 72)
            b.output(w)
            // Stride 2 leaves a depthwise output too small to stream; the second pair streams when large enough.
            try run(b, input: [1, 72, 45, 33], fused: stride == 1 ? 2 : 0)
        }
    }

    /// Plain depthwise layers whose input is larger than L2 (2.1-2.3 MB here), which read in place
    /// and prefetch ahead (`DepthwiseConv.run`'s `fromMemory`): 128, 200 and 728 channels at
    /// stride 1, 64 at stride 2, 1 and 2 threads.
    func testDepthwiseInputsLargerThanL2() throws {
        for (input, stride) in [([1, 128, 64, 66], 1), ([1, 200, 48, 60], 1), ([1, 728, 19, 41], 1), ([1, 64, 91, 93], 2)] {
            var b = Builder(input: input)
            let d = try depthwise(&b, "x", kernel: 3, stride: stride, pads: [1, 1, 1, 1], activation: .clip(min: 0, max: 6))
            b.output(d)
            try run(b, input: input, fused: 0)
        }
    }

    /// MobileNetV1's first blocks: a depthwise, a 1x1 that widens, a stride-2 depthwise. The 1x1
    /// streams into the depthwise after it, not into the one before.
    func testWideningPointwiseJoinsTheDepthwiseAfterIt() throws {
        var b = Builder(input: [1, 32, 56, 56])
        let d0 = try depthwise(&b, "x", kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: .clip(min: 0, max: 6))
        let p0 = try b.conv(d0, out: 64, activation: .clip(min: 0, max: 6))
        let d1 = try depthwise(&b, p0, kernel: 3, stride: 2, pads: [1, 1, 1, 1], activation: .relu)
        let y = try b.conv(d1, out: 40)
        b.output(y)
        try run(b, input: [1, 32, 56, 56], fused: 1)
        let exec = try Executor(graph: b.graph, threads: 1, streamingThreshold: 384 * 1024)
        XCTAssertEqual(exec.steps.map(\.kernel).filter { $0.contains("+") }, ["pointwise+depthwise3x3-s2"])
    }

    /// Xception's entry blocks: a depthwise and its projection streamed, read only by a max pool,
    /// which pools the projection's rows band by band in the same step. With and without an
    /// expansion, 3x3 stride-2 windows (padded and not), 2x2 and stride-1 windows, odd sizes.
    func testMaxPoolAfterAStreamedProjection() throws {
        let pools: [(kernel: Int, stride: Int, pads: [Int])] = [(3, 2, [1, 1, 1, 1]), (3, 2, [0, 0, 1, 1]), (2, 2, [0, 0, 0, 0]), (3, 1, [1, 1, 1, 1])]
        for (expand, pool) in [(true, pools[0]), (false, pools[0]), (true, pools[1]), (true, pools[2]), (false, pools[3])] {
            var b = Builder(input: [1, 40, 47, 45])
            let e = expand ? try b.conv("x", out: 72, activation: .relu) : "x"
            let d = try depthwise(&b, e, kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: nil)
            let y = try b.conv(d, out: 56)
            let p = try b.add(.pool(Pooling(kind: .max, kernel: [pool.kernel, pool.kernel], strides: [pool.stride, pool.stride],
                                            pads: pool.pads)), [y])[0]
            let z = try b.conv(p, out: 16, activation: .relu)
            b.output(z)
            try assertMatchesReference(b, input: [1, 40, 47, 45], seed: 11, streamingThreshold: 256 * 1024) { exec in
                XCTAssertEqual(exec.steps.filter { $0.kernel.hasSuffix("pointwise+maxpool") }.count, 1, "\(expand) \(pool)")
            }
        }
    }

    /// Small expansions stay separate (they fit in L2 already).
    func testSmallExpansionIsNotFused() throws {
        var b = Builder(input: [1, 8, 9, 9])
        let e = try b.conv("x", out: 24)
        let d = try depthwise(&b, e, kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: nil)
        b.output(d)
        try run(b, input: [1, 8, 9, 9], fused: 0)
    }

    /// IGCv3's blocks: a grouped 1x1 expansion, a channel shuffle, a depthwise filter, a grouped
    /// projection reading through the shuffle the filter's output keeps. The expansion streams
    /// into the filter with the shuffle folded into its channel order, for each grouped kernel
    /// (one GEMM per group, 8-channel group pairs, rotated-lane groups of 4), strides 1 and 2,
    /// and an expansion that itself reads a folded shuffle.
    func testGroupedExpansionThroughShuffle() throws {
        let cases: [(cin: Int, expanded: Int, groups: Int, stride: Int, shuffledInput: Bool, kernel: String)] = [
            (16, 96, 2, 2, false, "group-gemm"), (24, 72, 2, 1, true, "group-gemm"),
            (16, 32, 4, 1, false, "group-pairs"), (32, 32, 8, 2, false, "group-direct"),
        ]
        for t in cases {
            var b = Builder(input: [1, t.cin, 37, 29])
            let x = t.shuffledInput ? try b.shuffle("x", groups: 3) : "x"
            let e = try b.conv(x, out: t.expanded, groups: t.groups, activation: .clip(min: 0, max: 6))
            let s = try b.shuffle(e, groups: t.groups)
            let d = try depthwise(&b, s, kernel: 3, stride: t.stride, pads: [1, 1, 1, 1], activation: .clip(min: 0, max: 6))
            let y = try b.conv(d, out: 24, groups: 2)
            b.output(try b.shuffle(y, groups: 12))
            let bytes = t.expanded * 37 * 29 * 4
            try assertMatchesReference(b, input: [1, t.cin, 37, 29], seed: 5, streamingThreshold: bytes / 3) { exec in
                let fused = exec.steps.filter { $0.kernel.contains("+") }
                XCTAssertEqual(fused.map(\.kernel), ["group-pointwise+depthwise3x3" + (t.stride == 2 ? "-s2" : "")], "\(t)")
                XCTAssertEqual(fused.first?.absorbedNodes.count, 2, "the expansion and the shuffle, \(t)")
                XCTAssertTrue(exec.steps.allSatisfy { $0.kernel != "reference" && $0.kernel != "channel-gather" }, "\(t)")
            }
            // Below twice the threshold the expansion is planned on its own.
            try assertMatchesReference(b, input: [1, t.cin, 37, 29], seed: 5, streamingThreshold: bytes / 2) { exec in
                XCTAssertFalse(exec.steps.contains { $0.kernel.contains("+") }, "\(t)")
                XCTAssertTrue(exec.steps.contains { $0.kernel == t.kernel }, "\(t): \(exec.steps.map(\.kernel))")
            }
        }
    }

    /// ShuffleNetV2's branch: split half of a shuffled concat, pointwise, depthwise.
    func testExpansionReadingAFoldedShuffle() throws {
        var b = Builder(input: [1, 24, 40, 40])
        let s = try b.shuffle("x", groups: 2)
        let halves = try b.add(.split(Split(axis: 1, sizes: [12, 12])), [s])
        let e = try b.conv(halves[1], out: 72, activation: .relu)
        let d = try depthwise(&b, e, kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: nil)
        let out = try b.add(.concat(Concat(axis: 1)), [halves[0], d])[0]
        b.output(out)
        try run(b, input: [1, 24, 40, 40], fused: 1)
    }
}

/// IGCv2's blocks: a depthwise filter, a grouped 1x1 layer reading it through a shuffle, a shuffle
/// with G groups, and a grouped 1x1 layer of groups of G (the transposed-group kernel), then the
/// inverse shuffle. Above the threshold the two 1x1 layers run as one step; below, apart. Both
/// must equal the reference executor at 1 and 2 threads, for 8-channel group pairs and one GEMM
/// per group as the first layer, groups of 8, 4 and 2 as the second, with a batch of 2 too.
final class GroupedPairTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testGroupedPairsAroundAShuffle() throws {
        // The first layer doubles the channels, as IGCv2's do (equal counts would make it a
        // transposed-group layer itself).
        let cases: [(channels: Int, firstGroups: Int, size: Int, batch: Int, first: String)] = [
            (64, 8, 8, 1, "group-pairs"), (128, 8, 8, 1, "group-gemm"), (96, 4, 4, 2, "group-gemm"), (48, 2, 2, 1, "group-gemm"),
        ]
        for t in cases {
            let input = [t.batch, t.channels / 2, 19, 27]
            var b = Builder(input: input)
            let d = try b.depthwise("x", kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: .relu)
            let s = try b.shuffle(d, groups: t.firstGroups)
            let e = try b.conv(s, out: t.channels, groups: t.firstGroups, activation: .clip(min: 0, max: 6))
            let q = t.channels / t.size
            let m = try b.shuffle(e, groups: t.size)
            let y = try b.conv(m, out: t.channels, groups: q)
            let r = try b.shuffle(y, groups: q)
            b.output(try b.depthwise(r, kernel: 3, stride: 2, pads: [1, 1, 1, 1], activation: nil))
            let bytes = t.channels * 19 * 27 * 4
            for (threshold, fused) in [(bytes - 1, true), (bytes, false)] {
                var rng = Builder(input: input)
                rng.state = 9
                let x = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
                let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
                for threads in [1, 2] {
                    let exec = try Executor(graph: b.graph, threads: threads, streamingThreshold: Planner.streamingThresholdBytes,
                                            groupedPairThreshold: threshold)
                    let kernels = exec.steps.map(\.kernel)
                    XCTAssertEqual(kernels.contains(t.first + "+group-transposed"), fused, "\(t) \(threshold): \(kernels)")
                    XCTAssertEqual(kernels.contains("group-transposed"), !fused, "\(t) \(threshold): \(kernels)")
                    XCTAssertFalse(kernels.contains { $0 == "reference" || $0 == "channel-gather" || $0 == "channel-permute" }, "\(kernels)")
                    let got = try exec.run(["x": x])
                    for (name, w) in want {
                        let g = try XCTUnwrap(got[name])
                        XCTAssertEqual(g.shape, w.shape)
                        let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
                        XCTAssertLessThanOrEqual(worst, 1e-4 * max(1, w.floats.map { abs($0) }.max() ?? 0), "\(t) at \(threads) threads")
                    }
                }
            }
        }
    }
}

/// Random IGC-style blocks (seeded): a depthwise filter or a grouped expansion, shuffles, grouped
/// 1x1 layers with and without the transposed order, residual adds of shuffled values, at random
/// sizes, strides and thresholds, 1 and 2 threads, each against the reference executor. Whatever
/// the planner fuses, the outputs must not change.
final class RandomShuffleBlockTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testRandomBlocks() throws {
        var seed: UInt64 = 0x5EED
        func pick(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        var fusedKinds = Set<String>()
        for _ in 0..<24 {
            let size = [2, 4, 8][pick(3)]            // channels per group of the transposed layer
            let q = [8, 12][pick(2)]                 // its groups
            let channels = size * q
            let firstGroups = [2, 4][pick(2)]
            let h = 9 + pick(12), w = 9 + pick(14)
            let input = [1, channels / 2, h, w]
            var b = Builder(input: input)
            let stride = 1 + pick(2)
            let d = try b.depthwise("x", kernel: 3, stride: stride, pads: [1, 1, 1, 1], activation: pick(2) == 0 ? .relu : nil)
            let e = try b.conv(try b.shuffle(d, groups: firstGroups), out: channels, groups: firstGroups, activation: .clip(min: 0, max: 6))
            let y = try b.conv(try b.shuffle(e, groups: size), out: channels, groups: q)
            let r = try b.shuffle(y, groups: q)
            // An expansion through a shuffle into a depthwise filter (IGCv3), and a residual add of
            // two values shuffled alike.
            let x2 = try b.conv(r, out: 2 * channels, groups: 2, activation: .relu)
            let d2 = try b.depthwise(try b.shuffle(x2, groups: 2), kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: nil)
            let p = try b.conv(d2, out: channels, groups: 2)
            let sum = try b.add(.binary(Binary(kind: .add)), [try b.shuffle(p, groups: 2), try b.shuffle(r, groups: 2)])[0]
            // IGCv2's next block: a filter over the transposed-order output, whose shuffle undoes
            // that order, a widening grouped 1x1 and a transposed-group layer.
            let d3 = try b.depthwise(y, kernel: 3, stride: 1 + pick(2), pads: [1, 1, 1, 1], activation: .relu)
            let e3 = try b.conv(try b.shuffle(d3, groups: q), out: 2 * channels, groups: firstGroups, activation: .relu)
            let y3 = try b.conv(try b.shuffle(e3, groups: size), out: 2 * channels, groups: 2 * q)
            b.output(sum, try b.shuffle(y3, groups: 2 * q))
            let oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1
            // The pair fused, or not; the expansion streamed, or not.
            let threshold = [oh * ow * channels, 3 * oh * ow * channels, 1 << 30][pick(3)]
            var rng = Builder(input: input)
            rng.state = UInt64(pick(1000))
            let xv = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
            let want = try ReferenceExecutor.run(b.graph, inputs: ["x": xv])
            for threads in [1, 2] {
                let exec = try Executor(graph: b.graph, threads: threads, streamingThreshold: threshold / 3,
                                        groupedPairThreshold: threshold)
                fusedKinds.formUnion(exec.steps.map(\.kernel).filter { $0.contains("+") })
                XCTAssertFalse(exec.steps.contains { $0.kernel == "reference" })
                let got = try exec.run(["x": xv])
                for (name, wv) in want {
                    let g = try XCTUnwrap(got[name])
                    let worst = zip(g.floats, wv.floats).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 1e-4 * max(1, wv.floats.map { abs($0) }.max() ?? 0),
                                             "\(input) stride \(stride) groups \(firstGroups)/\(q) threshold \(threshold) at \(threads) threads")
                }
            }
        }
        // The seeds reach every fused path.
        XCTAssertTrue(fusedKinds.contains { $0.hasPrefix("group-") && $0.hasSuffix("+group-transposed") }, "\(fusedKinds)")
        XCTAssertTrue(fusedKinds.contains("group-pointwise+depthwise3x3"), "\(fusedKinds)")
    }
}

/// Depthwise convolutions on small padded maps with filters the tiled kernel does not take (7x7)
/// run over a zero-padded copy of the input; tiled 3x3 and 5x5 ones zero-fill borders themselves.
final class DepthwiseSmallMapTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testPaddedSmallMapsAndChannelSlices() throws {
        var b = Builder(input: [1, 40, 11, 11])
        let halves = try b.add(.split(Split(axis: 1, sizes: [24, 16])), ["x"])
        let d0 = try b.depthwise(halves[1], kernel: 7, stride: 1, pads: [3, 3, 3, 3], activation: .hardSwish)
        let d1 = try b.depthwise(halves[0], kernel: 3, stride: 2, pads: [1, 1, 1, 1], activation: .relu)
        let d2 = try b.depthwise(d0, kernel: 3, stride: 1, pads: [0, 1, 2, 1], activation: nil)
        let d3 = try b.depthwise(halves[0], kernel: 5, stride: 1, pads: [2, 2, 2, 2], activation: .clip(min: 0, max: 6))
        b.output(d1, d2, d3)
        var rng = Builder(input: [1, 40, 11, 11])
        rng.state = 3
        let x = Tensor(shape: [1, 40, 11, 11], floats: rng.floats(40 * 121))
        let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
        for threads in [1, 2] {
            let exec = try Executor(graph: b.graph, threads: threads)
            // Only the 7x7 filter takes the padded copy.
            XCTAssertEqual(exec.steps.filter { $0.reason.contains("zero-padded") }.count, 1)
            let got = try exec.run(["x": x])
            for (name, w) in want {
                let g = try XCTUnwrap(got[name])
                XCTAssertEqual(g.shape, w.shape)
                let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(name) at \(threads) threads")
            }
        }
    }
}

extension ChannelMapTests.Builder {
    mutating func depthwise(_ x: String, kernel: Int, stride: Int, pads: [Int], activation: Activation?) throws -> String {
        let c = graph.shapes[x]![1]
        let w = Tensor(shape: [c, 1, kernel, kernel], floats: floats(c * kernel * kernel))
        let conv = Convolution(weight: w, bias: floats(c), groups: c, strides: [stride, stride], pads: pads,
                               dilations: [1, 1], activation: activation)
        return try add(.conv(conv), [x])[0]
    }
}

/// Strided 1x1 convolutions (ResNet downsampling) gather their pixels and run one GEMM.
final class StridedPointwiseTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testStridedPointwiseWithResidual() throws {
        for (h, w, stride) in [(13, 11, 2), (9, 14, 3), (7, 7, 2)] {
            var b = Builder(input: [1, 37, h, w])
            let oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1
            let wt = Tensor(shape: [21, 37, 1, 1], floats: b.floats(21 * 37))
            let branch = try b.conv("x", out: 21, kernel: 3, stride: stride)
            XCTAssertEqual(b.graph.shapes[branch], [1, 21, oh, ow])
            let conv = Convolution(weight: wt, bias: b.floats(21), groups: 1, strides: [stride, stride], pads: [0, 0, 0, 0],
                                   dilations: [1, 1], activation: .relu, residual: true)
            let y = try b.add(.conv(conv), ["x", branch])[0]
            b.output(y)
            var rng = Builder(input: [1, 37, h, w])
            rng.state = 11
            let x = Tensor(shape: [1, 37, h, w], floats: rng.floats(37 * h * w))
            let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
            for threads in [1, 2] {
                let exec = try Executor(graph: b.graph, threads: threads)
                XCTAssertEqual(exec.steps.filter { $0.kernel == "gather-gemm" }.count, 1)
                let got = try exec.run(["x": x])
                let g = try XCTUnwrap(got[y]), e = try XCTUnwrap(want[y])
                XCTAssertEqual(g.shape, e.shape)
                let worst = zip(g.floats, e.floats).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-4, "\(h)x\(w) stride \(stride) at \(threads) threads")
            }
        }
    }
}

/// Pointwise GEMMs on 7x7 maps split across threads by rows when their weights fit L2, else by
/// output panels; both splits must equal the reference executor.
final class SmallMapGEMMSplitTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testSplitChoice() {
        let l2 = CacheSizes.level2OrDefault
        XCTAssertTrue(splitsRows(m: 49, weightBytes: 4 * 576 * 96, panels: 6, threads: 2), "7x7, small weights: rows")
        XCTAssertFalse(splitsRows(m: 49, weightBytes: l2 + 4, panels: 128, threads: 2), "7x7, weights beyond L2: panels")
        XCTAssertTrue(splitsRows(m: 3136, weightBytes: 4 * l2, panels: 128, threads: 2), "large maps: rows")
        XCTAssertFalse(splitsRows(m: 9, weightBytes: 4 * 64 * 64, panels: 4, threads: 2), "3x3 maps: panels")
        XCTAssertTrue(splitsRows(m: 9, weightBytes: 4 * 64 * 16, panels: 1, threads: 2), "one panel: rows")
    }

    func testSmallMapsAtTwoThreads() throws {
        let l2 = CacheSizes.level2OrDefault
        // K x N beyond L2 for the last layer: 4 * 720 * wide floats.
        let wide = (l2 / (4 * 720) / 16 + 2) * 16
        var b = Builder(input: [1, 120, 7, 7])
        let e = try b.conv("x", out: 720, activation: .hardSwish)
        let p = try b.conv(e, out: 120, residual: "x", activation: nil)
        let q = try b.conv(p, out: 720, activation: .relu)
        let y = try b.conv(q, out: wide)
        b.output(y)
        try assertMatchesReference(b, input: [1, 120, 7, 7], seed: 5)
    }

    /// A 7x7 expansion whose weights take a quarter of L2 or more, read only by a stride-1
    /// depthwise layer (which splits by channel blocks), splits by output panels; smaller weights,
    /// a strided depthwise layer or a second reader keep the row split. Outputs match the
    /// reference at 1 and 2 threads.
    func testExpansionSplitsByPanelsForTheDepthwiseAfterIt() throws {
        let l2 = CacheSizes.level2OrDefault
        let wide = (l2 / (4 * 4 * 96) / 16 + 1) * 16
        for (out, kernel, stride, secondReader, panels) in [(wide, 5, 1, false, true), (wide, 3, 1, false, true), (wide + 8, 3, 1, false, true),
                                                            (64, 5, 1, false, false), (wide, 3, 2, false, false), (wide, 3, 1, true, false)] {
            var b = Builder(input: [1, 96, 7, 7])
            let e = try b.conv("x", out: out, activation: .relu)
            let d = try b.depthwise(e, kernel: kernel, stride: stride, pads: [kernel / 2, kernel / 2, kernel / 2, kernel / 2], activation: nil)
            let y = try b.conv(d, out: 40)
            b.output(y)
            if secondReader { b.output(try b.conv(e, out: 8)) }
            try assertMatchesReference(b, input: [1, 96, 7, 7], seed: 9) { exec in
                let expansion = exec.steps.first { $0.kernel == GEMM.kernelName }
                XCTAssertEqual(expansion?.reason.contains("output panels"), panels, "C=\(out) \(kernel)x\(kernel) s\(stride) second reader: \(secondReader)")
            }
        }
    }
}

/// Squeeze-excite layers (1x1 maps, matrix-vector products): those with little work run on the
/// calling thread, larger ones split; outputs match the reference at 1 and 2 threads.
final class SerialGEMMTests: XCTestCase {
    func testTinyGEMMsRunOnOneThread() throws {
        var b = ChannelMapTests.Builder(input: [1, 96, 1, 1])
        let s = try b.conv("x", out: 24, activation: .relu)
        let e = try b.conv(s, out: 96, activation: .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        let w = try b.conv(e, out: 256)
        b.output(w)
        try assertMatchesReference(b, input: [1, 96, 1, 1], seed: 11) { exec in
            let reasons = exec.steps.filter { $0.kernel == "fc-gemv" }.map { $0.reason.contains("on one thread") }
            XCTAssertEqual(reasons, [gemmSerialMACs > 2304, gemmSerialMACs > 2304, gemmSerialMACs > 96 * 256])
        }
    }
}

/// Runs `b`'s graph at 1 and 2 threads on seeded random input and compares every output with the
/// reference executor (relative to the output's largest magnitude); `inspect` sees each executor
/// before it runs.
func assertMatchesReference(_ b: ChannelMapTests.Builder, input: [Int], seed: UInt64,
                            streamingThreshold: Int = Planner.streamingThresholdBytes,
                            file: StaticString = #filePath, line: UInt = #line, inspect: (Executor) -> Void = { _ in }) throws {
    var rng = ChannelMapTests.Builder(input: input)
    rng.state = seed
    let x = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
    let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
    for threads in [1, 2] {
        let exec = try Executor(graph: b.graph, threads: threads, streamingThreshold: streamingThreshold)
        inspect(exec)
        let got = try exec.run(["x": x])
        for (name, w) in want {
            let g = try XCTUnwrap(got[name], file: file, line: line)
            XCTAssertEqual(g.shape, w.shape, file: file, line: line)
            let scale = max(1, w.floats.map { abs($0) }.max() ?? 0)
            let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(name) at \(threads) threads", file: file, line: line)
        }
    }
}

/// Grouped 3x3 convolutions with weights larger than half of L2 (IGCv1's 7x7 layers): two threads
/// split the groups instead of the rows, and the outputs equal the reference executor's.
final class GroupedUnitSplitTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testLargeGroupedWeightsSplitByGroups() throws {
        let groups = 4, perGroupIn = 64
        var perGroupOut = 64
        while 4 * 9 * perGroupIn * groups * perGroupOut <= CacheSizes.level2OrDefault / 2 { perGroupOut += 64 }
        // 7-wide outputs take the band kernel only with the AVX-512 tiles (im2col otherwise);
        // 14-wide ones at stride 2 take it at either width (at stride 1, Winograd does).
        for (size, stride) in [(7, 1), (13, 2), (27, 2)] {
            var b = Builder(input: [1, groups * perGroupIn, size, size])
            let y = try b.conv("x", out: groups * perGroupOut, kernel: 3, groups: groups, stride: stride, activation: .relu)
            b.output(y)
            let takesBands = CPUFeatures.avx512 || size > 13
            try assertMatchesReference(b, input: [1, groups * perGroupIn, size, size], seed: 11) { exec in
                let step = exec.steps.first { $0.kernel == "group-bands" }
                guard takesBands else { return XCTAssertNil(step, "\(size)x\(size)") }
                XCTAssertNotNil(step, "\(size)x\(size): \(exec.steps.map(\.kernel))")
                XCTAssertTrue(step?.reason.contains("threads split the groups") ?? false, step?.reason ?? "")
            }
        }
    }
}

/// NHWC pixel strides: padded to whole lines (72 -> 80), 128-multiples up to 512 channels one line
/// more so a channel block's lines spread over L1's sets; the padded buffers must compute as dense ones.
final class PixelStrideTests: XCTestCase {
    typealias Builder = ChannelMapTests.Builder

    func testStrides() {
        guard Planner.alignsPixels, Planner.padsPowerOfTwo else { return }
        XCTAssertEqual(Planner.alignedPixelStride(channels: 72, pixels: 3136), 80)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 128, pixels: 3136), 144)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 256, pixels: 784), 272)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 512, pixels: 49), 528)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 1024, pixels: 49), 1024)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 128, pixels: 1), 128)
        XCTAssertEqual(Planner.alignedPixelStride(channels: 128, pixels: 3136, spreadsSets: false), 128, "concat buffers stay dense")
    }

    func testPaddedPowerOfTwoChannels() throws {
        var b = Builder(input: [1, 40, 19, 21])
        let e = try b.conv("x", out: 128, activation: .relu)
        let d = try b.depthwise(e, kernel: 3, stride: 1, pads: [1, 1, 1, 1], activation: .clip(min: 0, max: 6))
        let p = try b.conv(d, out: 256)
        let s = try b.depthwise(p, kernel: 3, stride: 2, pads: [1, 1, 1, 1], activation: nil)
        let y = try b.conv(s, out: 24)
        b.output(y)
        try assertMatchesReference(b, input: [1, 40, 19, 21], seed: 9) { exec in
            guard Planner.padsPowerOfTwo else { return }
            XCTAssertEqual(exec.placements[e]?.pixelStride, 144)
            XCTAssertEqual(exec.placements[p]?.pixelStride, 272)
        }
    }
}

/// A dense 3-channel image copied into its NHWC placement by all threads (rows split as the first
/// layer splits them) must equal the copy made on one thread; other inputs keep the serial copy.
final class InputCopyTests: XCTestCase {
    func testSplitImageCopyMatchesTheSerialOne() {
        let pool = WorkerPool(threadCount: 2)
        for (h, w, channels) in [(131, 127, 3), (224, 224, 3), (129, 130, 4), (3, 9000, 3)] {
            var rng = ChannelMapTests.Builder(input: [1, channels, h, w])
            let values = rng.floats(channels * h * w)
            let p = Placement.dense(buffer: 0, shape: [1, channels, h, w])
            var serial = [Float](repeating: -1, count: p.bufferElements + 5)
            var split = serial
            values.withUnsafeBufferPointer { v in
                serial.withUnsafeMutableBufferPointer { LayoutCopy.write(v, to: p, base: $0.baseAddress!) }
                split.withUnsafeMutableBufferPointer { LayoutCopy.write(v, to: p, base: $0.baseAddress!, pool: pool) }
            }
            XCTAssertEqual(split, serial, "\(channels)x\(h)x\(w)")
            // NHWC: pixel (y, x) channel c at (y * W + x) * C + c.
            XCTAssertEqual(split[((h - 1) * w + 2) * channels + 1], values[(1 * h + h - 1) * w + 2])
            XCTAssertEqual(split[p.bufferElements], -1, "nothing written past the value")
        }
    }
}

/// GEMMs whose weights stream from memory (more than eight L2s) split by output panels at 2
/// threads however many rows they have (Xception's 10x10 layers); smaller weights keep the row
/// split on maps of 48 rows a thread and more. Outputs match the reference.
final class PanelSplitTests: XCTestCase {
    func testLargeWeightsSplitByPanels() throws {
        let l2 = CacheSizes.level2OrDefault
        XCTAssertFalse(splitsRows(m: 100, weightBytes: 8 * l2 + 4, panels: 128, threads: 2))
        XCTAssertTrue(splitsRows(m: 361, weightBytes: 4 * l2, panels: 46, threads: 2))
        XCTAssertTrue(splitsRows(m: 100, weightBytes: 8 * l2, panels: 128, threads: 2))
        // 10x10 map, K = 256 and N just above eight L2s of weights.
        let k = 256, n = (8 * l2 / (4 * k) / 16 + 1) * 16
        var b = ChannelMapTests.Builder(input: [1, k, 10, 10])
        let y = try b.conv("x", out: n, activation: .relu)
        b.output(y)
        try assertMatchesReference(b, input: [1, k, 10, 10], seed: 5) { exec in
            XCTAssertEqual(exec.steps.filter { $0.kernel == GEMM.kernelName }.count, 1)
        }
    }
}
