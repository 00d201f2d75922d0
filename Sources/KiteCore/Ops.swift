/// Kite's native op set: small, made for lightweight CNNs. Layout is NCHW.
/// Each case's payload is a value type that implements `NativeOperator` in a
/// file of its own (definition, shapes, cost and reference in one place).
public enum Op: Sendable, Equatable {
    case conv(Convolution)
    case scaleShift(ScaleShift)
    case activation(ActivationOp)
    case binary(Binary)
    case concat(Concat)
    case split(Split)
    case channelShuffle(ChannelShuffle)
    case gather(Gather)
    case pool(Pooling)
    case globalPool(GlobalPooling)
    case fullyConnected(FullyConnected)
    case reshape(Reshape)
    case transpose(Transpose)
    case softmax(Softmax)
    case pad(Pad)
    case reduceMean(ReduceMean)
    case slice(Slice)
    case constant(Constant)
    // Reference-only ops (no fast kernel): other element types, comparisons, reductions, batched MatMul.
    case cast(Cast)
    case elementwiseBinary(ElementwiseBinary)
    case whereSelect(Where)
    case unary(Unary)
    case reduce(Reduce)
    case matMul(MatMul)
    case dropout(Dropout)

    /// The payload as its protocol, for the questions every op answers.
    public var nativeOperator: any NativeOperator {
        switch self {
        case .conv(let o): return o
        case .scaleShift(let o): return o
        case .activation(let o): return o
        case .binary(let o): return o
        case .concat(let o): return o
        case .split(let o): return o
        case .channelShuffle(let o): return o
        case .gather(let o): return o
        case .pool(let o): return o
        case .globalPool(let o): return o
        case .fullyConnected(let o): return o
        case .reshape(let o): return o
        case .transpose(let o): return o
        case .softmax(let o): return o
        case .pad(let o): return o
        case .reduceMean(let o): return o
        case .slice(let o): return o
        case .constant(let o): return o
        case .cast(let o): return o
        case .elementwiseBinary(let o): return o
        case .whereSelect(let o): return o
        case .unary(let o): return o
        case .reduce(let o): return o
        case .matMul(let o): return o
        case .dropout(let o): return o
        }
    }

    public var typeName: String { nativeOperator.typeName }
}

/// A named value flowing between nodes, with its resolved shape.
public struct ValueInfo: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// One native op in a graph. `origin` names the ONNX nodes it came from and
/// `passes` the rewrites that made it, so errors and profiles point back at
/// the original model.
public struct NativeNode: Sendable, Equatable {
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var outputs: [String]
    public var origin: [String]
    public var passes: [String]

    public init(name: String, op: Op, inputs: [String], outputs: [String], origin: [String] = [], passes: [String] = []) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.origin = origin
        self.passes = passes
    }
}

/// A graph of native ops in topological order with every shape resolved.
public struct NativeGraph: Sendable, Equatable {
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var nodes: [NativeNode]
    /// Shape of every value (graph inputs, node outputs).
    public var shapes: [String: [Int]]
    /// Element type of every value that is not float32 (int64 indices, bool masks, float16, ...).
    /// Float32 values, the fast executor's domain, are not listed.
    public var elementTypes: [String: ElementType]

    public init(inputs: [ValueInfo], outputs: [ValueInfo], nodes: [NativeNode], shapes: [String: [Int]],
                elementTypes: [String: ElementType] = [:]) {
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.shapes = shapes
        self.elementTypes = elementTypes.filter { $0.value != .float }
    }

    /// The element type of a value (float32 unless listed in `elementTypes`).
    public func elementType(of name: String) -> ElementType { elementTypes[name] ?? .float }

    /// A node's FLOPs and bytes, from its op's cost model and the graph's shapes.
    public func cost(of node: NativeNode) -> OpCost {
        node.op.nativeOperator.cost(inputs: node.inputs.map { shapes[$0] ?? [] }, outputs: node.outputs.map { shapes[$0] ?? [] })
    }

    /// Whether every value is float32 (what the fast executor runs).
    public var isFloatOnly: Bool { elementTypes.isEmpty }
}
