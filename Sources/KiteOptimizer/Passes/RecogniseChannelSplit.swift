import KiteCore

/// Slices of one value that each take a contiguous range of channels (axis 1,
/// step 1, every other axis whole) and together cover all channels without
/// overlap become one Split of axis 1, sizes in channel order, each output
/// keeping its slice's name. A native Split of axis 1 is already the channel
/// split and is left alone.
public struct RecogniseChannelSplit: RewriteRule {
    public let name = "recognise-channel-split"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .slice = node.op, node.inputs.count == 1, let shape = graph.shapes[node.inputs[0]],
              channelRange(node, shape) != nil, let readers = uses.consumers[node.inputs[0]] else { return nil }
        // Every channel-range slice of this value, the anchor being the first.
        var ranges: [(node: Int, range: Range<Int>)] = []
        for r in Set(readers).sorted() {
            if let range = channelRange(graph.nodes[r], shape) { ranges.append((r, range)) }
        }
        guard ranges.count >= 2, ranges[0].node == index else { return nil }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        var next = 0
        for r in ranges {
            guard r.range.lowerBound == next else { return nil }
            next = r.range.upperBound
        }
        guard next == shape[1] else { return nil }
        let split = NativeNode(name: node.name, op: .split(Split(axis: 1, sizes: ranges.map(\.range.count))),
                               inputs: node.inputs, outputs: ranges.map { graph.nodes[$0.node].outputs[0] })
        return Rewrite(removing: ranges.map(\.node), replacement: [split], position: index, label: "Slice")
    }

    /// The channels a Slice node takes when it is a plain channel range of a value of `shape`.
    func channelRange(_ node: NativeNode, _ shape: [Int]) -> Range<Int>? {
        guard case .slice(let s) = node.op, node.outputs.count == 1, shape.count >= 2,
              s.starts.count == shape.count, s.ends.count == shape.count, s.steps.count == shape.count,
              s.steps.allSatisfy({ $0 == 1 }) else { return nil }
        for axis in shape.indices where axis != 1 {
            guard s.starts[axis] == 0, min(s.ends[axis], shape[axis]) == shape[axis] else { return nil }
        }
        let lo = s.starts[1], hi = min(s.ends[1], shape[1])
        guard lo >= 0, lo < hi else { return nil }
        return lo..<hi
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "recognised \(rewrites) channel split\(rewrites == 1 ? "" : "s") written as Slices"
    }
}
