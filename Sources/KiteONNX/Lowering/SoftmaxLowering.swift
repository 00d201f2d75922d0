import KiteCore

/// Softmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1)
/// and normalised over the flattened trailing dims: Reshape, Softmax(axis 1),
/// Reshape back, unless the input already is 2-D with axis 1. From 13 it is
/// one axis, default -1.
enum SoftmaxLowering {
    static let rules: [OpRule] = [
        OpRule("Softmax", since: 1, lower: lowerCoerced),
        OpRule("Softmax", since: 13, lower: lowerAxis),
    ]

    static let lowerCoerced: LowerFunction = { ctx in
        try ctx.expectInputs(1)
        let input = try ctx.shape(0)
        var axis = try ctx.int("axis", default: 1)
        if axis < 0 { axis += input.count }
        guard axis >= 0 && axis <= input.count else {
            throw ctx.invalid("axis \(axis) is out of range for rank \(input.count)", attribute: "axis")
        }
        let flat = [input[..<axis].reduce(1, *), input[axis...].reduce(1, *)]
        if input.count == 2 && axis == 1 {
            try ctx.emit(.softmax(Softmax(axis: 1)), inputs: [ctx.runtimeName(0)])
            return
        }
        let x = try ctx.emitIntermediate(.reshape(Reshape(shape: flat)), inputs: [ctx.runtimeName(0)], suffix: "flatten")
        let y = try ctx.emitIntermediate(.softmax(Softmax(axis: 1)), inputs: [x.name], suffix: "softmax")
        try ctx.emit(.reshape(Reshape(shape: input)), inputs: [y.name], suffix: "unflatten")
    }

    static let lowerAxis: LowerFunction = { ctx in
        try ctx.expectInputs(1)
        let input = try ctx.shape(0)
        let axis = try ctx.normalizeAxis(try ctx.int("axis", default: -1), rank: input.count)
        try ctx.emit(.softmax(Softmax(axis: axis)), inputs: [ctx.runtimeName(0)])
    }
}
