import KiteCore

/// A Reshape to the shape its input already has, not producing a graph
/// output, is removed and its readers read the input instead.
public struct RemoveNoopReshape: RewriteRule {
    public let name = "remove-noop-reshape"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .reshape = node.op, node.inputs.count == 1, node.outputs.count == 1,
              !uses.graphOutputs.contains(node.outputs[0]),
              let s = graph.shapes[node.inputs[0]], graph.shapes[node.outputs[0]] == s else { return nil }
        return Rewrite(removing: [index], replacement: [], redirect: [node.outputs[0]: node.inputs[0]], label: "Reshape")
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "removed \(rewrites) no-op Reshape"
    }
}
