import KiteCore

/// Ops that produce no native node: Constant, Shape and Size (always constants,
/// since every shape is known), and Identity, Dropout and Cast to a float type
/// (aliases of their input).
enum PassThroughLowering {
    static let rules: [OpRule] = [
        OpRule("Constant", since: 1, fold: constant),
        OpRule("Shape", since: 1, fold: shape, lower: { ctx in ctx.setConstant(0, try shape(ctx)[0]) }),
        OpRule("Size", since: 1, fold: size, lower: { ctx in ctx.setConstant(0, try size(ctx)[0]) }),
        OpRule("Identity", since: 1, fold: identity, lower: { ctx in try ctx.alias(output: 0, toInput: 0) }),
        OpRule("Dropout", since: 1, fold: { ctx in try dropoutCheck(ctx); return try identity(ctx) },
               lower: { ctx in try dropoutCheck(ctx); try ctx.alias(output: 0, toInput: 0) }),
        OpRule("Cast", since: 1, fold: cast, lower: lowerCast),
    ]

    /// The value of a Constant node: `value`, `value_float(s)` or `value_int(s)`.
    static let constant: FoldFunction = { ctx in
        if let t = try ctx.tensorAttribute("value") {
            if case .opaque = t.storage { throw ctx.unsupported("a constant of type \(t.elementType)", attribute: "value") }
            return [t]
        }
        if let f = try ctx.float("value_float") { return [Evaluate.floats([f], shape: [])] }
        if let f = try ctx.floats("value_floats") { return [Evaluate.floats(f, shape: [f.count])] }
        if let i = try ctx.int("value_int") { return [Evaluate.ints([Int64(i)], shape: [])] }
        if let i = try ctx.ints("value_ints") { return [Evaluate.ints(i.map { Int64($0) })] }
        for other in ["sparse_value", "value_string", "value_strings"] where ctx.has(other) {
            throw ctx.unsupported("constants given as \(other)", attribute: other)
        }
        throw ctx.invalid("Constant has no value attribute")
    }

    /// The input's shape as int64, cut to [start, end) (opset 15; negative counts from the end, clamped).
    static let shape: FoldFunction = { ctx in
        try ctx.expectInputs(1)
        let dims = try ctx.shape(0)
        var start = ctx.opset >= 15 ? try ctx.int("start", default: 0) : 0
        var end = ctx.opset >= 15 ? try ctx.int("end", default: dims.count) : dims.count
        if start < 0 { start += dims.count }
        if end < 0 { end += dims.count }
        start = min(max(start, 0), dims.count)
        end = min(max(end, 0), dims.count)
        return [Evaluate.ints(start < end ? dims[start..<end].map { Int64($0) } : [])]
    }

    static let size: FoldFunction = { ctx in
        try ctx.expectInputs(1)
        return [Evaluate.ints([Int64(try ctx.shape(0).reduce(1, *))], shape: [])]
    }

    static let identity: FoldFunction = { ctx in
        [try ctx.requireConstant(0, "input")]
    }

    /// The mask output must be unused; an explicit training_mode=true (opset 12) is unsupported.
    static func dropoutCheck(_ ctx: NodeContext) throws {
        if ctx.isOutputUsed(1) {
            throw ctx.unsupported("the mask output ('\(ctx.outputName(1))') is used")
        }
        if ctx.opset >= 12, ctx.hasInput(2) {
            guard let mode = try ctx.constant(2) else {
                throw ctx.unsupported("training_mode is computed at runtime")
            }
            if mode.ints.contains(where: { $0 != 0 }) { throw ctx.unsupported("training_mode is true") }
        }
    }

    static func target(_ ctx: NodeContext) throws -> ElementType {
        try ctx.expectInputs(1)
        guard let code = try ctx.int("to") else { throw ctx.invalid("the to attribute is missing", attribute: "to") }
        guard let type = Int32(exactly: code).flatMap(ElementType.init(rawValue:)), type != .undefined else {
            throw ctx.invalid("unknown element type \(code)", attribute: "to")
        }
        return type
    }

    static let cast: FoldFunction = { ctx in
        let type = try target(ctx)
        guard type.isFloatingPoint || type.isInteger else {
            throw ctx.unsupported("cast to \(type)", attribute: "to")
        }
        return [Evaluate.cast(try ctx.requireNumeric(0, "input"), to: type)]
    }

    /// A runtime value is float32 already: a cast to any float type is an alias.
    static let lowerCast: LowerFunction = { ctx in
        let type = try target(ctx)
        guard type.isFloatingPoint else {
            throw ctx.unsupported("cast of runtime data to \(type) (Kite computes in float32)", attribute: "to")
        }
        try ctx.alias(output: 0, toInput: 0)
    }
}
