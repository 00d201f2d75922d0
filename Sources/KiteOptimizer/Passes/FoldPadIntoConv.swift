import KiteCore

/// A zero Pad of only the spatial axes of an NCHW value, read by one
/// convolution or average pool, becomes its padding (exporters write explicit
/// Pads for TensorFlow-style "same" padding and asymmetric pads, and PyTorch's
/// exporter below opset 11 writes `avg_pool2d(padding=p)` as Pad + AveragePool).
public struct FoldPadIntoConv: RewriteRule {
    public let name = "fold-pad-into-conv"
    public init() {}

    public func match(at index: Int, in graph: NativeGraph, _ uses: GraphIndex) throws -> Rewrite? {
        let node = graph.nodes[index]
        guard !node.inputs.isEmpty,
              let (p, padNode) = graph.fusableProducer(of: node.inputs[0], uses),
              case .pad(let pad) = padNode.op, pad.mode == .constant, pad.value == 0, padNode.inputs.count == 1, pad.pads.count == 8,
              pad.pads.allSatisfy({ $0 >= 0 }), pad.pads[0] == 0, pad.pads[1] == 0, pad.pads[4] == 0, pad.pads[5] == 0
        else { return nil }
        // ONNX order [n0, c0, h0, w0, n1, c1, h1, w1]; conv and pool pads [top, left, bottom, right].
        let extra = [pad.pads[2], pad.pads[3], pad.pads[6], pad.pads[7]]
        let op: Op
        switch node.op {
        case .conv(var conv) where conv.pads.count == 4:
            conv.pads = zip(conv.pads, extra).map { $0 + $1 }
            op = .conv(conv)
        case .pool(var pool) where pool.kind == .average && pool.pads.count == 4 && !pool.ceilMode
            && (pool.countIncludePad || pool.pads.allSatisfy { $0 == 0 }):
            // The padded zeros were counted in the divisor: they still are. (With ceil mode a
            // window may start in the end padding, which ONNX drops only for its own pads.)
            pool.pads = zip(pool.pads, extra).map { $0 + $1 }
            pool.countIncludePad = true
            op = .pool(pool)
        default:
            return nil
        }
        let fused = NativeNode(name: node.name, op: op, inputs: padNode.inputs + node.inputs.dropFirst(), outputs: node.outputs)
        return Rewrite(removing: [p, index], replacement: [fused], label: "Pad")
    }

    public func summary(rewrites: Int, tally: [String: Int]) -> String {
        "folded \(rewrites) Pad into Conv/AveragePool padding"
    }
}
