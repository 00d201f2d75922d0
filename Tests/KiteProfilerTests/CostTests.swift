import KiteCore
import KiteProfiler
import KiteRuntime
import XCTest

/// FLOPs and bytes per op against hand-computed values: the op's own cost model, and what the
/// profiler reports for a one-op graph. FLOPs count a multiply-add as two; bytes are float32.
final class CostTests: XCTestCase {
    /// A machine given rather than measured, so tests stay fast and deterministic.
    static let machine = Machine(threads: 1, peakGFLOPSPerCore: 100, bandwidthGBs: 10)

    struct Expected {
        var flops: Int
        var activationBytesRead: Int
        var weightBytesRead: Int
        var bytesWritten: Int
    }

    /// Builds a graph of one op on `input`, profiles it, and checks both the op's cost and the profile's numbers.
    func check(_ name: String, _ op: Op, inputs: [[Int]], _ expected: Expected, file: StaticString = #filePath, line: UInt = #line) throws {
        var b = GraphBuilder(shape: inputs[0])
        var names = ["input"]
        for (i, shape) in inputs.enumerated().dropFirst() {
            b.inputs.append(ValueInfo(name: "input\(i)", shape: shape))
            b.shapes["input\(i)"] = shape
            names.append("input\(i)")
        }
        let out = b.add(name, op, names)
        let graph = b.graph(outputs: [out])
        let cost = op.nativeOperator.cost(inputs: inputs, outputs: [graph.shapes[out]!])
        XCTAssertEqual(cost.flops, expected.flops, "\(name): flops", file: file, line: line)
        XCTAssertEqual(cost.activationBytesRead, expected.activationBytesRead, "\(name): activation bytes read", file: file, line: line)
        XCTAssertEqual(cost.weightBytesRead, expected.weightBytesRead, "\(name): weight bytes read", file: file, line: line)
        XCTAssertEqual(cost.bytesWritten, expected.bytesWritten, "\(name): bytes written", file: file, line: line)

        let executor = try Executor(graph: graph, threads: 1)
        var random = GraphBuilder(shape: [1])
        let feeds = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, Tensor(shape: $0.shape, floats: random.random($0.shape.reduce(1, *)))) })
        let profile = try Profiler.profile(executor: executor, graph: graph, inputs: feeds, runs: 2, warmup: 0, machine: Self.machine)
        guard let row = profile.rows(groupBy: .op).first(where: { $0.name == name }) else {
            return XCTFail("\(name): no step in the profile (kernels: \(executor.steps.map(\.kernel)))", file: file, line: line)
        }
        XCTAssertEqual(row.flops, Double(expected.flops), "\(name): profiled flops", file: file, line: line)
        XCTAssertEqual(row.activationBytesRead, Double(expected.activationBytesRead), file: file, line: line)
        XCTAssertEqual(row.weightBytesRead, Double(expected.weightBytesRead), file: file, line: line)
        XCTAssertEqual(row.bytesWritten, Double(expected.bytesWritten), file: file, line: line)
        let bytes = Double(expected.activationBytesRead + expected.weightBytesRead + expected.bytesWritten)
        XCTAssertEqual(row.intensity, Double(expected.flops) / bytes, accuracy: 1e-12, file: file, line: line)
        XCTAssertEqual(row.bound(on: Self.machine), row.intensity < 10 ? "memory" : "compute", file: file, line: line)
    }

    func conv(cin: Int, cout: Int, kernel: Int, stride: Int = 1, pad: Int, groups: Int = 1, bias: Bool = false) -> Op {
        let n = cout * (cin / groups) * kernel * kernel
        return .conv(Convolution(weight: Tensor(shape: [cout, cin / groups, kernel, kernel], floats: [Float](repeating: 0.01, count: n)),
                                 bias: bias ? [Float](repeating: 0, count: cout) : nil, groups: groups,
                                 strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1]))
    }

    /// Dense 3x3: [1,3,8,8] -> [1,4,8,8]; 2 * 4*8*8 outputs * 3*3*3 MACs each.
    func testDenseConv() throws {
        try check("dense", conv(cin: 3, cout: 4, kernel: 3, pad: 1), inputs: [[1, 3, 8, 8]],
                  Expected(flops: 2 * 256 * 27, activationBytesRead: 3 * 64 * 4, weightBytesRead: 4 * 3 * 9 * 4, bytesWritten: 256 * 4))
    }

    /// Dense 3x3 with a bias: one more FLOP per output, the bias counts as weights.
    func testDenseConvWithBias() throws {
        try check("dense_bias", conv(cin: 3, cout: 4, kernel: 3, pad: 1, bias: true), inputs: [[1, 3, 8, 8]],
                  Expected(flops: 2 * 256 * 27 + 256, activationBytesRead: 768, weightBytesRead: (108 + 4) * 4, bytesWritten: 1024))
    }

    /// Group conv, 2 groups: [1,4,6,6] -> [1,6,6,6], each output sums 2 input channels x 3x3.
    func testGroupConv() throws {
        try check("group", conv(cin: 4, cout: 6, kernel: 3, pad: 1, groups: 2), inputs: [[1, 4, 6, 6]],
                  Expected(flops: 2 * 6 * 36 * 2 * 9, activationBytesRead: 4 * 36 * 4, weightBytesRead: 6 * 2 * 9 * 4, bytesWritten: 6 * 36 * 4))
    }

    /// Depthwise 3x3 stride 2: [1,8,5,5] -> [1,8,3,3], 9 MACs per output.
    func testDepthwiseConv() throws {
        try check("depthwise", conv(cin: 8, cout: 8, kernel: 3, stride: 2, pad: 1, groups: 8), inputs: [[1, 8, 5, 5]],
                  Expected(flops: 2 * 72 * 9, activationBytesRead: 8 * 25 * 4, weightBytesRead: 8 * 9 * 4, bytesWritten: 72 * 4))
    }

    /// Pointwise 16 -> 32 on 7x7: B = h*w*c1*c2 multiply-adds and the ShuffleNetV2 paper's
    /// MAC = h*w*(c1 + c2) + c1*c2 elements read and written.
    func testPointwiseConvMatchesThePapersFormula() throws {
        let (h, w, c1, c2) = (7, 7, 16, 32)
        try check("pointwise", conv(cin: c1, cout: c2, kernel: 1, pad: 0), inputs: [[1, c1, h, w]],
                  Expected(flops: 2 * h * w * c1 * c2, activationBytesRead: h * w * c1 * 4, weightBytesRead: c1 * c2 * 4, bytesWritten: h * w * c2 * 4))
        let cost = conv(cin: c1, cout: c2, kernel: 1, pad: 0).nativeOperator.cost(inputs: [[1, c1, h, w]], outputs: [[1, c2, h, w]])
        XCTAssertEqual(cost.flops / 2, h * w * c1 * c2)
        XCTAssertEqual(cost.totalBytes / 4, h * w * (c1 + c2) + c1 * c2)
    }

    /// Max pool 2x2/2: one compare per window element, [1,4,8,8] -> [1,4,4,4].
    func testMaxPool() throws {
        try check("maxpool", .pool(Pooling(kind: .max, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])), inputs: [[1, 4, 8, 8]],
                  Expected(flops: 64 * 4, activationBytesRead: 256 * 4, weightBytesRead: 0, bytesWritten: 64 * 4))
    }

    /// Average pool 3x3/1 pad 1: one add per window element, same size out.
    func testAveragePool() throws {
        try check("avgpool", .pool(Pooling(kind: .average, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])), inputs: [[1, 2, 5, 5]],
                  Expected(flops: 50 * 9, activationBytesRead: 50 * 4, weightBytesRead: 0, bytesWritten: 50 * 4))
    }

    /// Global average pool: one add per input element, [1,8,4,4] -> [1,8,1,1].
    func testGlobalAveragePool() throws {
        try check("gap", .globalPool(GlobalPooling(kind: .average)), inputs: [[1, 8, 4, 4]],
                  Expected(flops: 128, activationBytesRead: 512, weightBytesRead: 0, bytesWritten: 32))
    }

    /// Fully connected 64 -> 10: 2*M*N*K, the weight matrix read once.
    func testFullyConnected() throws {
        let fc = FullyConnected(weight: Tensor(shape: [10, 64], floats: [Float](repeating: 0.1, count: 640)), bias: nil)
        try check("fc", .fullyConnected(fc), inputs: [[1, 64]],
                  Expected(flops: 2 * 10 * 64, activationBytesRead: 256, weightBytesRead: 2560, bytesWritten: 40))
        let withBias = FullyConnected(weight: fc.weight, bias: [Float](repeating: 0, count: 10))
        try check("fc_bias", .fullyConnected(withBias), inputs: [[1, 64]],
                  Expected(flops: 1280 + 10, activationBytesRead: 256, weightBytesRead: 2600, bytesWritten: 40))
    }

    /// Add of two activations: one FLOP per output, both inputs read.
    func testElementwiseAdd() throws {
        try check("add", .binary(Binary(kind: .add)), inputs: [[1, 8, 4, 4], [1, 8, 4, 4]],
                  Expected(flops: 128, activationBytesRead: 1024, weightBytesRead: 0, bytesWritten: 512))
    }

    /// Squeeze-excite style Mul broadcasting [1,8,1,1] over [1,8,4,4].
    func testBroadcastMul() throws {
        try check("mul", .binary(Binary(kind: .mul)), inputs: [[1, 8, 4, 4], [1, 8, 1, 1]],
                  Expected(flops: 128, activationBytesRead: 512 + 32, weightBytesRead: 0, bytesWritten: 512))
    }

    /// Mul by a constant: the constant is read as weights.
    func testMulByConstant() throws {
        let k = Tensor(shape: [1, 8, 1, 1], floats: [Float](repeating: 0.5, count: 8))
        try check("mulconst", .binary(Binary(kind: .mul, constant: k)), inputs: [[1, 8, 4, 4]],
                  Expected(flops: 128, activationBytesRead: 512, weightBytesRead: 32, bytesWritten: 512))
    }

    /// ReLU: one FLOP per element; HardSwish: five.
    func testActivations() throws {
        try check("relu", .activation(ActivationOp(.relu)), inputs: [[1, 8, 4, 4]],
                  Expected(flops: 128, activationBytesRead: 512, weightBytesRead: 0, bytesWritten: 512))
        try check("hswish", .activation(ActivationOp(.hardSwish)), inputs: [[1, 8, 4, 4]],
                  Expected(flops: 128 * 5, activationBytesRead: 512, weightBytesRead: 0, bytesWritten: 512))
    }

    /// Per-channel scale and shift (an unfolded BatchNorm): a multiply-add per element, 2*C weights.
    func testScaleShift() throws {
        let op = ScaleShift(scale: [Float](repeating: 1, count: 8), shift: [Float](repeating: 0, count: 8))
        try check("bn", .scaleShift(op), inputs: [[1, 8, 4, 4]],
                  Expected(flops: 256, activationBytesRead: 512, weightBytesRead: 64, bytesWritten: 512))
    }

    /// Concat moves every element once and computes nothing.
    func testConcat() throws {
        try check("concat", .concat(Concat(axis: 1)), inputs: [[1, 4, 4, 4], [1, 2, 4, 4]],
                  Expected(flops: 0, activationBytesRead: 96 * 4, weightBytesRead: 0, bytesWritten: 96 * 4))
    }

    /// A batch run item by item through a graph made for one item: each op's cost is the batch's
    /// (here 3 items of a dense 3x3 conv and a ReLU), its output shape carries the batch, and its
    /// time in a run is summed over the items.
    func testBatchRunItemByItem() throws {
        var b = GraphBuilder(shape: [1, 3, 8, 8])
        let y = b.add("conv", conv(cin: 3, cout: 4, kernel: 3, pad: 1), ["input"])
        let out = b.add("relu", .activation(ActivationOp(.relu)), [y])
        let graph = b.graph(outputs: [out])
        let executor = try Executor(graph: graph, threads: 1)
        var random = GraphBuilder(shape: [1])
        let items = (0..<3).map { _ in ["input": Tensor(shape: [1, 3, 8, 8], floats: random.random(3 * 64))] }
        let one = try Profiler.profile(executor: executor, graph: graph, inputs: items[0], runs: 2, warmup: 0, machine: Self.machine)
        let batch = try Profiler.profile(executor: executor, graph: graph, batchItems: items, runs: 2, warmup: 0, machine: Self.machine)
        XCTAssertEqual(one.batchItems, 1)
        XCTAssertEqual(batch.batchItems, 3)
        XCTAssertEqual(batch.ops.count, one.ops.count)
        for (o, m) in zip(one.ops, batch.ops) {
            XCTAssertEqual(m.cost, OpCost(flops: 3 * o.cost.flops, activationBytesRead: 3 * o.cost.activationBytesRead,
                                          weightBytesRead: 3 * o.cost.weightBytesRead, bytesWritten: 3 * o.cost.bytesWritten), m.name)
            XCTAssertEqual(m.outputShapes, o.outputShapes.map { [3] + $0.dropFirst() }, m.name)
            XCTAssertEqual(m.nanoseconds.count, 2)
            XCTAssertTrue(m.nanoseconds.allSatisfy { $0 > 0 }, m.name)
        }
        // 2 * 4*8*8 outputs * 27 MACs per item, as in testDenseConv.
        XCTAssertEqual(batch.totalCost.flops, 3 * 2 * 4 * 64 * 27 + 3 * 4 * 64)
        XCTAssertTrue(batch.table().contains("batch 3 item by item"))
        // A graph that mixes items refuses more than one.
        var mixing = GraphBuilder(shape: [1, 10])
        let soft = mixing.add("softmax", .softmax(Softmax(axis: 0)), ["input"])
        let mixed = mixing.graph(outputs: [soft])
        XCTAssertNil(mixed.batchedValues)
        let mixedExecutor = try Executor(graph: mixed, threads: 1)
        let feed = ["input": Tensor(shape: [1, 10], floats: random.random(10))]
        XCTAssertThrowsError(try Profiler.profile(executor: mixedExecutor, graph: mixed, batchItems: [feed, feed], runs: 1, warmup: 0,
                                                  machine: Self.machine))
    }
}
