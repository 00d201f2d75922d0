import KiteCore

/// Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid and HardSwish into a standalone
/// ActivationOp (the optimizer fuses it into its producer).
enum ActivationLowering {
    typealias Bind = @Sendable (NodeContext) throws -> Activation

    static let rules: [OpRule] = [
        rule("Relu") { _ in .relu },
        rule("Sigmoid") { _ in .sigmoid },
        rule("LeakyRelu") { ctx in .leakyRelu(alpha: try ctx.float("alpha", default: 0.01)) },
        rule("HardSigmoid") { ctx in
            .hardSigmoid(alpha: try ctx.float("alpha", default: 0.2), beta: try ctx.float("beta", default: 0.5))
        },
        rule("HardSwish", since: 14) { _ in .hardSwish },
        rule("Clip", since: 1, clipFromAttributes),
        rule("Clip", since: 11, clipFromInputs),
    ]

    static func rule(_ opType: String, since: Int = 1, _ bind: @escaping Bind) -> OpRule {
        OpRule(opType, since: since, fold: { ctx in
            let activation = try bind(ctx)
            let x = try ctx.requireNumeric(0, "input")
            return [Evaluate.floats(x.floats.map { activation.apply($0) }, shape: x.shape)]
        }, lower: { ctx in
            let activation = try bind(ctx)
            _ = try ctx.shape(0)
            try ctx.emit(.activation(ActivationOp(activation)), inputs: [ctx.runtimeName(0)])
        })
    }

    /// Clip before opset 11: `min` and `max` attributes, unbounded when absent.
    static let clipFromAttributes: Bind = { ctx in
        try ctx.expectInputs(1)
        return .clip(min: try ctx.float("min", default: -.infinity), max: try ctx.float("max", default: .infinity))
    }

    /// Clip from opset 11: optional constant `min` and `max` inputs (absent or empty name: unbounded).
    static let clipFromInputs: Bind = { ctx in
        try ctx.expectInputs(1, 3)
        func bound(_ i: Int, _ what: String, _ unbounded: Float) throws -> Float {
            guard let t = try ctx.optionalFloats(i, "the \(what) input") else { return unbounded }
            guard t.count == 1 else { throw ctx.invalid("\(what) must be a scalar, found shape \(t.shape)") }
            return t.floats[0]
        }
        return .clip(min: try bound(1, "min", -.infinity), max: try bound(2, "max", .infinity))
    }
}
