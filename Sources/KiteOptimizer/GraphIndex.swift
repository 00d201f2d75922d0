import KiteCore

/// Who produces and who reads each value of a graph. Rebuilt after every rewrite.
public struct GraphIndex: Sendable {
    /// Value -> index of the node producing it (graph inputs have none).
    public private(set) var producer: [String: Int] = [:]
    /// Value -> indices of the nodes reading it, one entry per input slot.
    public private(set) var consumers: [String: [Int]] = [:]
    public let graphOutputs: Set<String>

    public init(_ graph: NativeGraph) {
        graphOutputs = Set(graph.outputs.map(\.name))
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs { producer[o] = i }
            for v in node.inputs { consumers[v, default: []].append(i) }
        }
    }

    /// How many input slots read `value`.
    public func useCount(_ value: String) -> Int { consumers[value]?.count ?? 0 }

    /// Whether `value` has exactly one consumer and is not a graph output:
    /// the only values a fusion may make disappear (XNNPACK's rule).
    public func isFusable(_ value: String) -> Bool {
        useCount(value) == 1 && !graphOutputs.contains(value)
    }

    /// Whether anything reads `value` (a node or the graph's outputs).
    public func isUsed(_ value: String) -> Bool {
        useCount(value) > 0 || graphOutputs.contains(value)
    }
}

extension NativeGraph {
    /// The node producing `value` when `value` may be fused away (one consumer,
    /// not a graph output) and that node has no other output.
    func fusableProducer(of value: String, _ uses: GraphIndex) -> (index: Int, node: NativeNode)? {
        guard uses.isFusable(value), let p = uses.producer[value], nodes[p].outputs.count == 1 else { return nil }
        return (p, nodes[p])
    }

    /// The node producing `value`, whatever its consumers.
    func producer(of value: String, _ uses: GraphIndex) -> (index: Int, node: NativeNode)? {
        guard let p = uses.producer[value] else { return nil }
        return (p, nodes[p])
    }
}

extension NativeGraph {
    /// A value name not used in the graph yet, derived from `base`.
    func freshValueName(_ base: String) -> String {
        let taken = Set(shapes.keys).union(inputs.map(\.name)).union(outputs.map(\.name))
        var candidate = base
        var n = 1
        while taken.contains(candidate) {
            candidate = "\(base)_\(n)"
            n += 1
        }
        return candidate
    }
}

extension NativeGraph {
    /// A node name not used in the graph yet, derived from `base`.
    func freshNodeName(_ base: String) -> String {
        let taken = Set(nodes.map(\.name))
        var candidate = base
        var n = 1
        while taken.contains(candidate) {
            candidate = "\(base)_\(n)"
            n += 1
        }
        return candidate
    }
}
