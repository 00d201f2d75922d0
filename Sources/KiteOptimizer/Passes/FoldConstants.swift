import KiteCore

/// A node whose inputs all come from Constant nodes is evaluated with its
/// reference implementation and becomes Constant nodes (one per output).
/// The Constants it read stay until `remove-dead-nodes` finds them unused.
/// Declines when the reference cannot evaluate the node (the runtime reports
/// it) or when the result would be much larger than its inputs.
public struct FoldConstants: RewriteRule {
    public let name = "fold-constants"
    public init() {}

    /// Elements a folded result may have beyond its inputs' total.
    static let growthAllowance = 1 << 16

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        if case .constant = node.op { return nil }
        guard !node.inputs.isEmpty else { return nil }
        var values: [Tensor] = []
        for v in node.inputs {
            guard let (_, p) = graph.producer(of: v, uses), case .constant(let c) = p.op, p.outputs.count == 1 else { return nil }
            values.append(c.value)
        }
        // An op that cannot evaluate these constants is left for the runtime to report.
        guard let results = try? node.op.nativeOperator.reference(values), results.count == node.outputs.count else { return nil }
        // Folding must not blow a small constant up into a large one (a broadcast).
        let before = values.reduce(0) { $0 + $1.count }, after = results.reduce(0) { $0 + $1.count }
        guard after <= max(before, Self.growthAllowance) else { return nil }
        let constants = zip(node.outputs, results).enumerated().map { k, pair in
            NativeNode(name: node.outputs.count == 1 ? node.name : "\(node.name)_\(k)",
                       op: .constant(Constant(pair.1)), inputs: [], outputs: [pair.0])
        }
        return Rewrite(removing: [index], replacement: constants, label: node.op.typeName)
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "folded \(tallyText(tally)) with constant inputs into Constant"
    }
}
