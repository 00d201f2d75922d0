import KiteCore

/// A decoded ONNX model: plain Swift values, no C memory.
public struct ONNXModel: Sendable {
    /// The file it was read from (for error messages).
    public var path: String
    public var irVersion: Int64
    /// Operator set per domain ("" is the default ONNX domain).
    public var opsetImports: [(domain: String, version: Int)]
    public var producerName: String
    public var producerVersion: String
    public var domain: String
    public var modelVersion: Int64
    public var docString: String
    public var metadata: [(key: String, value: String)]
    public var graph: ONNXGraph
    /// Model-local functions (exporters write modules and library ops as functions);
    /// lowering inlines every call to one.
    public var functions: [ONNXFunction] = []
    /// Bytes of tensor data read from external data files (beside the model file).
    public var externalDataBytes = 0

    /// The opset of the default domain ("" or "ai.onnx"), if imported.
    public var defaultOpset: Int? {
        opsetImports.first { $0.domain == "" || $0.domain == "ai.onnx" }?.version
    }

    /// The opset a domain was imported at.
    public func opset(forDomain domain: String) -> Int? {
        if domain == "" || domain == "ai.onnx" { return defaultOpset }
        return opsetImports.first { $0.domain == domain }?.version
    }
}

/// A dimension of a declared shape.
public enum ONNXDim: Sendable, Equatable, CustomStringConvertible {
    case value(Int)
    case param(String)
    case unknown

    public var description: String {
        switch self {
        case .value(let v): return String(v)
        case .param(let p): return p
        case .unknown: return "?"
        }
    }
}

/// A graph input, output or annotated value with its declared type and shape.
public struct ONNXValueInfo: Sendable, Equatable {
    /// What a value's TypeProto declares.
    public enum Kind: String, Sendable, Equatable {
        case tensor, sequence, map, optional, sparseTensor = "sparse tensor", undeclared = "value of undeclared type"
    }
    public var name: String
    public var elementType: ElementType
    /// nil when the shape is not declared at all.
    public var dims: [ONNXDim]?
    public var kind: Kind

    public init(name: String, elementType: ElementType, dims: [ONNXDim]?, kind: Kind = .tensor) {
        self.name = name
        self.elementType = elementType
        self.dims = dims
        self.kind = kind
    }
}

/// A graph: nodes in file order, initializers by name, and the declared values.
public struct ONNXGraph: Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    /// Initializers in file order.
    public var initializers: [(name: String, tensor: Tensor)]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    public var valueInfo: [ONNXValueInfo]

    /// Graph inputs that are not initializers (IR < 4 lists initializers as inputs too).
    public var dataInputs: [ONNXValueInfo] {
        let names = Set(initializers.map(\.name))
        return inputs.filter { !names.contains($0.name) }
    }
}

/// One node as written in the file.
public struct ONNXNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]
    /// Attribute names in file order (for deterministic printing).
    public var attributeOrder: [String]
    /// Which of several same-named model-local functions a call means (IR 10).
    public var overload: String = ""
}

/// A model-local function: a named subgraph that nodes of the model call like an operator.
public struct ONNXFunction: Sendable {
    public var name: String
    public var domain: String
    public var overload: String
    /// Formal inputs and outputs, matched to a call's by position.
    public var inputs: [String]
    public var outputs: [String]
    /// Attributes a call may set; nodes of the body read them through references.
    public var attributeNames: [String]
    /// Defaults of attributes a call leaves out.
    public var attributeDefaults: [String: ONNXAttribute]
    public var nodes: [ONNXNode]
    public var opsetImports: [(domain: String, version: Int)]
}

/// An attribute value of any ONNX kind.
public indirect enum ONNXAttribute: Sendable {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(Tensor)
    case graph(ONNXGraph)
    case floats([Float])
    case ints([Int64])
    case strings([String])
    case tensors([Tensor])
    case graphs([ONNXGraph])
    /// Sparse tensors and type protos: kept only by kind, Kite does not use them.
    case other(kind: String)
    /// Inside a function body: the value of the calling node's attribute of this name.
    case reference(String)

    public var kindName: String {
        switch self {
        case .float: return "float"
        case .int: return "int"
        case .string: return "string"
        case .tensor: return "tensor"
        case .graph: return "graph"
        case .floats: return "floats"
        case .ints: return "ints"
        case .strings: return "strings"
        case .tensors: return "tensors"
        case .graphs: return "graphs"
        case .other(let k): return k
        case .reference(let name): return "reference to @\(name)"
        }
    }
}
