import KiteCore

/// `Add(conv(x), other)` of two same-shape values, where the convolution has
/// no activation or residual yet and its output no other consumer, becomes the
/// convolution with `residual` and inputs [x, other]. The Add's activation (if
/// `fuse-activation` got there first) moves onto the convolution, which applies
/// it after the residual add; otherwise a following activation fuses later.
///
/// When `other` is available before the convolution runs the fused node stays
/// where the convolution was; otherwise it takes the Add's place (valid too:
/// only the Add read the convolution's output). With two candidate
/// convolutions (a projection shortcut) the one that runs later absorbs the Add.
public struct FuseResidualAdd: RewriteRule {
    public let name = "fuse-residual-add"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .binary(let add) = node.op, add.kind == .add, add.constant == nil,
              node.inputs.count == 2, node.outputs.count == 1, node.inputs[0] != node.inputs[1],
              let shape = graph.shapes[node.outputs[0]],
              graph.shapes[node.inputs[0]] == shape, graph.shapes[node.inputs[1]] == shape else { return nil }
        var best: (p: Int, conv: Convolution, x: [String], other: String)?
        for slot in 0..<2 {
            guard let (p, producer) = graph.fusableProducer(of: node.inputs[slot], uses),
                  case .conv(let c) = producer.op, c.activation == nil, !c.residual, producer.inputs.count == 1 else { continue }
            if best == nil || p > best!.p { best = (p, c, producer.inputs, node.inputs[1 - slot]) }
        }
        guard let (p, found, x, other) = best else { return nil }
        var conv = found
        let otherReady = uses.producer[other].map { $0 < p } ?? true
        conv.residual = true
        conv.activation = add.activation
        let fused = NativeNode(name: graph.nodes[p].name, op: .conv(conv), inputs: x + [other], outputs: node.outputs)
        return Rewrite(removing: [p, index], replacement: [fused], position: otherReady ? p : index, label: "Add")
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "fused \(rewrites) residual Add into Conv"
    }
}
