import KiteCore

/// A Reshape to the shape its input already has, not producing a graph
/// output, is removed and its readers read the input instead. A Reshape of a
/// Reshape read only by it reshapes the original value directly (lowered
/// MatMul flatten/unflatten pairs), which may then be a no-op itself.
public struct RemoveNoopReshape: RewriteRule {
    public let name = "remove-noop-reshape"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .reshape = node.op, node.inputs.count == 1, node.outputs.count == 1 else { return nil }
        if !uses.graphOutputs.contains(node.outputs[0]),
           let s = graph.shapes[node.inputs[0]], graph.shapes[node.outputs[0]] == s {
            return Rewrite(removing: [index], replacement: [], redirect: [node.outputs[0]: node.inputs[0]], label: "no-op Reshape")
        }
        if let (p, inner) = graph.fusableProducer(of: node.inputs[0], uses), case .reshape = inner.op, inner.inputs.count == 1 {
            let direct = NativeNode(name: node.name, op: node.op, inputs: inner.inputs, outputs: node.outputs)
            return Rewrite(removing: [p, index], replacement: [direct], label: "Reshape of a Reshape")
        }
        return nil
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "removed \(tallyText(tally))"
    }
}
