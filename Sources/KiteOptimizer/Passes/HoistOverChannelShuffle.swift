import KiteCore

/// A per-channel affine (ScaleShift, or a Binary with a per-channel constant)
/// or an activation right after a ChannelShuffle moves before it, with its
/// per-channel values permuted the same way, when the shuffle's input comes
/// from a convolution that can then absorb it (IGCv1/IGCv2 write
/// conv -> shuffle -> BatchNorm; an activation also moves onto a conv with a
/// fused residual Add, as when a residual Add was sunk below the shuffle).
/// Element-wise and per-channel ops commute with a channel permutation;
/// `fold-scale-shift-into-conv` and `fuse-activation` finish the job.
public struct HoistOverChannelShuffle: RewriteRule {
    public let name = "hoist-over-channel-shuffle"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard node.inputs.count == 1, node.outputs.count == 1,
              let (s, shuffleNode) = graph.fusableProducer(of: node.inputs[0], uses),
              case .channelShuffle(let shuffle) = shuffleNode.op, shuffleNode.inputs.count == 1,
              let (_, conv) = graph.fusableProducer(of: shuffleNode.inputs[0], uses),
              case .conv(let c) = conv.op, c.activation == nil,
              let shape = graph.shapes[node.inputs[0]], graph.shapes[node.outputs[0]] == shape,
              shape.count == 4, shuffle.groups > 0, shape[1] % shuffle.groups == 0 else { return nil }
        let moved: Op
        let label: String
        if case .activation(let a) = node.op {
            // A conv with a fused residual Add takes the activation after the Add, as here.
            moved = node.op
            label = a.activation.description
        } else if !c.residual, let affine = Affine(node.op, over: shape) {
            // Output channel o = j*g + i reads input channel c = i*(C/g) + j.
            let channels = shape[1], g = shuffle.groups, perGroup = channels / g
            var outputOf = [Int](repeating: 0, count: channels)
            for c in 0..<channels { outputOf[c] = (c % perGroup) * g + c / perGroup }
            let scale = affine.scale ?? [Float](repeating: 1, count: channels)
            let shift = affine.shift ?? [Float](repeating: 0, count: channels)
            moved = .scaleShift(ScaleShift(scale: outputOf.map { scale[$0] }, shift: outputOf.map { shift[$0] },
                                           activation: affine.activation))
            label = affine.label
        } else {
            return nil
        }
        let between = graph.freshValueName(node.outputs[0] + "_before_shuffle")
        let first = NativeNode(name: node.name, op: moved, inputs: shuffleNode.inputs, outputs: [between], origin: node.origin)
        let second = NativeNode(name: shuffleNode.name, op: shuffleNode.op, inputs: [between], outputs: node.outputs,
                                origin: shuffleNode.origin)
        return Rewrite(removing: [s, index], replacement: [first, second], label: label)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "moved \(tallyText(tally)) before a channel shuffle"
    }
}
