import KiteCore

/// An element-wise Add, Sub, Mul or Div of two values that are both shuffled the same way,
/// `op(shuffle(x), shuffle(y))`, becomes `shuffle(op(x, y))`: a channel permutation commutes with
/// element-wise ops. IGCv3's residual blocks write `Add(shuffle(projection), shuffle(previous
/// projection))`; once the Add reads the projections themselves, `fuse-residual-add` puts it in the
/// projection's epilogue, and the shuffles, read only by grouped 1x1 convolutions then, become
/// channel maps those read through: neither the permutation nor the Add is a pass over memory.
public struct SinkBinaryBelowChannelShuffle: RewriteRule {
    public let name = "sink-binary-below-channel-shuffle"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .binary(let b) = node.op, b.constant == nil, node.inputs.count == 2, node.outputs.count == 1,
              let shape = graph.shapes[node.outputs[0]], shape.count == 4,
              graph.shapes[node.inputs[0]] == shape, graph.shapes[node.inputs[1]] == shape,
              let (_, first) = graph.producer(of: node.inputs[0], uses),
              let (_, second) = graph.producer(of: node.inputs[1], uses),
              case .channelShuffle(let s) = first.op, first.op == second.op,
              first.inputs.count == 1, second.inputs.count == 1, first.outputs.count == 1, second.outputs.count == 1,
              graph.shapes[first.inputs[0]] == shape, graph.shapes[second.inputs[0]] == shape,
              s.groups > 1, shape[1] % s.groups == 0 else { return nil }
        let between = graph.freshValueName(node.outputs[0] + "_before_shuffle")
        let combined = NativeNode(name: node.name, op: node.op, inputs: [first.inputs[0], second.inputs[0]], outputs: [between],
                                  origin: node.origin)
        let shuffle = NativeNode(name: node.name + "/shuffle", op: first.op, inputs: [between], outputs: node.outputs,
                                 origin: first.origin)
        return Rewrite(removing: [index], replacement: [combined, shuffle], position: index, label: b.kind.rawValue)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "moved \(tallyText(tally)) of two equally shuffled values before the shuffle"
    }
}
