import KiteCore
import KiteFormat
import KiteONNX

/// Summarises a model file: an ONNX file as written, a `.kite` file as its native ops.
public func inspectModel(path: String) throws -> ModelSummary {
    if KiteFormat.looksLikeKite(path: path) {
        return ModelSummary(kite: try KiteFormat.read(path: path), path: path)
    }
    return ModelSummary(onnx: try ONNXLoader.load(path: path))
}

extension NativeNode {
    /// Weight tensors the op carries (conv and FC weights and biases, scales, constants).
    public var weightCounts: [Int] {
        switch op {
        case .conv(let c): return [c.weight.count, c.bias?.count ?? 0]
        case .fullyConnected(let f): return [f.weight.count, f.bias?.count ?? 0]
        case .scaleShift(let s): return [s.scale.count, s.shift.count]
        case .binary(let b): return [b.constant?.count ?? 0]
        case .constant(let c): return [c.value.count]
        default: return []
        }
    }

    /// One line for `inspect`: name, type, activation, shape, and what it was made from.
    func describe(shapes: [String: [Int]]) -> String {
        var type = op.typeName
        switch op {
        case .conv(let c):
            type += "(\(c.kernel.map(String.init).joined(separator: "x")), s\(c.strides.first ?? 1), g\(c.groups))"
            if c.residual { type += "+Add" }
            if let a = c.activation { type += "+\(a)" }
        case .fullyConnected(let f): if let a = f.activation { type += "+\(a)" }
        case .scaleShift(let s): if let a = s.activation { type += "+\(a)" }
        case .binary(let b): if let a = b.activation { type += "+\(a)" }
        case .activation(let a): type = "\(a.activation)"
        case .channelShuffle(let s): type += "(g\(s.groups))"
        case .split(let s): type += "(\(s.sizes.map(String.init).joined(separator: ",")))"
        default: break
        }
        let shape = outputs.first.flatMap { shapes[$0] }.map { "[" + $0.map(String.init).joined(separator: "x") + "]" } ?? ""
        var line = "\(name)  \(type)  \(shape)"
        if !origin.isEmpty {
            let shown = origin.prefix(4).joined(separator: ", ") + (origin.count > 4 ? ", +\(origin.count - 4)" : "")
            line += "  <- \(shown)"
        }
        if !passes.isEmpty { line += "  [\(Array(Set(passes)).sorted().joined(separator: ", "))]" }
        return line
    }
}

extension ModelSummary {
    /// Summarises a converted model: native ops by native name, parameters as the weights the ops carry.
    public init(kite file: KiteModelFile, path: String) {
        let g = file.graph
        func summary(_ v: ValueInfo) -> TensorSummary {
            TensorSummary(name: v.name, shape: v.shape.map(String.init), type: g.elementType(of: v.name).description)
        }
        let weightTensors = g.nodes.flatMap { $0.weightCounts.filter { $0 > 0 } }
        let params = weightTensors.reduce(0, +)
        self.init(file: path, format: "kite v\(file.formatVersion)", producer: file.producer, irVersion: nil, opsets: [],
                  inputs: g.inputs.map(summary), outputs: g.outputs.map(summary), nodeCount: g.nodes.count,
                  ops: histogram(g.nodes.map(\.op.typeName)), initializerCount: weightTensors.count,
                  parameterCount: params, parameterBytes: params * 4,
                  nativeOps: g.nodes.map { $0.describe(shapes: g.shapes) })
        runsAnyBatch = g.runsPerBatchItem
    }
}
