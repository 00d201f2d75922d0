import KiteCore

/// Sequence ops whose every position is known when converting. PyTorch's dynamo exporter,
/// without its optimiser, writes `torch.chunk` and `torch.split` (ShuffleNetV2's channel
/// split) as SplitToSequence followed by a SequenceAt per piece. A sequence is lowered to
/// the list of its elements, each a constant or a runtime tensor; reading an element is
/// an alias, so no native op ever sees a sequence.
enum SequenceLowering {
    static let rules: [OpRule] = [
        OpRule("SplitToSequence", since: 11, lower: splitToSequence),
        OpRule("SequenceConstruct", since: 11, lower: sequenceConstruct),
        OpRule("SequenceEmpty", since: 11, lower: { ctx in
            try ctx.expectInputs(0)
            ctx.setSequence(0, [])
        }),
        OpRule("SequenceAt", since: 11, lower: sequenceAt),
        OpRule("SequenceInsert", since: 11, lower: sequenceInsert),
        OpRule("SequenceErase", since: 11, lower: sequenceErase),
        OpRule("SequenceLength", since: 11, lower: { ctx in
            try ctx.expectInputs(1)
            ctx.setConstant(0, Evaluate.ints([Int64(try ctx.sequence(0).count)], shape: []))
        }),
        OpRule("ConcatFromSequence", since: 11, lower: concatFromSequence),
    ]

    /// More pieces than this in one sequence is not a network Kite serves.
    static let maximumLength = 4096

    /// The ops that read a sequence input (every other op takes tensors only).
    static let sequenceReaders: Set<String> = [
        "SequenceAt", "SequenceInsert", "SequenceErase", "SequenceLength", "ConcatFromSequence", "Identity",
    ]

    // MARK: Positions

    /// A position input: a constant int32/int64 scalar (or one-element tensor), in
    /// `-length...upper` and normalised to count from the front.
    static func position(_ ctx: NodeContext, _ i: Int, length: Int, upper: Int) throws -> Int {
        let t = try ctx.requireNumeric(i, "the position")
        guard t.holdsIntegers, t.count == 1, t.rank <= 1 else {
            throw ctx.invalid("the position must be an integer scalar, found \(t.elementType) of shape \(t.shape)")
        }
        let p = Int(truncatingIfNeeded: t.ints[0])
        guard p >= -length && p <= upper else {
            throw ctx.invalid("position \(p) is out of range for a sequence of \(length) tensors")
        }
        return p < 0 ? p + length : p
    }

    // MARK: SplitToSequence

    /// The axis, the piece sizes and whether pieces keep the split axis: sizes from the
    /// `split` input (a scalar: pieces of that size, the last one smaller; 1-D: the sizes),
    /// else pieces of size 1 along the axis, dropped when `keepdims` is 0.
    static func pieces(_ ctx: NodeContext) throws -> (axis: Int, sizes: [Int], squeeze: Bool) {
        try ctx.expectInputs(1, 2)
        let shape = try ctx.shape(0)
        let axis = try ctx.normalizeAxis(try ctx.int("axis", default: 0), rank: shape.count)
        let dim = shape[axis]
        guard ctx.hasInput(1) else {
            guard dim <= maximumLength else {
                throw ctx.unsupported("splitting dim \(axis) of \(shape) into \(dim) pieces (Kite takes at most \(maximumLength))")
            }
            return (axis, [Int](repeating: 1, count: dim), try ctx.int("keepdims", default: 1) == 0)
        }
        let split = try ctx.requireNumeric(1, "the split input")
        guard split.holdsIntegers, split.rank <= 1 else {
            throw ctx.invalid("the split input must be an integer scalar or 1-D tensor, found \(split.elementType) of shape \(split.shape)")
        }
        let values = split.ints.map { Int(truncatingIfNeeded: $0) }
        if split.rank == 0 {
            let size = values[0]
            guard size > 0 else { throw ctx.invalid("split size \(size) must be positive") }
            let count = (dim + size - 1) / size
            guard count <= maximumLength else {
                throw ctx.unsupported("splitting dim \(axis) of \(shape) into \(count) pieces (Kite takes at most \(maximumLength))")
            }
            return (axis, (0..<count).map { min(size, dim - $0 * size) }, false)
        }
        guard values.count <= maximumLength else {
            throw ctx.unsupported("splitting into \(values.count) pieces (Kite takes at most \(maximumLength))")
        }
        guard values.allSatisfy({ $0 >= 0 }), values.reduce(0, +) == dim else {
            throw ctx.mismatch("split sizes \(values) do not add up to dim \(axis) of \(shape)")
        }
        return (axis, values, false)
    }

    static func pieceShape(_ shape: [Int], axis: Int, size: Int, squeeze: Bool) -> [Int] {
        var s = shape
        if squeeze { s.remove(at: axis) } else { s[axis] = size }
        return s
    }

    static let splitToSequence: LowerFunction = { ctx in
        let (axis, sizes, squeeze) = try pieces(ctx)
        let shape = try ctx.shape(0)
        if let data = try ctx.constant(0) {
            let pieces = Evaluate.split(data, axis: axis, sizes: sizes)
            ctx.setSequence(0, zip(pieces, sizes).map { piece, size in
                .constant(Evaluate.reshaped(piece, pieceShape(shape, axis: axis, size: size, squeeze: squeeze)))
            })
            return
        }
        guard !sizes.isEmpty else {  // an empty axis: no pieces
            ctx.setSequence(0, [])
            return
        }
        let input = try ctx.runtimeName(0)
        var names: [String]
        var shapes: [[Int]]
        if sizes.count == 1 {
            names = [input]
            shapes = [shape]
        } else {
            names = sizes.indices.map { ctx.intermediateName("piece\($0)") }
            shapes = try ctx.emitNative(.split(Split(axis: axis, sizes: sizes)), inputs: [input], outputNames: names, suffix: "split")
        }
        if squeeze {
            for i in names.indices {
                let target = pieceShape(shape, axis: axis, size: 1, squeeze: true)
                let (name, s) = try ctx.emitIntermediate(.reshape(Reshape(shape: target)), inputs: [names[i]], suffix: "squeeze\(i)")
                names[i] = name
                shapes[i] = s
            }
        }
        ctx.setSequence(0, zip(names, shapes).map { .runtime(name: $0, shape: $1) })
    }

    // MARK: Building and reading

    static let sequenceConstruct: LowerFunction = { ctx in
        let given = ctx.node.inputs.indices.filter { ctx.hasInput($0) }
        guard !given.isEmpty, given.count == ctx.node.inputs.count else {
            throw ctx.invalid("SequenceConstruct takes one or more tensors, none omitted")
        }
        guard given.count <= maximumLength else { throw ctx.unsupported("a sequence of \(given.count) tensors") }
        ctx.setSequence(0, try given.map { try ctx.tensorValue($0) })
    }

    static let sequenceAt: LowerFunction = { ctx in
        try ctx.expectInputs(2)
        let elements = try ctx.sequence(0)
        let p = try position(ctx, 1, length: elements.count, upper: elements.count - 1)
        ctx.setValue(0, elements[p])
    }

    static let sequenceInsert: LowerFunction = { ctx in
        try ctx.expectInputs(2, 3)
        var elements = try ctx.sequence(0)
        let tensor = try ctx.tensorValue(1)
        let p = ctx.hasInput(2) ? try position(ctx, 2, length: elements.count, upper: elements.count) : elements.count
        guard elements.count < maximumLength else { throw ctx.unsupported("a sequence of more than \(maximumLength) tensors") }
        elements.insert(tensor, at: p)
        ctx.setSequence(0, elements)
    }

    static let sequenceErase: LowerFunction = { ctx in
        try ctx.expectInputs(1, 2)
        var elements = try ctx.sequence(0)
        guard !elements.isEmpty else { throw ctx.invalid("cannot erase from an empty sequence") }
        let p = ctx.hasInput(1) ? try position(ctx, 1, length: elements.count, upper: elements.count - 1) : elements.count - 1
        elements.remove(at: p)
        ctx.setSequence(0, elements)
    }

    // MARK: ConcatFromSequence

    /// Concatenation of the elements along `axis`, or, with `new_axis` 1, stacking them
    /// along a new axis at that position (each element reshaped to take it).
    static let concatFromSequence: LowerFunction = { ctx in
        try ctx.expectInputs(1)
        let elements = try ctx.sequence(0)
        guard let first = elements.first else { throw ctx.invalid("cannot concatenate an empty sequence") }
        guard let axisValue = try ctx.int("axis") else { throw ctx.invalid("the axis attribute is missing", attribute: "axis") }
        let stack = try ctx.int("new_axis", default: 0) == 1
        let rank = try ctx.shape(of: first).count
        let axis = try ctx.normalizeAxis(axisValue, rank: stack ? rank + 1 : rank)
        var parts: [LoweredValue] = []
        for element in elements {
            let shape = try ctx.shape(of: element)
            guard shape.count == rank else {
                throw ctx.mismatch("the sequence holds tensors of ranks \(rank) and \(shape.count)")
            }
            guard stack else { parts.append(element); continue }
            var stacked = shape
            stacked.insert(1, at: axis)
            switch element {
            case .constant(let t): parts.append(.constant(Evaluate.reshaped(t, stacked)))
            default:
                let (name, s) = try ctx.emitIntermediate(.reshape(Reshape(shape: stacked)),
                                                         inputs: [ctx.runtimeName(of: element)], suffix: "stack\(parts.count)")
                parts.append(.runtime(name: name, shape: s))
            }
        }
        var shape = try ctx.shape(of: parts[0])
        shape[axis] = 0
        for part in parts {
            let s = try ctx.shape(of: part)
            guard s.indices.allSatisfy({ $0 == axis || s[$0] == shape[$0] }) else {
                throw ctx.mismatch("cannot concatenate \(try ctx.shape(of: parts[0])) and \(s) along axis \(axis)")
            }
            shape[axis] += s[axis]
        }
        let constants = parts.compactMap { if case .constant(let t) = $0 { return t } else { return nil } }
        if constants.count == parts.count {
            ctx.setConstant(0, Evaluate.concat(constants, axis: axis, shape: shape))
        } else if parts.count == 1 {
            ctx.setValue(0, parts[0])
        } else {
            try ctx.emit(.concat(Concat(axis: axis)), inputs: parts.map { try ctx.runtimeName(of: $0) })
        }
    }
}
