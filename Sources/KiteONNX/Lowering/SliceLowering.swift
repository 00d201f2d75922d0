import KiteCore

/// Slice: attributes starts/ends/axes before opset 10, inputs (with optional
/// axes and steps) from 10. Bounds are resolved as the spec says: negative
/// indices count from the end, then clamp to [0, dim] (or [-1, dim-1] for a
/// negative step), so INT_MAX / INT_MIN mean "to the end".
enum SliceLowering {
    static let rules: [OpRule] = [
        OpRule("Slice", since: 1, fold: fold(.attributes), lower: lower(.attributes)),
        OpRule("Slice", since: 10, fold: fold(.inputs), lower: lower(.inputs)),
    ]

    enum Form { case attributes, inputs }

    /// Resolved bounds for every axis of the input, and the output shape.
    struct Bounds {
        var starts: [Int]
        var ends: [Int]
        var steps: [Int]
        var shape: [Int]
    }

    static func bounds(_ ctx: NodeContext, _ form: Form) throws -> Bounds {
        let input = try ctx.shape(0)
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if form == .attributes {
            try ctx.expectInputs(1)
            guard let s = try ctx.ints("starts") else { throw ctx.invalid("the starts attribute is missing", attribute: "starts") }
            guard let e = try ctx.ints("ends") else { throw ctx.invalid("the ends attribute is missing", attribute: "ends") }
            starts = s
            ends = e
            axes = try ctx.ints("axes")
        } else {
            try ctx.expectInputs(3, 5)
            func list(_ i: Int, _ what: String) throws -> [Int]? {
                guard ctx.hasInput(i) else { return nil }
                let t = try ctx.requireNumeric(i, what)
                guard t.rank == 1 else { throw ctx.invalid("\(what) must be 1-D, found shape \(t.shape)") }
                return t.ints.map { Int(truncatingIfNeeded: $0) }
            }
            starts = try list(1, "the starts input") ?? []
            ends = try list(2, "the ends input") ?? []
            axes = try list(3, "the axes input")
            steps = try list(4, "the steps input")
        }
        let axisList = axes ?? Array(0..<starts.count)
        let stepList = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw ctx.invalid("starts, ends, axes and steps have different lengths (\(starts.count), \(ends.count), \(axisList.count), \(stepList.count))")
        }
        var result = Bounds(starts: [Int](repeating: 0, count: input.count), ends: input,
                            steps: [Int](repeating: 1, count: input.count), shape: input)
        var seen = Set<Int>()
        for i in starts.indices {
            let axis = try ctx.normalizeAxis(axisList[i], rank: input.count, attribute: "axes")
            guard seen.insert(axis).inserted else { throw ctx.invalid("axis \(axis) is sliced twice", attribute: "axes") }
            let dim = input[axis]
            let step = stepList[i]
            guard step != 0 else { throw ctx.invalid("step 0 on axis \(axis)", attribute: "steps") }
            var start = starts[i], end = ends[i]
            if start < 0 { start = start &+ dim }
            if end < 0 { end = end &+ dim }
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
            } else {
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
            }
            // Elements start, start + step, ... before end (|step| may be huge: no overflow).
            let length: Int
            if step > 0 {
                length = end > start ? (end - start - 1) / step + 1 : 0
            } else {
                length = start > end ? Int(UInt(start - end - 1) / step.magnitude) + 1 : 0
            }
            result.starts[axis] = start
            result.ends[axis] = end
            result.steps[axis] = step
            result.shape[axis] = length
        }
        return result
    }

    static func fold(_ form: Form) -> FoldFunction {
        { ctx in
            let b = try bounds(ctx, form)
            return [Evaluate.slice(try ctx.requireNumeric(0, "data"), starts: b.starts, steps: b.steps, outShape: b.shape)]
        }
    }

    static func lower(_ form: Form) -> LowerFunction {
        { ctx in try lower(ctx, form) }
    }

    static func lower(_ ctx: NodeContext, _ form: Form) throws {
        let b = try bounds(ctx, form)
        let input = try ctx.shape(0)
        if b.shape == input && b.steps.allSatisfy({ $0 == 1 }) {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        try ctx.emit(.slice(Slice(starts: b.starts, ends: b.ends, steps: b.steps)), inputs: [ctx.runtimeName(0)])
    }
}
