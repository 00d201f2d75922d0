import KiteCore

/// ReduceMean (native at runtime: MobileNetV3's squeeze-excite mean) and
/// ReduceSum / ReduceProd / ReduceMax / ReduceMin (folded on constants, the
/// reference-only native Reduce at runtime).
enum ReduceLowering {
    static let rules: [OpRule] = [
        OpRule("ReduceMean", since: 1, fold: fold(.mean, .attribute), lower: lowerMean(.attribute)),
        OpRule("ReduceMean", since: 18, fold: fold(.mean, .input), lower: lowerMean(.input)),
        OpRule("ReduceSum", since: 1, fold: fold(.sum, .attribute), lower: lower(.sum, .attribute)),
        OpRule("ReduceSum", since: 13, fold: fold(.sum, .input), lower: lower(.sum, .input)),
        OpRule("ReduceProd", since: 1, fold: fold(.prod, .attribute), lower: lower(.prod, .attribute)),
        OpRule("ReduceProd", since: 18, fold: fold(.prod, .input), lower: lower(.prod, .input)),
        OpRule("ReduceMax", since: 1, fold: fold(.max, .attribute), lower: lower(.max, .attribute)),
        OpRule("ReduceMax", since: 18, fold: fold(.max, .input), lower: lower(.max, .input)),
        OpRule("ReduceMin", since: 1, fold: fold(.min, .attribute), lower: lower(.min, .attribute)),
        OpRule("ReduceMin", since: 18, fold: fold(.min, .input), lower: lower(.min, .input)),
    ]

    /// ReduceSum / Prod / Max / Min at runtime: the reference-only native Reduce.
    static func lower(_ kind: Reduce.Kind, _ form: ShapeOpLowering.AxesForm) -> LowerFunction {
        { ctx in
            let (axes, keepDims) = try bind(ctx, form)
            guard let axes else {
                try ctx.alias(output: 0, toInput: 0)
                return
            }
            try ctx.emit(.reduce(Reduce(kind: kind, axes: axes, keepDims: keepDims)), inputs: [ctx.runtimeName(0)])
        }
    }

    /// The reduced axes (normalised, sorted; nil means "leave the input as is") and keepdims.
    /// Axes are an attribute in the older form, an optional input in the newer one, where
    /// empty axes reduce everything unless noop_with_empty_axes=1.
    static func bind(_ ctx: NodeContext, _ form: ShapeOpLowering.AxesForm) throws -> (axes: [Int]?, keepDims: Bool) {
        let rank = try ctx.shape(0).count
        let keepDims = try ctx.int("keepdims", default: 1) != 0
        let given = try ShapeOpLowering.axes(ctx, form) ?? []
        if given.isEmpty {
            if form == .input, try ctx.int("noop_with_empty_axes", default: 0) != 0 { return (nil, keepDims) }
            return (Array(0..<rank), keepDims)
        }
        return (try ctx.normalizeAxes(given, rank: rank), keepDims)
    }

    static func fold(_ kind: Evaluate.ReduceKind, _ form: ShapeOpLowering.AxesForm) -> FoldFunction {
        { ctx in
            let data = try ctx.requireNumeric(0, "data")
            let (axes, keepDims) = try bind(ctx, form)
            guard let axes else { return [data] }
            return [Evaluate.reduce(kind, data, axes: axes, keepDims: keepDims)]
        }
    }

    static func lowerMean(_ form: ShapeOpLowering.AxesForm) -> LowerFunction {
        { ctx in try lowerMean(ctx, form) }
    }

    static func lowerMean(_ ctx: NodeContext, _ form: ShapeOpLowering.AxesForm) throws {
        let (axes, keepDims) = try bind(ctx, form)
        guard let axes else {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        try ctx.emit(.reduceMean(ReduceMean(axes: axes, keepDims: keepDims)), inputs: [ctx.runtimeName(0)])
    }
}
