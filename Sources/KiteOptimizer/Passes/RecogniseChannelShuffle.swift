import KiteCore

/// The exporters' ways of writing ShuffleNet's channel shuffle become one
/// ChannelShuffle (every intermediate must have one consumer):
///
/// 1. Reshape [N,C,H,W] -> [N,a,b,H,W] (or [N,a,b,H*W]), Transpose swapping
///    axes 1 and 2, Reshape back to [N,C,H,W]. Channel i*b+j moves to j*a+i:
///    ChannelShuffle(groups: a). With a = g this is the usual [N,g,C/g,...]
///    form; the [N,C/g,g,...] form exporters also write is a shuffle with C/g groups.
/// 2. Batch 1, flattened: Reshape [1,C,H,W] -> [a,b,H*W], Transpose [1,0,2],
///    Reshape back to [1,C,H,W]: ChannelShuffle(groups: a).
/// 3. ShuffleNetV2's reference `channel_shuffle` that also splits (batch 1):
///    Reshape [1,C,H,W] -> [a,b,H*W], Transpose [1,0,2], Reshape
///    [b,1,a,H,W], then Gather(axis 0) of each index 0..<b:
///    ChannelShuffle(groups: a) and a Split of axis 1 into b parts of a.
public struct RecogniseChannelShuffle: RewriteRule {
    public let name = "recognise-channel-shuffle"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .reshape = node.op, node.inputs.count == 1, node.outputs.count == 1,
              let (t, transpose) = graph.fusableProducer(of: node.inputs[0], uses),
              case .transpose(let tr) = transpose.op, transpose.inputs.count == 1,
              let (r, first) = graph.fusableProducer(of: transpose.inputs[0], uses),
              case .reshape = first.op, first.inputs.count == 1,
              let x = first.inputs.first, let xs = graph.shapes[x], xs.count == 4,
              let viewed = graph.shapes[first.outputs[0]], let out = graph.shapes[node.outputs[0]] else { return nil }
        let (n, c, spatial) = (xs[0], xs[1], xs[2] * xs[3])

        // 1. [N,a,b,spatial...] with axes 1 and 2 swapped.
        if out == xs, viewed.count >= 4, viewed[0] == n, viewed[1] * viewed[2] == c,
           viewed[3...].reduce(1, *) == spatial, tr.perm == [0, 2, 1] + Array(3..<viewed.count) {
            return shuffle(x, groups: viewed[1], replacing: [r, t, index], node)
        }
        // 2. and 3.: batch 1, [a,b,H*W] with axes 0 and 1 swapped.
        guard n == 1, viewed.count == 3, viewed[0] * viewed[1] == c, viewed[2] == spatial,
              tr.perm == [1, 0, 2] else { return nil }
        let (a, b) = (viewed[0], viewed[1])
        if out == xs { return shuffle(x, groups: a, replacing: [r, t, index], node) }
        guard out == [b, 1, a, xs[2], xs[3]], let parts = gathersOfEachIndex(node.outputs[0], count: b, graph, uses) else { return nil }
        let shuffled = graph.freshValueName(node.outputs[0] + "_shuffled")
        let shuffleNode = NativeNode(name: node.name, op: .channelShuffle(ChannelShuffle(groups: a)), inputs: [x], outputs: [shuffled])
        let split = NativeNode(name: graph.freshNodeName(node.name + "_split"), op: .split(Split(axis: 1, sizes: [Int](repeating: a, count: b))),
                               inputs: [shuffled], outputs: parts.map { graph.nodes[$0].outputs[0] })
        return Rewrite(removing: [r, t, index] + parts, replacement: [shuffleNode, split], position: index, label: "channel shuffle + split")
    }

    func shuffle(_ x: String, groups: Int, replacing nodes: [Int], _ last: NativeNode) -> Rewrite {
        let node = NativeNode(name: last.name, op: .channelShuffle(ChannelShuffle(groups: groups)), inputs: [x], outputs: last.outputs)
        return Rewrite(removing: nodes, replacement: [node], label: "channel shuffle")
    }

    /// The Gather nodes taking index 0, 1, ... count-1 of axis 0 of `value` (its only consumers), in index order.
    func gathersOfEachIndex(_ value: String, count: Int, _ graph: NativeGraph, _ uses: GraphIndex) -> [Int]? {
        guard !uses.graphOutputs.contains(value), let readers = uses.consumers[value], readers.count == count else { return nil }
        var byIndex = [Int?](repeating: nil, count: count)
        for g in readers {
            guard case .gather(let gather) = graph.nodes[g].op, gather.axis == 0, gather.indicesShape.isEmpty,
                  gather.indices.count == 1, graph.nodes[g].outputs.count == 1 else { return nil }
            let k = gather.indices[0]
            guard (0..<count).contains(k), byIndex[k] == nil else { return nil }
            byIndex[k] = g
        }
        return byIndex.compactMap { $0 }
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "recognised \(rewrites) channel shuffle\(rewrites == 1 ? "" : "s")"
            + (tally["channel shuffle + split"].map { " (\($0) with a channel split)" } ?? "")
    }
}
