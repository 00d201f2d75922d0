import KiteCore

/// Constant nodes holding identical tensors are merged into the first; readers
/// of the others read it instead (unless the duplicate is a graph output).
public struct ShareConstants: RewriteRule {
    public let name = "share-constants"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .constant(let c) = node.op, node.outputs.count == 1,
              !uses.graphOutputs.contains(node.outputs[0]) else { return nil }
        for j in 0..<index {
            let earlier = graph.nodes[j]
            guard case .constant(let e) = earlier.op, earlier.outputs.count == 1, e.value == c.value else { continue }
            let kept = NativeNode(name: earlier.name, op: earlier.op, inputs: [], outputs: earlier.outputs)
            return Rewrite(removing: [j, index], replacement: [kept], position: j,
                           redirect: [node.outputs[0]: earlier.outputs[0]], label: "Constant")
        }
        return nil
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "shared \(rewrites) duplicate Constant\(rewrites == 1 ? "" : "s")"
    }
}
