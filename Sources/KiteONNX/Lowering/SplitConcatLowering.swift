import KiteCore

/// Concat and Split (ShuffleNetV2's channel split and every dense concat).
enum SplitConcatLowering {
    static let rules: [OpRule] = [
        OpRule("Concat", since: 1, fold: foldConcat, lower: lowerConcat),
        OpRule("Split", since: 1, fold: foldSplit(.attribute), lower: lowerSplit(.attribute)),
        OpRule("Split", since: 13, fold: foldSplit(.input), lower: lowerSplit(.input)),
        OpRule("Split", since: 18, fold: foldSplit(.inputOrNumOutputs), lower: lowerSplit(.inputOrNumOutputs)),
    ]

    // MARK: Concat

    /// The normalised axis (default 1 before opset 4, required from 4) and output shape.
    static func concatShape(_ ctx: NodeContext) throws -> (axis: Int, shape: [Int], inputs: [Int]) {
        let present = ctx.node.inputs.indices.filter { ctx.hasInput($0) }
        guard let first = present.first else { throw ctx.invalid("Concat needs at least one input") }
        let firstShape = try ctx.shape(first)
        let axisValue: Int
        if let a = try ctx.int("axis") {
            axisValue = a
        } else if ctx.opset < 4 {
            axisValue = 1
        } else {
            throw ctx.invalid("the axis attribute is missing", attribute: "axis")
        }
        let axis = try ctx.normalizeAxis(axisValue, rank: firstShape.count)
        var shape = firstShape
        shape[axis] = 0
        for i in present {
            let s = try ctx.shape(i)
            guard s.count == firstShape.count,
                  s.indices.allSatisfy({ $0 == axis || s[$0] == firstShape[$0] }) else {
                throw ctx.mismatch("cannot concatenate \(firstShape) and \(s) along axis \(axis)")
            }
            shape[axis] += s[axis]
        }
        return (axis, shape, present)
    }

    static let foldConcat: FoldFunction = { ctx in
        let (axis, shape, inputs) = try concatShape(ctx)
        let parts = try inputs.map { try ctx.requireNumeric($0, "input \($0)") }
        return [Evaluate.concat(parts, axis: axis, shape: shape)]
    }

    static let lowerConcat: LowerFunction = { ctx in
        let (axis, _, inputs) = try concatShape(ctx)
        // Empty pieces (an exporter's zero-size constants) contribute nothing.
        var pieces: [Int] = []
        for i in inputs where try ctx.shape(i).reduce(1, *) > 0 { pieces.append(i) }
        if pieces.isEmpty { pieces = inputs }
        if pieces.count == 1 {
            try ctx.alias(output: 0, toInput: pieces[0])
            return
        }
        try ctx.emit(.concat(Concat(axis: axis)), inputs: pieces.map { try ctx.runtimeName($0) })
    }

    // MARK: Split

    /// Where Split's piece sizes come from: the `split` attribute (opset 1-12; opset 1
    /// also took them as an input), an input (13), or an input or `num_outputs` (18).
    enum SplitForm { case attribute, input, inputOrNumOutputs }

    /// The normalised axis and piece sizes: given sizes, `num_outputs` chunks (the last
    /// one smaller), else equal pieces.
    static func splitSizes(_ ctx: NodeContext, _ form: SplitForm) throws -> (axis: Int, sizes: [Int]) {
        let input = try ctx.shape(0)
        let axis = try ctx.normalizeAxis(try ctx.int("axis", default: 0), rank: input.count)
        let dim = input[axis]
        let outputs = ctx.node.outputs.count
        guard outputs > 0 else { throw ctx.invalid("Split has no outputs") }
        var sizes: [Int]?
        if form == .attribute {
            try ctx.expectInputs(1, 2)
            sizes = try ctx.ints("split")
            if sizes == nil, ctx.hasInput(1) {  // opset 1 also took the sizes as an input
                sizes = try ctx.requireNumeric(1, "the split input").ints.map { Int(truncatingIfNeeded: $0) }
            }
        } else {
            try ctx.expectInputs(1, 2)
            if ctx.hasInput(1) {
                let t = try ctx.requireNumeric(1, "the split input")
                guard t.rank == 1 else { throw ctx.invalid("the split input must be 1-D, found shape \(t.shape)") }
                sizes = t.ints.map { Int(truncatingIfNeeded: $0) }
            }
        }
        if let sizes {
            guard sizes.count == outputs else {
                throw ctx.invalid("split \(sizes) has \(sizes.count) sizes for \(outputs) outputs", attribute: "split")
            }
            guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
                throw ctx.mismatch("split sizes \(sizes) do not add up to dim \(axis) of \(input)")
            }
            return (axis, sizes)
        }
        if form == .inputOrNumOutputs, let n = try ctx.int("num_outputs") {
            guard n == outputs, n > 0 else {
                throw ctx.invalid("num_outputs \(n) but the node has \(outputs) outputs", attribute: "num_outputs")
            }
            let chunk = (dim + n - 1) / n
            var result: [Int] = []
            var left = dim
            for _ in 0..<n {
                let s = min(chunk, max(left, 0))
                result.append(s)
                left -= s
            }
            return (axis, result)
        }
        guard dim % outputs == 0 else {
            throw ctx.mismatch("cannot split dim \(axis) of \(input) into \(outputs) equal pieces")
        }
        return (axis, [Int](repeating: dim / outputs, count: outputs))
    }

    static func foldSplit(_ form: SplitForm) -> FoldFunction {
        { ctx in try foldSplit(ctx, form) }
    }

    static func foldSplit(_ ctx: NodeContext, _ form: SplitForm) throws -> [Tensor] {
        let (axis, sizes) = try splitSizes(ctx, form)
        return Evaluate.split(try ctx.requireNumeric(0, "data"), axis: axis, sizes: sizes)
    }

    static func lowerSplit(_ form: SplitForm) -> LowerFunction {
        { ctx in try lowerSplit(ctx, form) }
    }

    static func lowerSplit(_ ctx: NodeContext, _ form: SplitForm) throws {
        let (axis, sizes) = try splitSizes(ctx, form)
        if sizes.count == 1 {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        try ctx.emit(.split(Split(axis: axis, sizes: sizes)), inputs: [ctx.runtimeName(0)],
                     outputs: Array(sizes.indices))
    }
}
