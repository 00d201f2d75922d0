import KiteCore

/// Decomposed HardSwish becomes one ActivationOp(.hardSwish), which
/// `fuse-activation` can then fuse into the producing convolution.
///
/// Exporter variants (x the same value throughout, every intermediate with one consumer):
/// - `x * HardSigmoid(x)` with alpha 1/6 and beta 1/2, either operand order;
/// - `x * Clip(x + 3, 0, 6) / 6`, i.e. `(x * r) / 6`, `(x * r) * (1/6)`,
///   `x * (r / 6)` and `x * (r * (1/6))`, with r = Clip(x + 3, 0, 6) written
///   as an Add and a Clip or as an Add with a fused ReLU6.
public struct RecogniseHardSwish: RewriteRule {
    public let name = "recognise-hardswish"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard case .binary(let b) = node.op, b.activation == nil, node.outputs.count == 1 else { return nil }
        var found: (x: String, nodes: [Int])?
        if b.constant == nil, b.kind == .mul, node.inputs.count == 2 {
            // x * h(x)
            for (x, h) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] where found == nil {
                if let nodes = hardSigmoid(of: x, value: h, graph, uses) { found = (x, nodes) }
            }
        } else if isDivisionBySix(b), node.inputs.count == 1,
                  let (m, mul) = graph.fusableProducer(of: node.inputs[0], uses),
                  case .binary(let mb) = mul.op, mb.kind == .mul, mb.constant == nil, mb.activation == nil, mul.inputs.count == 2 {
            // (x * relu6(x + 3)) / 6
            for (x, r) in [(mul.inputs[0], mul.inputs[1]), (mul.inputs[1], mul.inputs[0])] where found == nil {
                if let nodes = relu6OfXPlus3(x: x, value: r, graph, uses) { found = (x, nodes + [m]) }
            }
        }
        guard let (x, matched) = found, graph.shapes[x] == graph.shapes[node.outputs[0]] else { return nil }
        let hswish = NativeNode(name: node.name, op: .activation(ActivationOp(.hardSwish)), inputs: [x], outputs: node.outputs)
        return Rewrite(removing: matched + [index], replacement: [hswish], label: "HardSwish")
    }

    /// The nodes computing `value` = hardsigmoid(x) = relu6(x + 3) / 6.
    func hardSigmoid(of x: String, value: String, _ graph: NativeGraph, _ uses: GraphIndex) -> [Int]? {
        guard let (h, node) = graph.fusableProducer(of: value, uses), node.inputs.count == 1 else { return nil }
        switch node.op {
        case .activation(let a):
            guard case .hardSigmoid(let alpha, let beta) = a.activation, node.inputs[0] == x,
                  approximatelyEqual(alpha, 1 / 6), approximatelyEqual(beta, 0.5) else { return nil }
            return [h]
        case .binary(let b) where b.activation == nil && isDivisionBySix(b):
            return relu6OfXPlus3(x: x, value: node.inputs[0], graph, uses).map { $0 + [h] }
        default:
            return nil
        }
    }

    /// The nodes computing `value` = clip(x + 3, 0, 6).
    func relu6OfXPlus3(x: String, value: String, _ graph: NativeGraph, _ uses: GraphIndex) -> [Int]? {
        guard let (r, node) = graph.fusableProducer(of: value, uses), node.inputs.count == 1 else { return nil }
        switch node.op {
        case .activation(let a) where isReLU6(a.activation):
            guard let (p, add) = graph.fusableProducer(of: node.inputs[0], uses), add.inputs == [x],
                  case .binary(let b) = add.op, b.activation == nil, isPlusThree(b) else { return nil }
            return [p, r]
        case .binary(let b) where b.activation.map(isReLU6) == true && isPlusThree(b) && node.inputs == [x]:
            return [r]
        default:
            return nil
        }
    }

    func isReLU6(_ a: Activation) -> Bool {
        if case .clip(let lo, let hi) = a { return lo == 0 && approximatelyEqual(hi, 6) }
        return false
    }

    func isPlusThree(_ b: Binary) -> Bool {
        guard b.kind == .add, let c = b.constant else { return false }
        return ConstantValue.isScalar(c, 3)
    }

    /// `v / 6` or `v * (1/6)` (either side).
    func isDivisionBySix(_ b: Binary) -> Bool {
        guard let c = b.constant else { return false }
        switch b.kind {
        case .div: return !b.constantOnLeft && ConstantValue.isScalar(c, 6)
        case .mul: return ConstantValue.isScalar(c, 1 / 6)
        default: return false
        }
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "recognised \(rewrites) decomposed HardSwish"
    }
}
