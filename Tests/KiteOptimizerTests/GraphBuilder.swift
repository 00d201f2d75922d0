import KiteCore
@testable import KiteOptimizer
import XCTest

/// Builds small native graphs by hand: each `add` infers its outputs' shapes
/// with the op's own shape inference and names its node after the ONNX node it
/// stands for, so provenance can be checked.
struct GraphBuilder {
    var graph: NativeGraph
    var random = Random(seed: 7)
    private var counter = 0

    init(inputs: [String: [Int]]) {
        let values = inputs.sorted { $0.key < $1.key }.map { ValueInfo(name: $0.key, shape: $0.value) }
        graph = NativeGraph(inputs: values, outputs: [], nodes: [], shapes: Dictionary(uniqueKeysWithValues: inputs.map { ($0.key, $0.value) }))
    }

    init(input: [Int]) { self.init(inputs: ["x": input]) }

    /// Adds a node and returns its outputs (named "<name>_out", "<name>_out1", ...).
    @discardableResult
    mutating func add(_ op: Op, _ inputs: [String], name: String? = nil) -> [String] {
        counter += 1
        let name = name ?? "\(op.typeName.lowercased())\(counter)"
        let shapes = try! op.nativeOperator.inferShapes(inputs.map { graph.shapes[$0]! })
        let outputs = shapes.indices.map { $0 == 0 ? "\(name)_out" : "\(name)_out\($0)" }
        for (o, s) in zip(outputs, shapes) { graph.shapes[o] = s }
        graph.nodes.append(NativeNode(name: name, op: op, inputs: inputs, outputs: outputs, origin: [name]))
        return outputs
    }

    /// Adds a one-output node and returns its output.
    mutating func node(_ op: Op, _ inputs: String..., name: String? = nil) -> String {
        add(op, inputs, name: name)[0]
    }

    mutating func output(_ names: String...) {
        for n in names { graph.outputs.append(ValueInfo(name: n, shape: graph.shapes[n]!)) }
    }

    func shape(_ v: String) -> [Int] { graph.shapes[v]! }

    // MARK: ops with random parameters

    mutating func conv(_ x: String, out: Int, kernel: Int = 1, groups: Int = 1, stride: Int = 1, bias: Bool = true,
                       activation: Activation? = nil, name: String? = nil) -> String {
        let cin = shape(x)[1]
        let w = random.tensor([out, cin / groups, kernel, kernel])
        let p = kernel / 2
        let c = Convolution(weight: w, bias: bias ? random.floats(out) : nil, groups: groups, strides: [stride, stride],
                            pads: [p, p, p, p], dilations: [1, 1], activation: activation)
        return node(.conv(c), x, name: name)
    }

    /// A BatchNormalization as the lowering emits it.
    mutating func batchNorm(_ x: String, name: String? = nil) -> String {
        let c = shape(x)[1]
        return node(.scaleShift(ScaleShift(scale: random.floats(c, 0.5, 1.5), shift: random.floats(c))), x, name: name)
    }

    mutating func act(_ x: String, _ a: Activation, name: String? = nil) -> String {
        node(.activation(ActivationOp(a)), x, name: name)
    }

    mutating func fc(_ x: String, out: Int, bias: Bool = true, name: String? = nil) -> String {
        let k = shape(x)[1...].reduce(1, *)
        return node(.fullyConnected(FullyConnected(weight: random.tensor([out, k]), bias: bias ? random.floats(out) : nil)), x, name: name)
    }

    mutating func binary(_ kind: Binary.Kind, _ a: String, _ b: String, activation: Activation? = nil, name: String? = nil) -> String {
        node(.binary(Binary(kind: kind, activation: activation)), a, b, name: name)
    }

    mutating func binary(_ kind: Binary.Kind, _ a: String, constant: Tensor, onLeft: Bool = false,
                         activation: Activation? = nil, name: String? = nil) -> String {
        node(.binary(Binary(kind: kind, constant: constant, constantOnLeft: onLeft, activation: activation)), a, name: name)
    }

    mutating func reshape(_ x: String, _ shape: [Int], name: String? = nil) -> String {
        node(.reshape(Reshape(shape: shape)), x, name: name)
    }

    mutating func transpose(_ x: String, _ perm: [Int], name: String? = nil) -> String {
        node(.transpose(Transpose(perm: perm)), x, name: name)
    }

    mutating func slice(_ x: String, channels: Range<Int>, name: String? = nil) -> String {
        let s = shape(x)
        var starts = [Int](repeating: 0, count: s.count), ends = s
        (starts[1], ends[1]) = (channels.lowerBound, channels.upperBound)
        return node(.slice(Slice(starts: starts, ends: ends, steps: [Int](repeating: 1, count: s.count))), x, name: name)
    }

    mutating func constant(_ t: Tensor, name: String? = nil) -> String {
        add(.constant(Constant(t)), [], name: name)[0]
    }

    /// Random inputs for every graph input.
    mutating func inputs() -> [String: Tensor] {
        var r: [String: Tensor] = [:]
        for v in graph.inputs { r[v.name] = random.tensor(v.shape) }
        return r
    }
}

/// SplitMix64, uniform in [-1, 1) unless told otherwise.
struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float { lo + Float(next() >> 40) / Float(1 << 24) * (hi - lo) }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in uniform(lo, hi) } }
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, floats: floats(shape.reduce(1, *), lo, hi))
    }
}

/// A short name for each op case, independent of `typeName` spellings.
func kind(_ op: Op) -> String {
    switch op {
    case .conv: return "conv"
    case .scaleShift: return "scaleShift"
    case .activation: return "activation"
    case .binary: return "binary"
    case .concat: return "concat"
    case .split: return "split"
    case .channelShuffle: return "channelShuffle"
    case .gather: return "gather"
    case .pool: return "pool"
    case .globalPool: return "globalPool"
    case .fullyConnected: return "fullyConnected"
    case .reshape: return "reshape"
    case .transpose: return "transpose"
    case .softmax: return "softmax"
    case .pad: return "pad"
    case .reduceMean: return "reduceMean"
    case .slice: return "slice"
    case .constant: return "constant"
    case .cast: return "cast"
    case .elementwiseBinary: return "elementwiseBinary"
    case .whereSelect: return "where"
    case .unary: return "unary"
    case .reduce: return "reduce"
    case .matMul: return "matMul"
    case .dropout: return "dropout"
    }
}

func kinds(_ g: NativeGraph) -> [String] { g.nodes.map { kind($0.op) } }

extension NativeGraph {
    func node(named name: String) -> NativeNode? { nodes.first { $0.name == name } }
    func conv(_ i: Int) -> Convolution? {
        if case .conv(let c) = nodes[i].op { return c }
        return nil
    }
}

/// Runs `passes` (checking the graph after every step) and asserts the outputs
/// match the unoptimised graph's within 1e-5 relative to max(1, max |ref|).
@discardableResult
func optimize(_ b: inout GraphBuilder, _ passes: [any Pass], tolerance: Float = 1e-5,
              file: StaticString = #filePath, line: UInt = #line) throws -> (graph: NativeGraph, report: OptimizationReport) {
    let inputs = b.inputs()
    let before = b.graph
    try before.validate()
    var graph = before
    let report = try PassManager(passes: passes, options: PassOptions(checkEachStep: true)).run(&graph)
    try graph.validate()
    try assertSameOutputs(before, graph, inputs, tolerance: tolerance, file: file, line: line)
    XCTAssertEqual(graph.outputs, before.outputs, "graph outputs keep their names and shapes", file: file, line: line)
    return (graph, report)
}

func assertSameOutputs(_ a: NativeGraph, _ b: NativeGraph, _ inputs: [String: Tensor], tolerance: Float = 1e-5,
                       file: StaticString = #filePath, line: UInt = #line) throws {
    let ra = try ReferenceExecutor.run(a, inputs: inputs)
    let rb = try ReferenceExecutor.run(b, inputs: inputs)
    let drift = PassManager.drift(rb, from: ra)
    XCTAssertLessThanOrEqual(drift, tolerance, "outputs drifted by \(drift)", file: file, line: line)
}
