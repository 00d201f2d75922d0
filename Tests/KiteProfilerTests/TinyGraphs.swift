import KiteCore

/// Builds small native graphs by hand for the profiler's tests: one node at a time, shapes
/// inferred by the ops themselves, weights from a fixed pseudo-random sequence.
struct GraphBuilder {
    var inputs: [ValueInfo] = []
    var nodes: [NativeNode] = []
    var shapes: [String: [Int]] = [:]
    var seed: UInt64 = 1

    init(input: String = "input", shape: [Int]) {
        inputs = [ValueInfo(name: input, shape: shape)]
        shapes[input] = shape
    }

    mutating func random(_ n: Int) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 41) % 2001 - 1000) / 4000
        }
    }

    /// Adds a node; its outputs are named after it ("name" or "name:1", ...). Returns the first output.
    @discardableResult
    mutating func add(_ name: String, _ op: Op, _ inputs: [String], origin: [String]? = nil) -> String {
        let shapesIn = inputs.map { shapes[$0]! }
        let out = try! op.nativeOperator.inferShapes(shapesIn)
        let names = out.indices.map { $0 == 0 ? name : "\(name):\($0)" }
        for (n, s) in zip(names, out) { shapes[n] = s }
        nodes.append(NativeNode(name: name, op: op, inputs: inputs, outputs: names, origin: origin ?? [name]))
        return names[0]
    }

    mutating func conv(_ name: String, _ x: String, out: Int, kernel: Int = 1, stride: Int = 1, groups: Int = 1,
                       bias: Bool = false, activation: Activation? = nil, residual: String? = nil, origin: [String]? = nil) -> String {
        let cin = shapes[x]![1]
        let w = Tensor(shape: [out, cin / groups, kernel, kernel], floats: random(out * cin / groups * kernel * kernel))
        let p = kernel / 2
        let op = Convolution(weight: w, bias: bias ? random(out) : nil, groups: groups, strides: [stride, stride],
                             pads: [p, p, p, p], dilations: [1, 1], activation: activation, residual: residual != nil)
        return add(name, .conv(op), [x] + (residual.map { [$0] } ?? []), origin: origin)
    }

    func graph(outputs: [String]) -> NativeGraph {
        NativeGraph(inputs: inputs, outputs: outputs.map { ValueInfo(name: $0, shape: shapes[$0]!) }, nodes: nodes, shapes: shapes)
    }
}

/// A MobileNetV2/SqueezeNet/ShuffleNet-flavoured graph touching every op family the profiler
/// classifies: dense, pointwise, depthwise and group convs with fused epilogues, a fire module
/// (split-free branches and a concat), a channel shuffle, element-wise ops, pooling and a classifier.
func sampleGraph(size: Int = 32) -> NativeGraph {
    var b = GraphBuilder(shape: [1, 3, size, size])
    let relu6 = Activation.clip(min: 0, max: 6)
    var x = b.conv("stem", "input", out: 16, kernel: 3, stride: 2, bias: true, activation: relu6,
                   origin: ["/stem/Conv", "/stem/BatchNormalization", "/stem/Clip"])
    x = b.conv("b1.expand", x, out: 96, activation: relu6, origin: ["/b1/expand/Conv", "/b1/expand/Clip"])
    x = b.conv("b1.dw", x, out: 96, kernel: 3, groups: 96, activation: relu6, origin: ["/b1/dw/Conv", "/b1/dw/Clip"])
    let b1 = b.conv("b1.project", x, out: 24, origin: ["/b1/project/Conv"])
    x = b.conv("b2.expand", b1, out: 144, activation: relu6)
    x = b.conv("b2.dw", x, out: 144, kernel: 3, groups: 144, activation: relu6)
    x = b.conv("b2.project", x, out: 24, residual: b1, origin: ["/b2/project/Conv", "/b2/Add"])
    let squeeze = b.conv("fire.squeeze", x, out: 8, activation: .relu)
    let e1 = b.conv("fire.expand1x1", squeeze, out: 16, activation: .relu)
    let e3 = b.conv("fire.expand3x3", squeeze, out: 16, kernel: 3, activation: .relu)
    x = b.add("fire.concat", .concat(Concat(axis: 1)), [e1, e3])
    x = b.conv("gconv", x, out: 32, groups: 4, activation: .relu)
    x = b.add("shuffle", .channelShuffle(ChannelShuffle(groups: 4)), [x], origin: ["/shuffle/Reshape", "/shuffle/Transpose", "/shuffle/Reshape_1"])
    let scale = b.random(32), shift = b.random(32)
    let bn = b.add("bn", .scaleShift(ScaleShift(scale: scale, shift: shift)), [x])
    let act = b.add("hswish", .activation(ActivationOp(.hardSwish)), [bn])
    x = b.add("add", .binary(Binary(kind: .add)), [act, x])
    x = b.add("pool", .pool(Pooling(kind: .max, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])), [x])
    x = b.add("gap", .globalPool(GlobalPooling(kind: .average)), [x])
    x = b.add("flatten", .reshape(Reshape(shape: [1, 32])), [x])
    let w = Tensor(shape: [10, 32], floats: b.random(320))
    x = b.add("fc", .fullyConnected(FullyConnected(weight: w, bias: b.random(10))), [x], origin: ["/fc/Gemm"])
    x = b.add("softmax", .softmax(Softmax(axis: 1)), [x])
    return b.graph(outputs: [x])
}
