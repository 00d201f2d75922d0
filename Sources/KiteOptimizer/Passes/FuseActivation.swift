import KiteCore

/// A standalone activation (ReLU, ReLU6 and any clip, LeakyReLU, Sigmoid,
/// HardSigmoid, HardSwish) after a Convolution, FullyConnected, ScaleShift or
/// Binary add that has no activation yet becomes that producer's epilogue.
/// A convolution's activation applies after its fused residual add.
public struct FuseActivation: RewriteRule {
    public let name = "fuse-activation"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .activation(let a) = node.op, node.inputs.count == 1,
              let (p, producer) = graph.fusableProducer(of: node.inputs[0], uses) else { return nil }
        let op: Op
        switch producer.op {
        case .conv(var c) where c.activation == nil:
            c.activation = a.activation
            op = .conv(c)
        case .fullyConnected(var f) where f.activation == nil:
            f.activation = a.activation
            op = .fullyConnected(f)
        case .scaleShift(var s) where s.activation == nil:
            s.activation = a.activation
            op = .scaleShift(s)
        case .binary(var b) where b.kind == .add && b.activation == nil:
            b.activation = a.activation
            op = .binary(b)
        default:
            return nil
        }
        let fused = NativeNode(name: producer.name, op: op, inputs: producer.inputs, outputs: node.outputs)
        return Rewrite(removing: [p, index], replacement: [fused], label: a.activation.description)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "fused \(tallyText(tally)) into their producers"
    }
}
