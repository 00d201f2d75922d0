import KiteCore

/// Removes nodes none of whose outputs is read by another node or is a graph
/// output; one sweep from the end catches whole dead chains.
public struct RemoveDeadNodes: Pass {
    public let name = "remove-dead-nodes"
    public init() {}

    public func apply(_ graph: inout NativeGraph) throws -> Int {
        var live = Set(graph.outputs.map(\.name))
        var keep = [Bool](repeating: false, count: graph.nodes.count)
        for i in graph.nodes.indices.reversed() where graph.nodes[i].outputs.contains(where: live.contains) {
            keep[i] = true
            live.formUnion(graph.nodes[i].inputs)
        }
        let removed = keep.lazy.filter { !$0 }.count
        guard removed > 0 else { return 0 }
        for (i, node) in graph.nodes.enumerated() where !keep[i] {
            for o in node.outputs { graph.shapes[o] = nil }
        }
        graph.nodes = zip(graph.nodes, keep).filter(\.1).map(\.0)
        return removed
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "removed \(rewrites) dead node\(rewrites == 1 ? "" : "s")"
    }
}
