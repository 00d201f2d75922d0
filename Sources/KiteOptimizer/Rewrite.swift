import KiteCore

/// One match of a rule: the nodes it replaces and what takes their place.
///
/// The engine (`NativeGraph.apply`) fills in provenance: a replacement node
/// whose `origin` is empty gets the union, in graph order, of the removed
/// nodes' origins (a rule that splits a pattern into several nodes may set
/// each one's origin itself), and every replacement node's `passes` becomes
/// the removed nodes' passes plus the pass's name. Replacement
/// nodes write the names of the values they stand for, so graph outputs keep
/// their names.
public struct Rewrite: Sendable {
    /// Indices (in the current graph) of the matched nodes; all are removed.
    public var removing: [Int]
    /// The nodes that take their place, in order.
    public var replacement: [NativeNode]
    /// Index (in the current graph) before which the replacement goes;
    /// nil: where the last removed node was.
    public var position: Int?
    /// Inputs naming a key are redirected to its value (e.g. a no-op Reshape's output to its input).
    public var redirect: [String: String]
    /// What was rewritten, for the report ("ReLU6", "BatchNormalization").
    public var label: String?

    public init(removing: [Int], replacement: [NativeNode], position: Int? = nil,
                redirect: [String: String] = [:], label: String? = nil) {
        self.removing = removing
        self.replacement = replacement
        self.position = position
        self.redirect = redirect
        self.label = label
    }
}

extension NativeGraph {
    /// Applies one rewrite: removes the matched nodes, inserts the replacement
    /// with merged provenance, redirects uses, and updates `shapes` (inferring
    /// the replacement's output shapes). Throws when the rewrite would change
    /// the shape of a value that outlives it or lose a graph output.
    public mutating func apply(_ rewrite: Rewrite, pass: String) throws {
        let removed = Set(rewrite.removing)
        let ordered = removed.sorted()
        var origin: [String] = []
        var history: [String] = []
        for i in ordered {
            appendUnique(nodes[i].origin, to: &origin)
            appendUnique(nodes[i].passes, to: &history)
        }
        appendUnique([pass], to: &history)

        // Shapes of the replacement, inferred in order.
        var newShapes: [String: [Int]] = [:]
        var replacement = rewrite.replacement
        for k in replacement.indices {
            var node = replacement[k]
            if node.origin.isEmpty { node.origin = origin }
            node.passes = orderedUnion(history, node.passes)
            node.inputs = node.inputs.map { rewrite.redirect[$0] ?? $0 }
            let inputShapes = try node.inputs.map { v -> [Int] in
                guard let s = newShapes[v] ?? shapes[v] else {
                    throw KiteError.invalidNode(ErrorContext(node: node.name), "pass '\(pass)': input '\(v)' has no shape")
                }
                return s
            }
            let outShapes: [[Int]]
            do {
                outShapes = try node.op.nativeOperator.inferShapes(inputShapes)
            } catch let e as KiteError {
                throw e.adding(ErrorContext(node: node.name, opType: node.op.typeName))
            }
            guard outShapes.count == node.outputs.count else {
                throw KiteError.invalidNode(ErrorContext(node: node.name, opType: node.op.typeName),
                                            "pass '\(pass)': \(node.outputs.count) outputs but the op makes \(outShapes.count)")
            }
            for (o, s) in zip(node.outputs, outShapes) {
                if let old = shapes[o], old != s {
                    throw KiteError.shapeMismatch(ErrorContext(node: node.name, opType: node.op.typeName, tensor: o),
                                                  "pass '\(pass)' would change this value's shape from \(old) to \(s)")
                }
                newShapes[o] = s
            }
            replacement[k] = node
        }

        let position = rewrite.position ?? (ordered.last ?? nodes.count)
        var result: [NativeNode] = []
        result.reserveCapacity(nodes.count - removed.count + replacement.count)
        for (i, node) in nodes.enumerated() {
            if i == position { result += replacement }
            guard !removed.contains(i) else { continue }
            var node = node
            if !rewrite.redirect.isEmpty { node.inputs = node.inputs.map { rewrite.redirect[$0] ?? $0 } }
            result.append(node)
        }
        if position >= nodes.count { result += replacement }

        // Values that no longer exist lose their shapes; graph outputs must survive.
        let produced = Set(replacement.flatMap(\.outputs))
        for i in ordered {
            for o in nodes[i].outputs where !produced.contains(o) {
                if outputs.contains(where: { $0.name == o }) {
                    throw KiteError.invalidNode(ErrorContext(node: nodes[i].name, tensor: o),
                                                "pass '\(pass)' would remove graph output '\(o)'")
                }
                shapes[o] = nil
            }
        }
        for (v, s) in newShapes { shapes[v] = s }
        nodes = result
    }
}

/// Appends the elements of `items` not yet in `list`, in order.
func appendUnique(_ items: [String], to list: inout [String]) {
    for x in items where !list.contains(x) { list.append(x) }
}

/// `a` then the elements of `b` not in `a`.
func orderedUnion(_ a: [String], _ b: [String]) -> [String] {
    var r = a
    appendUnique(b, to: &r)
    return r
}
