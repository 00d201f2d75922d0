import KiteCore

/// A Reshape (a lowered Flatten) of [N,C,1,1] to [N,C] whose one consumer is a
/// FullyConnected is dropped: FullyConnected reads [N,C,1,1] as [N,C] (the
/// same bytes). Declines when the FullyConnected's shape inference does not
/// accept the 4-D input.
public struct DropReshapeAfterGlobalPool: RewriteRule {
    public let name = "drop-reshape-after-global-pool"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .fullyConnected(let fc) = node.op, node.inputs.count == 1,
              let (r, reshape) = graph.fusableProducer(of: node.inputs[0], uses),
              case .reshape = reshape.op, reshape.inputs.count == 1,
              let pooled = graph.shapes[reshape.inputs[0]], pooled.count == 4, pooled[2] == 1, pooled[3] == 1,
              graph.shapes[node.inputs[0]] == [pooled[0], pooled[1]],
              let before = try? fc.inferShapes([[pooled[0], pooled[1]]]),
              (try? fc.inferShapes([pooled])) == before else { return nil }
        let direct = NativeNode(name: node.name, op: node.op, inputs: reshape.inputs, outputs: node.outputs)
        return Rewrite(removing: [r, index], replacement: [direct], label: "Reshape")
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "dropped \(rewrites) Reshape/Flatten before FullyConnected"
    }
}
