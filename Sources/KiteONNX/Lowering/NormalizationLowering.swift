import KiteCore

/// BatchNormalization (inference) into a per-channel ScaleShift:
/// y = (x - mean) / sqrt(var + eps) * scale + B = x * s + (B - mean * s).
/// In training mode (opset 14+) the batch statistics are computed at runtime
/// (ReduceMean, Sub, Mul, Sqrt, Div) and the running mean and variance outputs
/// are `running * momentum + batch * (1 - momentum)`.
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
            try lowerTraining(ctx, input: input)
            return
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
            // A variance plus epsilon that is not positive (or NaN) gives NaN or infinite outputs.
            let denominator = Double(params[3][c]) + Double(epsilon)
            guard denominator > 0, denominator.isFinite else {
                throw ctx.invalid("var + epsilon is \(denominator) for channel \(c); it must be positive")
            }
            let s = Double(params[0][c]) / denominator.squareRoot()
            scale[c] = Float(s)
            shift[c] = Float(Double(params[1][c]) - Double(params[2][c]) * s)
        }
        try ctx.emit(.scaleShift(ScaleShift(scale: scale, shift: shift)), inputs: [ctx.runtimeName(0)])
    }

    /// Training mode: normalise with the batch's own mean and (population) variance over every
    /// axis but the channel axis; scale, B, mean and var must be constants.
    static func lowerTraining(_ ctx: NodeContext, input: [Int]) throws {
        for i in 3..<max(ctx.node.outputs.count, 3) where ctx.isOutputUsed(i) {
            throw ctx.unsupported("training output \(i) ('\(ctx.outputName(i))') is used")
        }
        let epsilon = try ctx.float("epsilon", default: 1e-5)
        let momentum = try ctx.float("momentum", default: 0.9)
        let channels = input[1]
        var params: [[Float]] = []
        for (i, name) in ["scale", "B", "mean", "var"].enumerated() {
            let t = try ctx.requireNumeric(i + 1, "the \(name) input")
            guard t.count == channels else {
                throw ctx.mismatch("\(name) has shape \(t.shape) but the input \(input) has \(channels) channels")
            }
            params.append(t.floats)
        }
        let axes = input.indices.filter { $0 != 1 }
        let perChannel = input.indices.map { $0 == 1 ? channels : 1 }
        func channelConstant(_ v: [Float]) -> Tensor { Evaluate.floats(v, shape: perChannel) }
        let x = try ctx.runtimeName(0)
        let mean = try ctx.emitIntermediate(.reduceMean(ReduceMean(axes: axes, keepDims: true)), inputs: [x], suffix: "batch_mean")
        let centered = try ctx.emitIntermediate(.binary(Binary(kind: .sub)), inputs: [x, mean.name], suffix: "centered")
        let squared = try ctx.emitIntermediate(.binary(Binary(kind: .mul)), inputs: [centered.name, centered.name], suffix: "squared")
        let variance = try ctx.emitIntermediate(.reduceMean(ReduceMean(axes: axes, keepDims: true)), inputs: [squared.name], suffix: "batch_var")
        let shifted = try ctx.emitIntermediate(.binary(Binary(kind: .add, constant: Evaluate.floats([epsilon], shape: []))),
                                               inputs: [variance.name], suffix: "var_eps")
        let deviation = try ctx.emitIntermediate(.unary(Unary(.sqrt)), inputs: [shifted.name], suffix: "std")
        let normalized = try ctx.emitIntermediate(.binary(Binary(kind: .div)), inputs: [centered.name, deviation.name], suffix: "normalized")
        let scaled = try ctx.emitIntermediate(.binary(Binary(kind: .mul, constant: channelConstant(params[0]))),
                                              inputs: [normalized.name], suffix: "scaled")
        try ctx.emit(.binary(Binary(kind: .add, constant: channelConstant(params[1]))), inputs: [scaled.name], outputs: [0], suffix: "shifted")
        // Running statistics: running * momentum + batch * (1 - momentum).
        for (output, batch, running) in [(1, mean.name, params[2]), (2, variance.name, params[3])] where ctx.isOutputUsed(output) {
            let flat = try ctx.emitIntermediate(.reshape(Reshape(shape: [channels])), inputs: [batch], suffix: "stat\(output)")
            let weighted = try ctx.emitIntermediate(.binary(Binary(kind: .mul, constant: Evaluate.floats([1 - momentum], shape: []))),
                                                    inputs: [flat.name], suffix: "stat\(output)_weighted")
            try ctx.emit(.binary(Binary(kind: .add, constant: Evaluate.floats(running.map { $0 * momentum }, shape: [channels]))),
                         inputs: [weighted.name], outputs: [output], suffix: "running\(output)")
        }
    }
}
