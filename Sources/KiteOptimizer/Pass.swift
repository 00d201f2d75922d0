import KiteCore

/// A small named rewrite of a native graph, run by `PassManager` until the graph
/// stops changing.
///
/// Most passes are a `RewriteRule` (match a pattern at one node, return the
/// replacement); the few that are not implement `apply(_:)` themselves.
public protocol Pass: Sendable {
    /// The name used by `--passes`, in reports and in each rewritten node's `passes`.
    var name: String { get }
    /// Rewrites the graph and returns how many rewrites it made (0: unchanged).
    func apply(_ graph: inout NativeGraph) throws -> Int
    /// Like `apply(_:)`, also counting what was rewritten by label ("ReLU6", "BatchNormalization").
    func apply(_ graph: inout NativeGraph, tally: inout [String: Int]) throws -> Int
    /// One line for the conversion report ("folded 52 BatchNormalization into Conv").
    func summary(rewrites: Int, tally: [String: Int]) -> String
}

extension Pass {
    public func apply(_ graph: inout NativeGraph, tally: inout [String: Int]) throws -> Int {
        let n = try apply(&graph)
        if n > 0 { tally[name, default: 0] += n }
        return n
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "\(name): \(rewrites) rewrite\(rewrites == 1 ? "" : "s")"
    }
}

/// A pass made of one rule: at each node, `match` either declines or returns
/// the rewrite to make there. The driver applies it (see `NativeGraph.apply`),
/// refreshes the index and looks again from the first node it touched.
public protocol RewriteRule: Pass {
    /// The rewrite anchored at node `index`, or nil.
    func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite?
}

extension RewriteRule {
    public func apply(_ graph: inout NativeGraph) throws -> Int {
        var tally: [String: Int] = [:]
        return try apply(&graph, tally: &tally)
    }

    public func apply(_ graph: inout NativeGraph, tally: inout [String: Int]) throws -> Int {
        var count = 0
        var uses = GraphIndex(graph)
        var i = 0
        let limit = 16 * graph.nodes.count + 1024
        while i < graph.nodes.count {
            guard let rewrite = try match(at: i, in: graph, uses) else {
                i += 1
                continue
            }
            let first = min(rewrite.removing.min() ?? i, rewrite.position ?? Int.max)
            try graph.apply(rewrite, pass: name)
            uses = GraphIndex(graph)
            count += 1
            tally[rewrite.label ?? name, default: 0] += 1
            guard count <= limit else {
                throw KiteError.invalidNode(ErrorContext(node: graph.nodes[min(first, graph.nodes.count - 1)].name),
                                            "pass '\(name)' keeps rewriting its own output (\(count) rewrites)")
            }
            i = first
        }
        return count
    }
}

/// "30 ReLU6, 5 ReLU": labels by count, largest first.
func tallyText(_ tally: [String: Int]) -> String {
    tally.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
}
