import KiteCore

/// ReduceMean (native at runtime: MobileNetV3's squeeze-excite mean) and
/// ReduceSum / ReduceProd / ReduceMax / ReduceMin on constants.
enum ReduceLowering {
    static let rules: [OpRule] = [
        OpRule("ReduceMean", since: 1, fold: { try fold($0, .mean, axesInputFrom: 18) }, lower: lowerMean),
        OpRule("ReduceSum", since: 1, fold: { try fold($0, .sum, axesInputFrom: 13) }),
        OpRule("ReduceProd", since: 1, fold: { try fold($0, .prod, axesInputFrom: 18) }),
        OpRule("ReduceMax", since: 1, fold: { try fold($0, .max, axesInputFrom: 18) }),
        OpRule("ReduceMin", since: 1, fold: { try fold($0, .min, axesInputFrom: 18) }),
    ]

    /// The reduced axes (normalised, sorted; nil means "leave the input as is") and keepdims.
    /// Axes are an attribute before `axesInputFrom`, an optional input from it; empty axes
    /// reduce everything unless noop_with_empty_axes=1.
    static func bind(_ ctx: NodeContext, axesInputFrom version: Int) throws -> (axes: [Int]?, keepDims: Bool) {
        let rank = try ctx.shape(0).count
        let keepDims = try ctx.int("keepdims", default: 1) != 0
        let given = try ShapeOpLowering.axes(ctx, inputIndex: 1, attributeBefore: version) ?? []
        if given.isEmpty {
            if ctx.opset >= version, try ctx.int("noop_with_empty_axes", default: 0) != 0 { return (nil, keepDims) }
            return (Array(0..<rank), keepDims)
        }
        return (try ctx.normalizeAxes(given, rank: rank), keepDims)
    }

    static func fold(_ ctx: NodeContext, _ kind: Evaluate.ReduceKind, axesInputFrom version: Int) throws -> [Tensor] {
        let data = try ctx.requireNumeric(0, "data")
        let (axes, keepDims) = try bind(ctx, axesInputFrom: version)
        guard let axes else { return [data] }
        return [Evaluate.reduce(kind, data, axes: axes, keepDims: keepDims)]
    }

    static let lowerMean: LowerFunction = { ctx in
        let (axes, keepDims) = try bind(ctx, axesInputFrom: 18)
        guard let axes else {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        try ctx.emit(.reduceMean(ReduceMean(axes: axes, keepDims: keepDims)), inputs: [ctx.runtimeName(0)])
    }
}
