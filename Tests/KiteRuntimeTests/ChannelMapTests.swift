import KiteCore
@testable import KiteRuntime
import enum KiteKernels.CPUFeatures
import XCTest

/// Shuffles and index selects folded into their readers (channel maps) must give exactly what
/// the reference executor gives, whether the map is read (GEMM offsets, depthwise commuted,
/// split, concat) or materialized for a reader that needs dense channels.
final class ChannelMapTests: XCTestCase {
    struct Builder {
        var graph: NativeGraph
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var counter = 0

        init(input: [Int]) {
            graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: input)], outputs: [], nodes: [], shapes: ["x": input])
        }

        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 2001 - 1000) / 1000
        }

        mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }

        mutating func add(_ op: Op, _ inputs: [String]) throws -> [String] {
            counter += 1
            let shapes = try op.nativeOperator.inferShapes(inputs.map { graph.shapes[$0] ?? [] })
            let outputs = shapes.indices.map { "n\(counter)_\($0)" }
            for (o, s) in zip(outputs, shapes) { graph.shapes[o] = s }
            graph.nodes.append(NativeNode(name: "n\(counter)", op: op, inputs: inputs, outputs: outputs))
            return outputs
        }

        mutating func conv(_ x: String, out: Int, kernel: Int = 1, groups: Int = 1, stride: Int = 1,
                           residual: String? = nil, activation: Activation? = nil) throws -> String {
            let cin = graph.shapes[x]![1]
            let w = Tensor(shape: [out, cin / groups, kernel, kernel], floats: floats(out * cin / groups * kernel * kernel))
            let p = kernel / 2
            let c = Convolution(weight: w, bias: floats(out), groups: groups, strides: [stride, stride], pads: [p, p, p, p],
                                dilations: [1, 1], activation: activation, residual: residual != nil)
            return try add(.conv(c), [x] + (residual.map { [$0] } ?? []))[0]
        }

        mutating func shuffle(_ x: String, groups: Int) throws -> String {
            try add(.channelShuffle(ChannelShuffle(groups: groups)), [x])[0]
        }

        mutating func output(_ names: String...) {
            for n in names { graph.outputs.append(ValueInfo(name: n, shape: graph.shapes[n]!)) }
        }
    }

    func check(_ b: Builder, input: [Int], expectViews: Int, streamingThreshold: Int = Planner.streamingThresholdBytes,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = Builder(input: input)
        rng.state = 42
        let x = Tensor(shape: input, floats: rng.floats(input.reduce(1, *)))
        let want = try ReferenceExecutor.run(b.graph, inputs: ["x": x])
        for threads in [1, 2] {
            let exec = try Executor(graph: b.graph, threads: threads, streamingThreshold: streamingThreshold)
            XCTAssertEqual(exec.steps.filter { $0.kernel == "view" }.count, expectViews, "folded shuffles/selects", file: file, line: line)
            let got = try exec.run(["x": x])
            for (name, w) in want {
                let g = try XCTUnwrap(got[name], file: file, line: line)
                XCTAssertEqual(g.shape, w.shape, file: file, line: line)
                let worst = zip(g.floats, w.floats).map { abs($0 - $1) }.max() ?? 0
                // Relative to the output's magnitude (deeper test graphs reach values of 100 and more).
                let scale = max(1, w.floats.map { abs($0) }.max() ?? 0)
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(name) at \(threads) threads", file: file, line: line)
            }
        }
    }

    /// ShuffleNetV1 unit: group conv, shuffle, depthwise (commuted), group conv reading the map.
    func testShuffleThroughDepthwiseIntoGroupConv() throws {
        var b = Builder(input: [1, 24, 9, 11])
        let a = try b.conv("x", out: 24, groups: 3, activation: .relu)
        let s = try b.shuffle(a, groups: 3)
        let d = try b.conv(s, out: 24, kernel: 3, groups: 24)
        let y = try b.conv(d, out: 36, groups: 3, residual: nil, activation: .relu)
        b.output(y)
        try check(b, input: [1, 24, 9, 11], expectViews: 1)
    }

    /// ShuffleNetV2 unit: concat, shuffle, split; one half into a concat, the other into a pointwise conv.
    /// A ShuffleNetV2 unit: concat, shuffle, split, a branch on one half, concat with the other half.
    func checkShuffleSplitConcat(half: Int, input: [Int]) throws {
        var b = Builder(input: input)
        let l = try b.conv("x", out: half)
        let r = try b.conv("x", out: half, kernel: 3, groups: half)
        let cat = try b.add(.concat(Concat(axis: 1)), [l, r])[0]
        let s = try b.shuffle(cat, groups: 2)
        let halves = try b.add(.split(Split(axis: 1, sizes: [half, half])), [s])
        let p = try b.conv(halves[1], out: half, activation: .relu)
        let q = try b.conv(p, out: half, kernel: 3, groups: half)
        let out = try b.add(.concat(Concat(axis: 1)), [halves[0], q])[0]
        let s2 = try b.shuffle(out, groups: 2)
        let y = try b.conv(s2, out: 13)
        b.output(y)
        try check(b, input: input, expectViews: 2)
    }

    func testShuffleSplitConcat() throws {
        try checkShuffleSplitConcat(half: 10, input: [1, 20, 7, 5])
    }

    /// ShuffleNetV2 1.0's width: the passed-through half (29 pairs of channels from two runs) is
    /// copied into the concat by `interleaveChannels`, eight pairs a step and five alone, from a
    /// buffer whose pixels are padded (116 channels, 128 floats apart).
    func testShuffleSplitConcatInterleavesWideHalves() throws {
        try checkShuffleSplitConcat(half: 58, input: [1, 116, 5, 3])
    }

    func testInterleavedRunsAreRecognised() {
        XCTAssertTrue(interleavedRuns([0, 58, 1, 59, 2, 60]).map { $0 == (0, 58) } ?? false)
        XCTAssertTrue(interleavedRuns([7, 3]).map { $0 == (7, 3) } ?? false)
        XCTAssertNil(interleavedRuns([0, 58, 1, 60]))
        XCTAssertNil(interleavedRuns([0, 58, 1]))
        XCTAssertNil(interleavedRuns([2, 0, 1, 3]))
        // Against the element-wise gather: 29 pairs, strides with padding, three pixels.
        let map = (0..<29).flatMap { [3 + $0, 64 + $0] }
        let src = (0..<(3 * 100)).map { Float($0) }
        var dst = [Float](repeating: -1, count: 3 * 61)
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                gatherChannels(s.baseAddress!, 100, d.baseAddress!, 61, ChannelGather(map), pixels: 3)
            }
        }
        for p in 0..<3 {
            for j in 0..<58 { XCTAssertEqual(dst[p * 61 + j], src[p * 100 + map[j]], "pixel \(p) channel \(j)") }
            for j in 58..<61 { XCTAssertEqual(dst[p * 61 + j], -1, "pixel \(p) wrote past its channels") }
        }
    }

    /// IGCv2 unit: group conv, shuffle, group conv with 8 output channels per group (group pairs
    /// reading the map), residual; both shuffles fold.
    func testShuffleIntoGroupPairs() throws {
        var b = Builder(input: [1, 32, 7, 9])
        let s0 = try b.shuffle("x", groups: 4)
        let a = try b.conv(s0, out: 32, groups: 4, activation: .relu)
        let s = try b.shuffle(a, groups: 4)
        let y = try b.conv(s, out: 32, groups: 4, residual: "x", activation: .clip(min: 0, max: 6))
        b.output(y)
        try check(b, input: [1, 32, 7, 9], expectViews: 2)
    }

    /// IGCv1 unit: primary group conv, shuffle (G groups), secondary 1x1 conv with G channels per
    /// group, inverse shuffle, residual add. The secondary conv runs in the shuffled order and
    /// both shuffles are views; Q = C / G not a multiple of 8 in the second case.
    func testShuffleGroupConvInverseShuffle() throws {
        for (c, g) in [(64, 4), (44, 4), (32, 2), (72, 8)] {
            var b = Builder(input: [1, c, 6, 7])
            let primary = try b.conv("x", out: c, kernel: 3, groups: 4)
            let s = try b.shuffle(primary, groups: g)
            let secondary = try b.conv(s, out: c, groups: c / g, activation: .relu)
            let back = try b.shuffle(secondary, groups: c / g)
            let y = try b.add(.binary(Binary(kind: .add)), [back, "x"])[0]
            b.output(y)
            try check(b, input: [1, c, 6, 7], expectViews: 2)
            let exec = try Executor(graph: b.graph, threads: 1)
            XCTAssertEqual(exec.steps.filter { $0.kernel == "group-transposed" }.count, 1, "C=\(c) G=\(g)")
        }
    }

    /// The same convolution whose output is read by a pool, not an inverse shuffle: it keeps the
    /// rotated-lane kernel (its output must be in plain order) and the shuffle is copied.
    func testTransposedGroupsNeedMapReaders() throws {
        var b = Builder(input: [1, 32, 6, 6])
        let s = try b.shuffle("x", groups: 4)
        let secondary = try b.conv(s, out: 32, groups: 8)
        let pool = try b.add(.pool(Pooling(kind: .max, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])), [secondary])[0]
        b.output(pool)
        try check(b, input: [1, 32, 6, 6], expectViews: 0)
        let exec = try Executor(graph: b.graph, threads: 1)
        XCTAssertEqual(exec.steps.filter { $0.kernel == "group-transposed" }.count, 0)
    }

    /// CondenseNet unit: index select, 1x1 group conv, shuffle, 3x3 group conv with 2 and 4
    /// outputs per group (the four groups in the vector lanes, reading the shuffle through its
    /// map), concat with the layer input; and a dense 3x3 conv reading a shuffle.
    func testShuffleIntoGroupConvAbsorbed() throws {
        for (cin, out, size) in [(32, 8, 16), (64, 16, 20)] {
            var b = Builder(input: [1, 24, size, size + 1])
            let idx = (0..<cin).map { ($0 * 7 + 3) % 24 }
            let g = try b.add(.gather(Gather(axis: 1, indices: idx, indicesShape: [idx.count])), ["x"])[0]
            let a = try b.conv(g, out: cin, groups: 4, activation: .relu)
            let s = try b.shuffle(a, groups: 4)
            let y = try b.conv(s, out: out, kernel: 3, groups: 4)
            let cat = try b.add(.concat(Concat(axis: 1)), ["x", y])[0]
            let s2 = try b.shuffle(cat, groups: 2)
            let z = try b.conv(s2, out: 5, kernel: 3)
            b.output(z)
            try check(b, input: [1, 24, size, size + 1], expectViews: 3)
            let exec = try Executor(graph: b.graph, threads: 1)
            XCTAssertEqual(exec.steps.filter { $0.kernel == "group-lanes" }.count, 1, "the grouped 3x3 conv runs in lanes")
            XCTAssertEqual(exec.steps.filter { $0.kernel.hasPrefix("winograd-f") }.count, 0)
        }
    }

    /// CondenseNet's later stages: the shuffle before a 3x3 group conv with 8 or more outputs per
    /// group folds into Winograd's input reads, which take runs of 8 channels (32 or 64 inputs
    /// per group); with 16 inputs per group the shuffle moves runs of 4, and is copied.
    func testShuffleIntoWinogradGroupConvReadsRuns() throws {
        for (cin, out, runs) in [(128, 32, true), (256, 64, true), (64, 32, false)] {
            var b = Builder(input: [1, 24, 16, 17])
            let a = try b.conv("x", out: cin, groups: 4, activation: .relu)
            let s = try b.shuffle(a, groups: 4)
            let y = try b.conv(s, out: out, kernel: 3, groups: 4)
            b.output(y)
            try check(b, input: [1, 24, 16, 17], expectViews: runs ? 1 : 0)
            let exec = try Executor(graph: b.graph, threads: 1)
            let winograd = exec.steps.filter { $0.kernel.hasPrefix("winograd-f") }
            XCTAssertEqual(winograd.count, 1, "\(cin) -> \(out)")
            XCTAssertEqual(winograd.first?.reason.contains("runs of 8"), runs, "\(cin) -> \(out)")
        }
    }

    /// Small maps take Winograd's 2x2 tiles where the 8-lane kernels run (`WinogradConv.tileSize`):
    /// CondenseNet's group convs reading a folded shuffle in runs of 8 channels, and IGCv1's with
    /// a residual (threads split them by groups or rows); a 12x12 map keeps 4x4 tiles. Against
    /// the reference at 1 and 2 threads.
    func testSmallMapsTakeSmallWinogradTiles() throws {
        for size in [7, 14, 12] {
            var b = Builder(input: [1, 24, size, size])
            let a = try b.conv("x", out: 128, groups: 4, activation: .relu)
            let s = try b.shuffle(a, groups: 4)
            b.output(try b.conv(s, out: 32, kernel: 3, groups: 4))
            try check(b, input: [1, 24, size, size], expectViews: 1)
            var c = Builder(input: [1, 24, size, size])
            let d = try c.conv("x", out: 128, activation: .relu)
            c.output(try c.conv(d, out: 128, kernel: 3, groups: 4, residual: d, activation: .relu))
            try check(c, input: [1, 24, size, size], expectViews: 0)
            guard !CPUFeatures.avx512 else { continue }
            let expected = size == 12 ? "winograd-f4x3" : "winograd-f2x3"
            for graph in [b.graph, c.graph] {
                let exec = try Executor(graph: graph, threads: 2)
                XCTAssertEqual(exec.steps.filter { $0.kernel.hasPrefix("winograd-f") }.map(\.kernel), [expected], "\(size)x\(size)")
            }
        }
    }

    /// A first convolution (3 input channels) whose output only a max pool reads is computed
    /// band by band inside the pool's step (ShuffleNet / ResNet stems: 3x3 and 7x7 stride 2, then
    /// 3x3 stride 2 pooling; TinyDarkNet's 2x2) when the output is larger than the streaming
    /// threshold (lowered here). A stem read by two nodes stays unfused.
    func testStemFusedIntoMaxPool() throws {
        let cases: [(size: [Int], out: Int, kernel: Int, pool: Int, pad: Int)] = [
            ([1, 3, 22, 37], 24, 3, 3, 1), ([1, 3, 30, 27], 64, 7, 3, 1), ([2, 3, 20, 34], 16, 3, 2, 0),
        ]
        for c in cases {
            var b = Builder(input: c.size)
            let stem = try b.conv("x", out: c.out, kernel: c.kernel, stride: 2, activation: .relu)
            let pooled = try b.add(.pool(Pooling(kind: .max, kernel: [c.pool, c.pool], strides: [2, 2],
                                                 pads: [c.pad, c.pad, c.pad, c.pad])), [stem])[0]
            let y = try b.conv(pooled, out: 8, activation: .relu)
            b.output(y)
            try check(b, input: c.size, expectViews: 0, streamingThreshold: 0)
            let exec = try Executor(graph: b.graph, threads: 2, streamingThreshold: 0)
            XCTAssertEqual(exec.steps.filter { $0.kernel == "stem-direct+maxpool" }.count, 1, "\(c)")
            // Below the streaming threshold the stem output stays a tensor (it fits in L2).
            XCTAssertEqual(try Executor(graph: b.graph, threads: 1).steps.filter { $0.kernel == "stem-direct+maxpool" }.count, 0)
        }
        var b = Builder(input: [1, 3, 22, 37])
        let stem = try b.conv("x", out: 16, kernel: 3, stride: 2, activation: .relu)
        let pooled = try b.add(.pool(Pooling(kind: .max, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [stem])[0]
        b.output(pooled, stem)
        try check(b, input: [1, 3, 22, 37], expectViews: 0, streamingThreshold: 0)
        XCTAssertEqual(try Executor(graph: b.graph, threads: 1, streamingThreshold: 0).steps.filter { $0.kernel == "stem-direct+maxpool" }.count, 0)
    }

    /// CondenseNet layer input: an index select (with repeats) read by BatchNorm + ReLU
    /// (gathered and scaled block by block), whose output is also written into a concat in place.
    func testGatherIntoScaleShift() throws {
        var b = Builder(input: [1, 20, 5, 7])
        let idx = [3, 0, 7, 7, 11, 2, 5, 1, 19, 18, 4, 4, 9]
        let g = try b.add(.gather(Gather(axis: 1, indices: idx, indicesShape: [idx.count])), ["x"])[0]
        let ss = try b.add(.scaleShift(ScaleShift(scale: b.floats(idx.count), shift: b.floats(idx.count), activation: .relu)), [g])[0]
        let y = try b.conv(ss, out: 16, groups: 1, activation: .relu)
        let z = try b.conv(y, out: 8, kernel: 3)
        let cat = try b.add(.concat(Concat(axis: 1)), ["x", z])[0]
        let w = try b.conv(cat, out: 6)
        b.output(w)
        try check(b, input: [1, 20, 5, 7], expectViews: 1)
        let exec = try Executor(graph: b.graph, threads: 1)
        XCTAssertEqual(exec.steps.filter { $0.kernel == "gather-scale-shift" }.count, 1)
        XCTAssertEqual(exec.steps.filter { $0.kernel == "channel-copy" }.count, 1, "the concat copies only x")
    }

    /// A dense block (each layer reads the running concat and appends its output): every concat
    /// is the leading channels of one buffer, so nothing is copied, the block input included.
    /// Two concats extending the same value each copy it instead.
    func testDenseBlockConcatsShareOneBuffer() throws {
        var b = Builder(input: [1, 5, 9, 10])
        var running = try b.conv("x", out: 12, kernel: 3, activation: .relu)
        for layer in 0..<3 {
            let idx = (0..<(12 + 4 * layer)).map { ($0 * 5 + layer) % (12 + 4 * layer) }
            let g = try b.add(.gather(Gather(axis: 1, indices: idx, indicesShape: [idx.count])), [running])[0]
            let count = idx.count
            let ss = try b.add(.scaleShift(ScaleShift(scale: b.floats(count), shift: b.floats(count), activation: .relu)), [g])[0]
            let y = try b.conv(ss, out: 4, kernel: 3)
            running = try b.add(.concat(Concat(axis: 1)), [running, y])[0]
        }
        let t = try b.conv(running, out: 6)
        b.output(t)
        try check(b, input: [1, 5, 9, 10], expectViews: 3)
        let exec = try Executor(graph: b.graph, threads: 1)
        XCTAssertEqual(exec.steps.filter { $0.kernel == "channel-copy" }.count, 0)

        var fork = Builder(input: [1, 8, 6, 7])
        let a = try fork.conv("x", out: 8, activation: .relu)
        let y1 = try fork.conv(a, out: 3, kernel: 3)
        let y2 = try fork.conv(a, out: 5, kernel: 3)
        let c1 = try fork.add(.concat(Concat(axis: 1)), [a, y1])[0]
        let c2 = try fork.add(.concat(Concat(axis: 1)), [a, y2])[0]
        let z1 = try fork.conv(c1, out: 4), z2 = try fork.conv(c2, out: 4)
        fork.output(z1, z2)
        try check(fork, input: [1, 8, 6, 7], expectViews: 0)
    }

    /// A shuffle read by a 5x5 group conv (which stays grouped): copied.
    func testShuffleIntoGroupedConvIsCopied() throws {
        var b = Builder(input: [1, 16, 7, 7])
        let s = try b.shuffle("x", groups: 4)
        let y = try b.conv(s, out: 8, kernel: 5, groups: 4)
        b.output(y)
        try check(b, input: [1, 16, 7, 7], expectViews: 0)
    }

    /// CondenseNet: an index select (with repeats) read by a group conv.
    func testGatherIntoGroupConv() throws {
        var b = Builder(input: [1, 12, 6, 6])
        let idx = [3, 0, 7, 7, 11, 2, 5, 1]
        let g = try b.add(.gather(Gather(axis: 1, indices: idx, indicesShape: [idx.count])), ["x"])[0]
        let y = try b.conv(g, out: 12, groups: 2)
        b.output(y)
        try check(b, input: [1, 12, 6, 6], expectViews: 1)
    }

    /// A shuffle read by a max pool and a residual: copied, not folded.
    func testShuffleReadByPoolIsCopied() throws {
        var b = Builder(input: [1, 16, 8, 8])
        let s = try b.shuffle("x", groups: 4)
        let pool = try b.add(.pool(Pooling(kind: .max, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])), [s])[0]
        let c = try b.conv(s, out: 16, residual: s)
        b.output(pool, c)
        try check(b, input: [1, 16, 8, 8], expectViews: 0)
    }

    /// A shuffle read by a pointwise conv and also a graph output: copied (outputs are dense).
    func testShuffleThatIsAnOutputIsCopied() throws {
        var b = Builder(input: [1, 12, 5, 5])
        let s = try b.shuffle("x", groups: 3)
        let c = try b.conv(s, out: 7)
        b.output(s, c)
        try check(b, input: [1, 12, 5, 5], expectViews: 0)
    }
}
