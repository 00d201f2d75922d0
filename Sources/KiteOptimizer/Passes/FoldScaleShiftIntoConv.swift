import KiteCore

/// Decompose, then absorb: a per-channel multiply-add after a Convolution
/// (dense, group or depthwise) or a FullyConnected folds into its weights and bias.
///
/// The multiply-add is a ScaleShift (a BatchNormalization), or for a
/// convolution a Binary with a per-channel constant ([1,C,1,1], [C,1,1] or one
/// element): mul, add, sub, or div by the constant. The producer must have no
/// fused activation or residual yet (the affine would have to pass through
/// them); the ScaleShift's or Binary's own activation moves onto the producer.
/// A ScaleShift that cannot fold (BN -> Relu -> Conv) stays, and
/// `fuse-activation` then fuses the activation into it.
public struct FoldScaleShiftIntoConv: RewriteRule {
    public let name = "fold-scale-shift-into-conv"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard node.inputs.count == 1, node.outputs.count == 1,
              let (p, producer) = graph.fusableProducer(of: node.inputs[0], uses),
              let shape = graph.shapes[node.inputs[0]], graph.shapes[node.outputs[0]] == shape,
              let affine = Affine(node.op, over: shape) else { return nil }
        let op: Op
        switch producer.op {
        case .conv(var c) where c.activation == nil && !c.residual && affine.channels == c.outChannels:
            guard let w = affine.fold(weight: c.weight, bias: c.bias) else { return nil }
            (c.weight, c.bias, c.activation) = (w.weight, w.bias, affine.activation)
            op = .conv(c)
        case .fullyConnected(var f) where f.activation == nil && !affine.fromBinary
            && f.weight.rank == 2 && affine.channels == f.weight.shape[0]:
            guard let w = affine.fold(weight: f.weight, bias: f.bias) else { return nil }
            (f.weight, f.bias, f.activation) = (w.weight, w.bias, affine.activation)
            op = .fullyConnected(f)
        default:
            return nil
        }
        let fused = NativeNode(name: producer.name, op: op, inputs: producer.inputs, outputs: node.outputs)
        return Rewrite(removing: [p, index], replacement: [fused], label: affine.label)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "folded \(tallyText(tally)) into Conv/FullyConnected"
    }
}

/// y = x * scale[c] + shift[c], then an optional activation.
struct Affine {
    var scale: [Float]?
    var shift: [Float]?
    var activation: Activation?
    var channels: Int
    var fromBinary: Bool
    var label: String

    /// The per-channel affine a ScaleShift or a Binary with a per-channel constant computes.
    init?(_ op: Op, over shape: [Int]) {
        switch op {
        case .scaleShift(let s):
            guard shape.count >= 2, s.scale.count == shape[1], s.shift.count == shape[1] else { return nil }
            (scale, shift, activation, channels, fromBinary, label) = (s.scale, s.shift, s.activation, shape[1], false, "BatchNormalization")
        case .binary(let b):
            guard let t = b.constant, let v = ConstantValue.perChannel(t, over: shape) else { return nil }
            (activation, channels, fromBinary, label) = (b.activation, shape[1], true, "per-channel " + b.kind.rawValue)
            switch (b.kind, b.constantOnLeft) {
            case (.mul, _): scale = v
            case (.add, _): shift = v
            case (.sub, false): shift = v.map { -$0 }
            case (.sub, true): (scale, shift) = ([Float](repeating: -1, count: v.count), v)
            case (.div, false):
                guard !v.contains(0) else { return nil }
                scale = v.map { 1 / $0 }
            case (.div, true): return nil
            }
        default:
            return nil
        }
    }

    /// Weight rows (output channels first) scaled, bias scaled and shifted.
    func fold(weight: Tensor, bias: [Float]?) -> (weight: Tensor, bias: [Float]?)? {
        guard case .floats(var w) = weight.storage, weight.shape.first == channels, channels > 0 else { return nil }
        if let bias, bias.count != channels { return nil }
        var b = bias
        if let scale {
            let row = w.count / channels
            for o in 0..<channels {
                for k in 0..<row { w[o * row + k] *= scale[o] }
            }
            if let bias { b = zip(bias, scale).map { $0 * $1 } }
        }
        if let shift {
            b = (0..<channels).map { (b?[$0] ?? 0) + shift[$0] }
        }
        return (Tensor(shape: weight.shape, floats: w), b)
    }
}
