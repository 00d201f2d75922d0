/// A deterministic text form of a native graph, one line per value or node,
/// for snapshot tests and `kite inspect`. Weights are summarised by their
/// parameters, never printed; the same graph always gives the same bytes.
///
///     input x [1,3,32,32]
///     conv1 Conv/DepthwiseConv (x) -> (conv1_out [1,3,16,16]) k=3x3 s=2,2 p=1,1,1,1 d=1,1 g=3 cout=3 bias act=ReLU6
///     output conv1_out [1,3,16,16]
extension NativeGraph {
    /// The dump, lines joined with "\n" and a final newline. With `origins`, each
    /// node line ends with the ONNX nodes it came from (`<- a, b`).
    public func dump(origins: Bool = false) -> String {
        var lines: [String] = []
        for i in inputs { lines.append("input \(i.name) \(fmtShape(i.shape))") }
        for n in nodes { lines.append(n.dumpLine(shapes: shapes, origins: origins)) }
        for o in outputs { lines.append("output \(o.name) \(fmtShape(o.shape))") }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension NativeNode {
    /// One line: name, type (and kind when more specific), inputs -> outputs with
    /// their shapes, then the op's key parameters (fused activation included).
    public func dumpLine(shapes: [String: [Int]], origins: Bool = false) -> String {
        let type = op.kindName == op.typeName ? op.typeName : "\(op.typeName)/\(op.kindName)"
        let outs = outputs.map { o in shapes[o].map { "\(o) \(fmtShape($0))" } ?? "\(o) ?" }
        var line = "\(name) \(type) (\(inputs.joined(separator: ", "))) -> (\(outs.joined(separator: ", ")))"
        let params = op.parameterSummary
        if !params.isEmpty { line += " " + params }
        if origins && !origin.isEmpty { line += " <- " + origin.joined(separator: ", ") }
        return line
    }
}
