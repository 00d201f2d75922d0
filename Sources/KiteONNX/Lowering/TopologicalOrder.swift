import KiteCore

/// Orders a graph's nodes so every node comes after the producers of its inputs.
///
/// Files are not always sorted. Among the nodes that are ready, the one that
/// comes first in the file goes first, so a sorted file keeps its order.
enum TopologicalOrder {
    /// Node indices in a valid execution order. Throws `invalidNode` for an input
    /// nothing produces, a value produced twice, or a cycle.
    /// `outer` tells which names a subgraph may read from the scopes around it.
    static func sort(_ graph: ONNXGraph, file: String, outer: (String) -> Bool = { _ in false }) throws -> [Int] {
        let nodes = graph.nodes
        var available = Set(graph.inputs.map(\.name))
        for (name, _) in graph.initializers { available.insert(name) }
        available.insert("")

        var producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if let other = producer[output] {
                    throw KiteError.invalidNode(context(nodes[index], index, file),
                                                "output '\(output)' is also produced by node '\(displayName(nodes[other], other))'")
                }
                if available.contains(output) {
                    throw KiteError.invalidNode(context(node, index, file),
                                                "output '\(output)' has the name of a graph input or initializer")
                }
                producer[output] = index
            }
        }

        // Dependencies between nodes, counted once per distinct producer.
        var waiting = [Int](repeating: 0, count: nodes.count)
        var dependents = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            var seen = Set<Int>()
            for input in reads(node) {
                if available.contains(input) { continue }
                if producer[input] == nil && outer(input) { continue }
                guard let p = producer[input] else {
                    throw KiteError.invalidNode(context(node, index, file),
                                                "input '\(input)' is not produced by any node, initializer or graph input")
                }
                if seen.insert(p).inserted {
                    waiting[index] += 1
                    dependents[p].append(index)
                }
            }
        }

        var ready = MinHeap()
        for index in nodes.indices where waiting[index] == 0 { ready.push(index) }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let index = ready.pop() {
            order.append(index)
            for d in dependents[index] {
                waiting[d] -= 1
                if waiting[d] == 0 { ready.push(d) }
            }
        }
        if order.count < nodes.count, let stuck = nodes.indices.first(where: { waiting[$0] > 0 }) {
            throw KiteError.invalidNode(context(nodes[stuck], stuck, file),
                                        "the node is part of a cycle: its inputs depend on its own outputs")
        }
        return order
    }

    /// The values a node reads: its inputs, then what its subgraphs read from around them.
    static func reads(_ node: ONNXNode) -> [String] {
        var result = node.inputs
        for attribute in node.attributes.values {
            for graph in attribute.subgraphs { result += outerReads(graph) }
        }
        return result
    }

    /// The names a subgraph reads without defining them: values of the scopes around it.
    static func outerReads(_ graph: ONNXGraph) -> [String] {
        var defined = Set(graph.inputs.map(\.name))
        defined.formUnion(graph.initializers.map(\.name))
        for node in graph.nodes { defined.formUnion(node.outputs) }
        var result: [String] = []
        for node in graph.nodes {
            for input in reads(node) where !input.isEmpty && !defined.contains(input) { result.append(input) }
        }
        for output in graph.outputs where !defined.contains(output.name) { result.append(output.name) }
        return result
    }

    /// The node's name, or "#index opType" when it has none (as the loader prints it).
    static func displayName(_ node: ONNXNode, _ index: Int) -> String {
        node.name.isEmpty ? "#\(index) \(node.opType)" : node.name
    }

    static func context(_ node: ONNXNode, _ index: Int, _ file: String) -> ErrorContext {
        ErrorContext(file: file, node: displayName(node, index), opType: node.opType,
                     domain: node.domain.isEmpty ? nil : node.domain)
    }
}

/// A binary min-heap of node indices.
struct MinHeap {
    private var items: [Int] = []

    mutating func push(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
