import KiteCore

/// BatchNormalization (inference) into a per-channel ScaleShift:
/// y = (x - mean) / sqrt(var + eps) * scale + B = x * s + (B - mean * s).
enum NormalizationLowering {
    static let rules: [OpRule] = [
        OpRule("BatchNormalization", since: 1, lower: lower),
    ]

    static let lower: LowerFunction = { ctx in
        try ctx.expectInputs(5)
        let input = try ctx.shape(0)
        guard input.count >= 2 else { throw ctx.mismatch("input \(input) has no channel axis") }
        if ctx.opset < 9, try ctx.int("spatial", default: 1) == 0 {
            throw ctx.unsupported("spatial=0 (per-element statistics)", attribute: "spatial")
        }
        if ctx.opset >= 14, try ctx.int("training_mode", default: 0) != 0 {
            throw ctx.unsupported("training_mode=1", attribute: "training_mode")
        }
        // Training outputs (running statistics, saved mean/var) are fine while nothing reads them.
        for i in 1..<max(ctx.node.outputs.count, 1) where ctx.isOutputUsed(i) {
            throw ctx.unsupported("training output \(i) ('\(ctx.outputName(i))') is used")
        }
        let epsilon = try ctx.float("epsilon", default: 1e-5)
        let channels = input[1]
        let names = ["scale", "B", "mean", "var"]
        var params: [[Float]] = []
        for (i, name) in names.enumerated() {
            let t = try ctx.requireNumeric(i + 1, "the \(name) input")
            guard t.count == channels else {
                throw ctx.mismatch("\(name) has shape \(t.shape) but the input \(input) has \(channels) channels")
            }
            params.append(t.floats)
        }
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let s = Double(params[0][c]) / (Double(params[3][c]) + Double(epsilon)).squareRoot()
            scale[c] = Float(s)
            shift[c] = Float(Double(params[1][c]) - Double(params[2][c]) * s)
        }
        try ctx.emit(.scaleShift(ScaleShift(scale: scale, shift: shift)), inputs: [ctx.runtimeName(0)])
    }
}
