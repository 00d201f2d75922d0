import KiteCore

/// The rest of the arithmetic exporters write around shapes and that ONNX
/// function bodies (`_expanded` forms) use: evaluated on constants, and at
/// runtime the reference-only native ops ElementwiseBinary (comparisons, logic,
/// Min, Max, Pow, Mod), Where and Unary. ConstantOfShape and Range are constant only.
enum ShapeArithmeticLowering {
    static let rules: [OpRule] = [
        OpRule("ConstantOfShape", since: 9, fold: constantOfShape),
        OpRule("Range", since: 11, fold: range),
        OpRule("Where", since: 9, fold: whereFold, lower: { ctx in
            try ctx.expectInputs(3)
            try ctx.emit(.whereSelect(Where()), inputs: [ctx.runtimeName(0), ctx.runtimeName(1), ctx.runtimeName(2)])
        }),
        binary("Equal", .equal, .equal), binary("Less", .less, .less), binary("LessOrEqual", .lessOrEqual, .lessOrEqual, since: 12),
        binary("Greater", .greater, .greater), binary("GreaterOrEqual", .greaterOrEqual, .greaterOrEqual, since: 12),
        binary("And", .and, .and), binary("Or", .or, .or), binary("Xor", .xor, .xor),
        binary("Pow", .pow, .pow),
        OpRule("Mod", since: 10, fold: { ctx in
            try ctx.expectInputs(2)
            let fmod = try ctx.int("fmod", default: 0) != 0
            return [try ElementwiseLowering.evaluate(ctx, .mod(fmod: fmod), try ctx.requireNumeric(0, "A"), try ctx.requireNumeric(1, "B"))]
        }, lower: { ctx in
            try ctx.expectInputs(2)
            let fmod = try ctx.int("fmod", default: 0) != 0
            try ctx.emit(.elementwiseBinary(ElementwiseBinary(fmod ? .fmod : .mod)), inputs: [ctx.runtimeName(0), ctx.runtimeName(1)])
        }),
        variadic("Min", .min, .min), variadic("Max", .max, .max),
        unary("Not", .not, .not), unary("Neg", .neg, .neg), unary("Abs", .abs, .abs), unary("Floor", .floor, .floor),
        unary("Ceil", .ceil, .ceil), unary("Round", .round, .round, since: 11), unary("Sqrt", .sqrt, .sqrt),
        unary("Reciprocal", .reciprocal, .reciprocal), unary("Exp", .exp, .exp), unary("Log", .log, .log),
        unary("Sign", .sign, .sign, since: 9),
        OpRule("Tanh", since: 1, lower: { ctx in try ctx.emit(.unary(Unary(.tanh)), inputs: [ctx.runtimeName(0)]) }),
        OpRule("Erf", since: 9, lower: { ctx in try ctx.emit(.unary(Unary(.erf)), inputs: [ctx.runtimeName(0)]) }),
    ]

    static func binary(_ opType: String, _ kind: Evaluate.BinaryKind, _ native: ElementwiseBinary.Kind, since: Int = 1) -> OpRule {
        OpRule(opType, since: since, fold: { ctx in
            try ctx.expectInputs(2)
            return [try ElementwiseLowering.evaluate(ctx, kind, try ctx.requireNumeric(0, "A"), try ctx.requireNumeric(1, "B"))]
        }, lower: { ctx in
            try ctx.expectInputs(2)
            try ctx.emit(.elementwiseBinary(ElementwiseBinary(native)), inputs: [ctx.runtimeName(0), ctx.runtimeName(1)])
        })
    }

    /// Min / Max of one or more inputs: a chain of two-operand ops at runtime.
    static func variadic(_ opType: String, _ kind: Evaluate.BinaryKind, _ native: ElementwiseBinary.Kind) -> OpRule {
        OpRule(opType, since: 1, fold: { ctx in
            let inputs = try ctx.constantInputs().compactMap { $0 }
            guard var result = inputs.first else { throw ctx.invalid("\(ctx.opType) needs at least one input") }
            for t in inputs.dropFirst() { result = try ElementwiseLowering.evaluate(ctx, kind, result, t) }
            return [result]
        }, lower: { ctx in
            let given = ctx.node.inputs.indices.filter { ctx.hasInput($0) }
            guard let first = given.first else { throw ctx.invalid("\(ctx.opType) needs at least one input") }
            if given.count == 1 {
                try ctx.alias(output: 0, toInput: first)
                return
            }
            var acc = try ctx.runtimeName(first)
            for (n, i) in given.dropFirst().enumerated() {
                let op = Op.elementwiseBinary(ElementwiseBinary(native))
                if n == given.count - 2 {
                    try ctx.emit(op, inputs: [acc, ctx.runtimeName(i)])
                } else {
                    acc = try ctx.emitIntermediate(op, inputs: [acc, ctx.runtimeName(i)], suffix: "\(native.rawValue.lowercased())\(n)").name
                }
            }
        })
    }

    static func unary(_ opType: String, _ kind: Evaluate.UnaryKind, _ native: Unary.Kind, since: Int = 1) -> OpRule {
        OpRule(opType, since: since, fold: { ctx in
            try ctx.expectInputs(1)
            return [Evaluate.unary(kind, try ctx.requireNumeric(0, "input"))]
        }, lower: { ctx in
            try ctx.expectInputs(1)
            try ctx.emit(.unary(Unary(native)), inputs: [ctx.runtimeName(0)])
        })
    }

    /// A tensor of the given shape filled with `value` (default float 0).
    static let constantOfShape: FoldFunction = { ctx in
        try ctx.expectInputs(1)
        let shapeTensor = try ctx.requireNumeric(0, "the shape input")
        guard shapeTensor.rank <= 1 else { throw ctx.invalid("the shape input must be 1-D, found shape \(shapeTensor.shape)") }
        let shape = shapeTensor.ints.map { Int(truncatingIfNeeded: $0) }
        guard let count = checkedElementCount(shape), count <= Evaluate.maxElements else {
            throw ctx.invalid("shape \(shape) is negative or too large")
        }
        let fill = try ctx.tensorAttribute("value") ?? Evaluate.floats([0], shape: [1])
        guard fill.count == 1 else { throw ctx.invalid("value must have one element, found shape \(fill.shape)", attribute: "value") }
        switch fill.storage {
        case .floats(let v):
            return [Tensor(elementType: fill.elementType, shape: shape, storage: .floats([Float](repeating: v[0], count: count)))]
        case .ints(let v):
            return [Tensor(elementType: fill.elementType, shape: shape, storage: .ints([Int64](repeating: v[0], count: count)))]
        case .opaque:
            throw ctx.unsupported("value of type \(fill.elementType)", attribute: "value")
        }
    }

    /// start, start + delta, ... below limit (above it for a negative delta).
    static let range: FoldFunction = { ctx in
        func count(_ steps: Double) throws -> Int {
            let n = max(0, steps.rounded(.up))
            guard n.isFinite, n <= Double(Evaluate.maxElements) else { throw ctx.invalid("a range of \(steps) elements is too large") }
            return Int(n)
        }
        try ctx.expectInputs(3)
        let s = try ctx.requireNumeric(0, "start"), l = try ctx.requireNumeric(1, "limit"), d = try ctx.requireNumeric(2, "delta")
        guard s.count == 1, l.count == 1, d.count == 1 else { throw ctx.invalid("start, limit and delta must be scalars") }
        if case .ints = s.storage, case .ints = l.storage, case .ints = d.storage {
            let start = s.ints[0], limit = l.ints[0], delta = d.ints[0]
            guard delta != 0 else { throw ctx.invalid("delta is 0") }
            let n = try count((Double(limit) - Double(start)) / Double(delta))
            return [Tensor(elementType: s.elementType, shape: [n], storage: .ints((0..<n).map { start &+ Int64($0) &* delta }))]
        }
        let start = s.floats[0], limit = l.floats[0], delta = d.floats[0]
        guard delta != 0, start.isFinite, limit.isFinite, delta.isFinite else { throw ctx.invalid("invalid range \(start), \(limit), \(delta)") }
        let n = try count((Double(limit) - Double(start)) / Double(delta))
        return [Tensor(elementType: s.elementType, shape: [n], storage: .floats((0..<n).map { start + Float($0) * delta }))]
    }

    /// condition ? X : Y with numpy broadcasting.
    static let whereFold: FoldFunction = { ctx in
        try ctx.expectInputs(3)
        let c = try ctx.requireNumeric(0, "condition"), x = try ctx.requireNumeric(1, "X"), y = try ctx.requireNumeric(2, "Y")
        guard let xy = Evaluate.broadcastShape(x.shape, y.shape), let shape = Evaluate.broadcastShape(c.shape, xy) else {
            throw ctx.mismatch("shapes \(c.shape), \(x.shape) and \(y.shape) do not broadcast")
        }
        let cond = Evaluate.broadcast(c, to: shape).ints
        let a = Evaluate.broadcast(x, to: shape), b = Evaluate.broadcast(y, to: shape)
        if case .ints(let u) = a.storage, case .ints(let v) = b.storage {
            return [Tensor(elementType: x.elementType, shape: shape, storage: .ints(cond.indices.map { cond[$0] != 0 ? u[$0] : v[$0] }))]
        }
        let u = a.floats, v = b.floats
        return [Tensor(elementType: x.elementType.isFloatingPoint ? x.elementType : .float, shape: shape,
                       storage: .floats(cond.indices.map { cond[$0] != 0 ? u[$0] : v[$0] }))]
    }
}
