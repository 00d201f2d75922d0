import KiteCore

/// Constant, Shape and Size (always constants, since every shape is known),
/// Identity (an alias), Dropout (an alias in inference, with a constant all-true
/// mask; the native Dropout in training mode), and Cast / CastLike (an alias when
/// the type does not change, else the native Cast).
enum PassThroughLowering {
    static let rules: [OpRule] = [
        OpRule("Constant", since: 1, fold: constant),
        OpRule("Shape", since: 1, fold: shape, lower: { ctx in ctx.setConstant(0, try shape(ctx)[0]) }),
        OpRule("Size", since: 1, fold: size, lower: { ctx in ctx.setConstant(0, try size(ctx)[0]) }),
        OpRule("Identity", since: 1, fold: identity, lower: { ctx in try ctx.alias(output: 0, toInput: 0) }),
        OpRule("Dropout", since: 1, fold: dropoutFold, lower: dropoutLower),
        OpRule("Cast", since: 1, fold: cast, lower: lowerCast),
        OpRule("CastLike", since: 15, fold: castLike, lower: lowerCastLike),
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

    /// The native Dropout for this node: ratio (attribute before opset 12, then an optional
    /// constant input, default 0.5), training_mode (opset 12, constant input) and seed.
    static func dropoutOp(_ ctx: NodeContext) throws -> Dropout {
        var ratio: Float = try ctx.float("ratio", default: 0.5)
        var training = false
        if ctx.opset >= 12 {
            ratio = 0.5
            if ctx.hasInput(1) {
                let r = try ctx.requireNumeric(1, "the ratio input")
                guard r.count == 1 else { throw ctx.invalid("ratio must be a scalar, found shape \(r.shape)") }
                ratio = r.floats[0]
            }
            if ctx.hasInput(2) {
                let mode = try ctx.requireNumeric(2, "the training_mode input")
                training = mode.ints.contains { $0 != 0 }
            }
        }
        guard ratio >= 0 && ratio < 1 else { throw ctx.invalid("ratio \(ratio) is outside [0, 1)") }
        let seed = UInt32(truncatingIfNeeded: try ctx.int("seed", default: 0))
        return Dropout(ratio: ratio, training: training, seed: seed, withMask: ctx.isOutputUsed(1))
    }

    static let dropoutFold: FoldFunction = { ctx in
        var op = try dropoutOp(ctx)
        op.withMask = true
        let x = try ctx.requireNumeric(0, "input")
        guard op.training && op.ratio > 0 else {
            return [x, Tensor(elementType: .bool, shape: x.shape, storage: .ints([Int64](repeating: 1, count: x.count)))]
        }
        return try op.reference([x])
    }

    /// Inference (or ratio 0): the output is the input and the mask a constant of trues.
    static let dropoutLower: LowerFunction = { ctx in
        let op = try dropoutOp(ctx)
        if op.training && op.ratio > 0 {
            try ctx.emit(.dropout(op), inputs: [ctx.runtimeName(0)], outputs: op.withMask ? [0, 1] : [0])
            return
        }
        try ctx.alias(output: 0, toInput: 0)
        if op.withMask {
            let shape = try ctx.shape(0)
            ctx.setConstant(1, Tensor(elementType: .bool, shape: shape, storage: .ints([Int64](repeating: 1, count: shape.reduce(1, *)))))
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

    /// Cast's `saturate` (opset 19, float8 targets) and `round_mode` (opset 24, float8e8m0).
    static func castOp(_ ctx: NodeContext, to type: ElementType) throws -> Cast {
        guard type.isFloatingPoint || type.isInteger else {
            throw ctx.unsupported("cast to \(type)", attribute: "to")
        }
        let saturate = ctx.opset >= 19 ? try ctx.int("saturate", default: 1) != 0 : true
        let mode = try ctx.string("round_mode", default: "up")
        guard let rounding = E8M0Rounding(rawValue: mode) else {
            throw ctx.invalid("unknown round_mode '\(mode)'", attribute: "round_mode")
        }
        return Cast(to: type, saturate: saturate, rounding: rounding)
    }

    static let cast: FoldFunction = { ctx in
        let op = try castOp(ctx, to: try target(ctx))
        return [Evaluate.cast(try ctx.requireNumeric(0, "input"), to: op.to, saturate: op.saturate, rounding: op.rounding)]
    }

    /// An alias when the type does not change, else the native Cast.
    static let lowerCast: LowerFunction = { ctx in
        let op = try castOp(ctx, to: try target(ctx))
        try emitCast(ctx, op)
    }

    static func emitCast(_ ctx: NodeContext, _ op: Cast) throws {
        if try ctx.elementType(0) == op.to {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        if let x = try ctx.constant(0) {
            if case .opaque = x.storage { throw ctx.unsupported("input of type \(x.elementType)") }
            ctx.setConstant(0, Evaluate.cast(x, to: op.to, saturate: op.saturate, rounding: op.rounding))
            return
        }
        try ctx.emit(.cast(op), inputs: [ctx.runtimeName(0)])
    }

    /// CastLike(input, target_type): Cast to the element type of the second input.
    static let castLike: FoldFunction = { ctx in
        try ctx.expectInputs(2)
        let op = try castOp(ctx, to: try ctx.elementType(1))
        return [Evaluate.cast(try ctx.requireNumeric(0, "input"), to: op.to, saturate: op.saturate, rounding: op.rounding)]
    }

    static let lowerCastLike: LowerFunction = { ctx in
        try ctx.expectInputs(2)
        try emitCast(ctx, try castOp(ctx, to: try ctx.elementType(1)))
    }
}
