import KiteCore

/// Add, Sub, Mul and Div: folded on constants (integer Div truncates toward
/// zero, as onnxruntime does); at runtime a native Binary, with a constant
/// operand absorbed into `Binary.constant`.
enum ElementwiseLowering {
    static let rules: [OpRule] = [
        rule("Add", .add, .add),
        rule("Sub", .sub, .sub),
        rule("Mul", .mul, .mul),
        rule("Div", .div, .div),
    ]

    static func rule(_ opType: String, _ fold: Evaluate.BinaryKind, _ kind: Binary.Kind) -> OpRule {
        OpRule(opType, since: 1, fold: { ctx in
            try ctx.expectInputs(2)
            let (a, b) = try operands(ctx)
            return [try evaluate(ctx, fold, a, b)]
        }, lower: { ctx in
            try lower(ctx, kind)
        })
    }

    /// Both operands as constants, the second aligned for opset < 7's `broadcast`/`axis`.
    static func operands(_ ctx: NodeContext) throws -> (Tensor, Tensor) {
        let a = try ctx.requireNumeric(0, "input A")
        var b = try ctx.requireNumeric(1, "input B")
        if let shape = try legacyBroadcastShape(ctx, a: a.shape, b: b.shape) { b = Evaluate.reshaped(b, shape) }
        return (a, b)
    }

    /// Before opset 7, `broadcast=1` with `axis` aligns B's dims starting at `axis` of A;
    /// the aligned shape (B's dims padded with trailing 1s) then broadcasts numpy-style.
    static func legacyBroadcastShape(_ ctx: NodeContext, a: [Int], b: [Int]) throws -> [Int]? {
        guard ctx.opset < 7, try ctx.int("broadcast", default: 0) != 0, let axisValue = try ctx.int("axis") else { return nil }
        let axis = axisValue < 0 ? axisValue + a.count : axisValue
        guard axis >= 0, axis + b.count <= a.count else {
            throw ctx.invalid("axis \(axisValue) cannot align \(b) with \(a)", attribute: "axis")
        }
        return b + [Int](repeating: 1, count: a.count - axis - b.count)
    }

    static func evaluate(_ ctx: NodeContext, _ kind: Evaluate.BinaryKind, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        do {
            return try Evaluate.binary(kind, a, b)
        } catch Evaluate.EvaluationError.divisionByZero {
            throw ctx.invalid("integer division by zero")
        } catch Evaluate.EvaluationError.shapes(let x, let y) {
            throw ctx.mismatch("shapes \(x) and \(y) do not broadcast")
        }
    }

    static func lower(_ ctx: NodeContext, _ kind: Binary.Kind) throws {
        try ctx.expectInputs(2)
        let aShape = try ctx.shape(0), bShape = try ctx.shape(1)
        let legacy = try legacyBroadcastShape(ctx, a: aShape, b: bShape)
        if let a = try ctx.constant(0) {
            let c = try operandConstant(ctx, a, "input A", like: try ctx.elementType(1))
            try ctx.emit(.binary(Binary(kind: kind, constant: c, constantOnLeft: true)), inputs: [ctx.runtimeName(1)])
        } else if var b = try ctx.constant(1) {
            if let legacy { b = Evaluate.reshaped(b, legacy) }
            let c = try operandConstant(ctx, b, "input B", like: try ctx.elementType(0))
            try ctx.emit(.binary(Binary(kind: kind, constant: c)), inputs: [ctx.runtimeName(0)])
        } else {
            if legacy != nil, legacy != bShape {
                throw ctx.unsupported("legacy broadcast with axis on two runtime inputs", attribute: "axis")
            }
            try ctx.emit(.binary(Binary(kind: kind)), inputs: [ctx.runtimeName(0), ctx.runtimeName(1)])
        }
    }

    /// A constant operand: float32 data (the native compute type) next to a float operand,
    /// integers of the runtime operand's type next to an integer one.
    static func operandConstant(_ ctx: NodeContext, _ t: Tensor, _ what: String, like runtime: ElementType) throws -> Tensor {
        if runtime.isInteger {
            if case .opaque = t.storage { throw ctx.unsupported("\(what) has type \(t.elementType), which Kite cannot compute with") }
            return t.cast(to: runtime)
        }
        return try floatConstant(ctx, t, what)
    }

    /// A constant operand as float32 data (the native compute type).
    static func floatConstant(_ ctx: NodeContext, _ t: Tensor, _ what: String) throws -> Tensor {
        switch t.storage {
        case .opaque: throw ctx.unsupported("\(what) has type \(t.elementType), which Kite cannot compute with")
        default: return Evaluate.floats(t.floats, shape: t.shape)
        }
    }
}
