import KiteCore

/// Reshape, Flatten, Unsqueeze, Squeeze, Transpose and Expand: folded on
/// constants, native Reshape / Transpose (or an alias when nothing changes) at runtime.
enum ShapeOpLowering {
    static let rules: [OpRule] = [
        reshaping("Reshape", since: 1) { try reshapeTarget($0, form: .attribute) },
        reshaping("Reshape", since: 5) { try reshapeTarget($0, form: .input) },
        reshaping("Reshape", since: 14) { try reshapeTarget($0, form: .inputAllowZero) },
        reshaping("Flatten", since: 1, flattenTarget),
        reshaping("Unsqueeze", since: 1) { try unsqueezeTarget($0, axes: .attribute) },
        reshaping("Unsqueeze", since: 13) { try unsqueezeTarget($0, axes: .input) },
        reshaping("Squeeze", since: 1) { try squeezeTarget($0, axes: .attribute) },
        reshaping("Squeeze", since: 13) { try squeezeTarget($0, axes: .input) },
        OpRule("Transpose", since: 1, fold: foldTranspose, lower: lowerTranspose),
        OpRule("Expand", since: 8, fold: foldExpand, lower: lowerExpand),
    ]

    typealias Target = @Sendable (NodeContext) throws -> [Int]

    /// An op that only changes the shape: folded by relabelling the constant's shape,
    /// a native Reshape (or an alias when the shape stays) at runtime.
    static func reshaping(_ opType: String, since: Int, _ target: @escaping Target) -> OpRule {
        OpRule(opType, since: since, fold: { ctx in
            let shape = try target(ctx)
            return [Evaluate.reshaped(try ctx.requireNumeric(0, "data"), shape)]
        }, lower: { ctx in
            try ctx.reshapeOutput(0, input: 0, to: try target(ctx))
        })
    }

    // MARK: Reshape

    enum ReshapeForm { case attribute, input, inputAllowZero }

    /// Reshape's resolved shape: the `shape` attribute (opset 1), a constant input (5),
    /// with `allowzero` (14). 0 copies the input dim unless allowzero=1; -1 is inferred.
    static func reshapeTarget(_ ctx: NodeContext, form: ReshapeForm) throws -> [Int] {
        let input = try ctx.shape(0)
        let requested: [Int]
        if form == .attribute {
            try ctx.expectInputs(1)
            guard let s = try ctx.ints("shape") else { throw ctx.invalid("the shape attribute is missing", attribute: "shape") }
            requested = s
        } else {
            try ctx.expectInputs(2)
            let t = try ctx.requireNumeric(1, "the shape input")
            guard t.rank == 1 else { throw ctx.invalid("the shape input must be 1-D, found shape \(t.shape)") }
            requested = t.ints.map { Int(truncatingIfNeeded: $0) }
        }
        let allowZero = form == .inputAllowZero ? try ctx.int("allowzero", default: 0) != 0 : false
        return try resolveReshape(input: input, requested: requested, allowZero: allowZero, ctx: ctx)
    }

    static func resolveReshape(input: [Int], requested: [Int], allowZero: Bool, ctx: NodeContext) throws -> [Int] {
        var shape: [Int] = []
        var inferred: Int?
        for (i, d) in requested.enumerated() {
            switch d {
            case -1:
                guard inferred == nil else { throw ctx.invalid("shape \(requested) has more than one -1") }
                inferred = i
                shape.append(1)
            case 0 where !allowZero:
                guard i < input.count else {
                    throw ctx.mismatch("shape \(requested) copies dim \(i) with 0, but the input \(input) has rank \(input.count)")
                }
                shape.append(input[i])
            default:
                guard d >= 0 else { throw ctx.invalid("shape \(requested) has a negative dimension \(d)") }
                shape.append(d)
            }
        }
        guard let total = checkedElementCount(input), let known = checkedElementCount(shape) else {
            throw ctx.mismatch("shape \(requested) overflows")
        }
        if let i = inferred {
            guard known > 0, total % known == 0 else {
                throw ctx.mismatch("cannot reshape \(input) (\(total) elements) to \(requested)")
            }
            shape[i] = total / known
        } else if known != total {
            throw ctx.mismatch("cannot reshape \(input) (\(total) elements) to \(requested) (\(known) elements)")
        }
        return shape
    }

    // MARK: Flatten

    /// [prod(dims before axis), prod(dims from axis)]; axis defaults to 1, may be negative (opset 11).
    static func flattenTarget(_ ctx: NodeContext) throws -> [Int] {
        try ctx.expectInputs(1)
        let input = try ctx.shape(0)
        var axis = try ctx.int("axis", default: 1)
        if axis < 0 { axis += input.count }
        guard axis >= 0 && axis <= input.count else {
            throw ctx.invalid("axis \(axis) is out of range for rank \(input.count)", attribute: "axis")
        }
        return [input[..<axis].reduce(1, *), input[axis...].reduce(1, *)]
    }

    // MARK: Unsqueeze / Squeeze (axes an attribute before opset 13, an input from 13)

    /// Where an op's `axes` come from in a given version.
    enum AxesForm { case attribute, input }

    /// The `axes` attribute or the constant input `inputIndex`; nil when absent.
    static func axes(_ ctx: NodeContext, _ form: AxesForm, inputIndex: Int = 1) throws -> [Int]? {
        if form == .attribute { return try ctx.ints("axes") }
        guard ctx.hasInput(inputIndex) else { return nil }
        let t = try ctx.requireNumeric(inputIndex, "the axes input")
        guard t.rank <= 1 else { throw ctx.invalid("the axes input must be 1-D, found shape \(t.shape)") }
        return t.ints.map { Int(truncatingIfNeeded: $0) }
    }

    static func unsqueezeTarget(_ ctx: NodeContext, axes form: AxesForm) throws -> [Int] {
        let input = try ctx.shape(0)
        guard let axes = try axes(ctx, form) else { throw ctx.invalid("Unsqueeze needs axes", attribute: "axes") }
        let rank = input.count + axes.count
        let inserted = Set(try ctx.normalizeAxes(axes, rank: rank))
        var shape: [Int] = []
        var next = 0
        for i in 0..<rank {
            if inserted.contains(i) {
                shape.append(1)
            } else {
                shape.append(input[next])
                next += 1
            }
        }
        return shape
    }

    static func squeezeTarget(_ ctx: NodeContext, axes form: AxesForm) throws -> [Int] {
        let input = try ctx.shape(0)
        guard let axes = try axes(ctx, form), !axes.isEmpty else { return input.filter { $0 != 1 } }
        let removed = Set(try ctx.normalizeAxes(axes, rank: input.count))
        for a in removed where input[a] != 1 {
            throw ctx.mismatch("cannot squeeze axis \(a) of \(input): its size is not 1")
        }
        return input.indices.filter { !removed.contains($0) }.map { input[$0] }
    }

    // MARK: Transpose

    /// `perm` (default: reversed axes), checked to be a permutation.
    static func permutation(_ ctx: NodeContext) throws -> [Int] {
        try ctx.expectInputs(1)
        let rank = try ctx.shape(0).count
        guard let perm = try ctx.ints("perm") else { return Array((0..<rank).reversed()) }
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw ctx.invalid("perm \(perm) is not a permutation of 0..<\(rank)", attribute: "perm")
        }
        return perm
    }

    static let foldTranspose: FoldFunction = { ctx in
        [Evaluate.transpose(try ctx.requireNumeric(0, "data"), perm: try permutation(ctx))]
    }

    static let lowerTranspose: LowerFunction = { ctx in
        let perm = try permutation(ctx)
        if perm == Array(perm.indices) {
            try ctx.alias(output: 0, toInput: 0)
        } else {
            try ctx.emit(.transpose(Transpose(perm: perm)), inputs: [ctx.runtimeName(0)])
        }
    }

    // MARK: Expand

    static func expandTarget(_ ctx: NodeContext) throws -> [Int] {
        try ctx.expectInputs(2)
        let input = try ctx.shape(0)
        let requested = try ctx.requireNumeric(1, "the shape input")
        guard requested.rank == 1 else { throw ctx.invalid("the shape input must be 1-D, found shape \(requested.shape)") }
        let dims = requested.ints.map { Int(truncatingIfNeeded: $0) }
        guard dims.allSatisfy({ $0 >= 0 }), let shape = Evaluate.broadcastShape(input, dims),
              let count = checkedElementCount(shape) else {
            throw ctx.mismatch("cannot expand \(input) to \(dims)")
        }
        guard count <= Evaluate.maxElements else { throw ctx.unsupported("expanding to \(shape) (\(count) elements) is too large") }
        return shape
    }

    static let foldExpand: FoldFunction = { ctx in
        [Evaluate.broadcast(try ctx.requireNumeric(0, "data"), to: try expandTarget(ctx))]
    }

    /// At runtime Expand adds zeros shaped to supply exactly the dims the input lacks.
    static let lowerExpand: LowerFunction = { ctx in
        let shape = try expandTarget(ctx)
        let input = try ctx.shape(0)
        if shape == input {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        let padded = [Int](repeating: 1, count: shape.count - input.count) + input
        let zerosShape = zip(shape, padded).map { out, have in have == out ? 1 : out }
        let zeros = Tensor.zeros(zerosShape)
        try ctx.emit(.binary(Binary(kind: .add, constant: zeros)), inputs: [ctx.runtimeName(0)])
    }
}
