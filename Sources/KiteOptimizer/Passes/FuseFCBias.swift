import KiteCore

/// FullyConnected followed by an Add (or Sub) of a constant [N], [1,N] or one
/// element (MatMul + Add as exporters write a Gemm) folds into the bias; the
/// Add's activation moves onto the FullyConnected.
public struct FuseFCBias: RewriteRule {
    public let name = "fuse-fc-bias"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .binary(let b) = node.op, let c = b.constant, node.inputs.count == 1, node.outputs.count == 1,
              b.kind == .add || (b.kind == .sub && !b.constantOnLeft),
              let (p, producer) = graph.fusableProducer(of: node.inputs[0], uses),
              case .fullyConnected(var fc) = producer.op, fc.activation == nil,
              let shape = graph.shapes[node.inputs[0]], shape.count == 2, graph.shapes[node.outputs[0]] == shape,
              let v = ConstantValue.perChannel(c, over: shape), fc.bias.map({ $0.count == v.count }) ?? true else { return nil }
        let sign: Float = b.kind == .sub ? -1 : 1
        fc.bias = (0..<v.count).map { (fc.bias?[$0] ?? 0) + sign * v[$0] }
        fc.activation = b.activation
        let fused = NativeNode(name: producer.name, op: .fullyConnected(fc), inputs: producer.inputs, outputs: node.outputs)
        return Rewrite(removing: [p, index], replacement: [fused], label: b.kind.rawValue)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "folded \(rewrites) constant Add into FullyConnected bias"
    }
}
