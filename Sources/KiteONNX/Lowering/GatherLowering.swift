import KiteCore

/// Gather: folded when data and indices are constants (Shape -> Gather chains),
/// a native Gather when the indices are constant and the data runtime
/// (CondenseNet's channel index select).
enum GatherLowering {
    static let rules: [OpRule] = [
        OpRule("Gather", since: 1, fold: fold, lower: lower),
    ]

    /// Axis, indices made non-negative and checked against the axis size, and the indices' shape.
    static func resolve(_ ctx: NodeContext) throws -> (axis: Int, indices: [Int], indicesShape: [Int]) {
        try ctx.expectInputs(2)
        let data = try ctx.shape(0)
        guard !data.isEmpty else { throw ctx.invalid("Gather on a scalar") }
        let axis = try ctx.normalizeAxis(try ctx.int("axis", default: 0), rank: data.count)
        let indexTensor = try ctx.requireNumeric(1, "the indices input")
        guard indexTensor.elementType.isInteger else {
            throw ctx.invalid("indices of type \(indexTensor.elementType) (must be int32 or int64)")
        }
        let dim = data[axis]
        let indices = try indexTensor.ints.map { raw -> Int in
            let i = Int(truncatingIfNeeded: raw)
            let n = i < 0 ? i + dim : i
            guard n >= 0 && n < dim else {
                throw ctx.invalid("index \(raw) is out of range for dim \(axis) of size \(dim)")
            }
            return n
        }
        return (axis, indices, indexTensor.shape)
    }

    static let fold: FoldFunction = { ctx in
        let (axis, indices, indicesShape) = try resolve(ctx)
        return [Evaluate.gather(try ctx.requireNumeric(0, "data"), axis: axis, indices: indices, indicesShape: indicesShape)]
    }

    static let lower: LowerFunction = { ctx in
        let (axis, indices, indicesShape) = try resolve(ctx)
        try ctx.emit(.gather(Gather(axis: axis, indices: indices, indicesShape: indicesShape)), inputs: [ctx.runtimeName(0)])
    }
}
