import KiteCore

/// `If` whose condition is known when converting: the branch it takes is lowered in its
/// place. Exporters emit such `If`s around shape facts (PyTorch's dynamo exporter asks
/// "has the input no batch dimension?" before each convolution), and every shape is
/// known here, so the condition folds to a constant.
extension LoweringState {
    /// Branches nest at most this deep (a broken file could nest them without end).
    static let maximumBranchDepth = 64

    func lowerIf(_ node: ONNXNode, display: String, context: ErrorContext) throws {
        guard node.inputs.count == 1, let conditionName = node.inputs.first, !conditionName.isEmpty else {
            throw KiteError.invalidNode(context, "If takes one input, the condition; the node has \(node.inputs.count)")
        }
        guard let condition = values[conditionName] else {
            throw KiteError.invalidNode(context, "input '\(conditionName)' is not produced by any node, initializer or graph input")
        }
        let taken: Bool
        switch condition {
        case .unavailable:
            markUnavailable(node)
            return
        case .sequence:
            throw KiteError.invalidNode(context, "the condition '\(conditionName)' is a sequence; If takes a boolean tensor")
        case .runtime:
            throw LoweringIssue.unsupported(
                "If runs only when its condition is known when converting (a constant, or computed from shapes); "
                + "'\(conditionName)' is computed at runtime", attribute: nil)
        case .constant(let tensor):
            guard tensor.count == 1 else {
                throw KiteError.invalidNode(context, "the condition '\(conditionName)' has \(tensor.count) elements; If takes one")
            }
            taken = tensor.holdsIntegers ? tensor.ints[0] != 0 : tensor.floats[0] != 0
        }
        let attribute = taken ? "then_branch" : "else_branch"
        guard case .graph(let branch)? = node.attributes[attribute] else {
            throw KiteError.invalidNode(ErrorContext(attribute: attribute).merged(with: context), "If has no \(attribute) graph")
        }
        guard branch.outputs.count == node.outputs.count else {
            throw KiteError.invalidNode(ErrorContext(attribute: attribute).merged(with: context),
                                        "the branch gives \(branch.outputs.count) outputs; the node has \(node.outputs.count)")
        }
        guard branchDepth < Self.maximumBranchDepth else {
            throw KiteError.invalidNode(context, "If branches nest deeper than \(Self.maximumBranchDepth)")
        }
        branchDepth += 1
        defer { branchDepth -= 1 }

        // The branch's own values get names unused so far; reads of outer values stay.
        var names: [String: String] = [:]
        for (name, tensor) in branch.initializers {
            let renamed = freshValueName(name)
            names[name] = renamed
            values[renamed] = .constant(tensor)
        }
        for branchNode in branch.nodes {
            for output in branchNode.outputs where !output.isEmpty && names[output] == nil {
                names[output] = freshValueName(output)
            }
        }
        var renamed = branch
        renamed.initializers = []
        renamed.nodes = branch.nodes.enumerated().map { index, original in
            var n = original
            n.name = "\(display)/\(TopologicalOrder.displayName(original, index))"
            n.inputs = original.inputs.map { names[$0] ?? $0 }
            n.outputs = original.outputs.map { names[$0] ?? $0 }
            for (key, value) in original.attributes where !value.subgraphs.isEmpty {
                n.attributes[key] = value.mapSubgraphs { renameOuterReads($0, names) }
            }
            return n
        }
        let results = branch.outputs.map { names[$0.name] ?? $0.name }
        for branchNode in renamed.nodes {
            for input in TopologicalOrder.reads(branchNode) where !input.isEmpty { uses[input, default: 0] += 1 }
        }
        for result in results { uses[result, default: 0] += 1 }

        let order = try TopologicalOrder.sort(renamed, file: file, outer: { self.values[$0] != nil })
        for index in order {
            try lowerNode(renamed.nodes[index], display: renamed.nodes[index].name)
        }
        for (output, result) in zip(node.outputs, results) where !output.isEmpty {
            guard let value = values[result] else {
                throw KiteError.invalidNode(ErrorContext(attribute: attribute).merged(with: context),
                                            "branch output '\(result)' is not produced by the branch or around it")
            }
            values[output] = value
        }
    }

    /// A nested subgraph whose reads of the enclosing branch's values follow their new names.
    private func renameOuterReads(_ graph: ONNXGraph, _ names: [String: String]) -> ONNXGraph {
        graph.renamingReads(names) { node in
            var attributes = node.attributes
            for (key, value) in node.attributes where !value.subgraphs.isEmpty {
                attributes[key] = value.mapSubgraphs { renameOuterReads($0, names) }
            }
            return (attributes, node.attributeOrder)
        }
    }
}
