import KiteCore

/// Pad: `paddings` (opset 1) or `pads` (2-10) and `value` attributes, then inputs
/// pads / constant_value (11) and axes (18); modes constant, reflect, edge and wrap (19).
enum PadLowering {
    static let rules: [OpRule] = [
        OpRule("Pad", since: 1, lower: { try lower($0, .attributes(padsName: "paddings")) }),
        OpRule("Pad", since: 2, lower: { try lower($0, .attributes(padsName: "pads")) }),
        OpRule("Pad", since: 11, lower: { try lower($0, .inputs(axes: false)) }),
        OpRule("Pad", since: 18, lower: { try lower($0, .inputs(axes: true)) }),
    ]

    enum Form: Equatable {
        /// `pads` (or opset 1's `paddings`) and `value` attributes.
        case attributes(padsName: String)
        /// pads and constant_value inputs, and from opset 18 an axes input.
        case inputs(axes: Bool)
    }

    static func lower(_ ctx: NodeContext, _ form: Form) throws {
        let input = try ctx.shape(0)
        let rank = input.count
        let modeName = try ctx.string("mode", default: "constant")
        guard let mode = PadMode(rawValue: modeName), mode != .wrap || ctx.opset >= 19 else {
            throw ctx.invalid("unknown mode '\(modeName)'", attribute: "mode")
        }
        var pads: [Int]
        var value: Float = 0
        switch form {
        case .attributes(let name):
            try ctx.expectInputs(1)
            guard let p = try ctx.ints(name) ?? ctx.ints("pads") else {
                throw ctx.invalid("the \(name) attribute is missing", attribute: name)
            }
            pads = p
            value = try ctx.float("value", default: 0)
        case .inputs(let axesInput):
            try ctx.expectInputs(2, 4)
            let t = try ctx.requireNumeric(1, "the pads input")
            guard t.rank == 1 else { throw ctx.invalid("the pads input must be 1-D, found shape \(t.shape)") }
            pads = t.ints.map { Int(truncatingIfNeeded: $0) }
            if let v = try ctx.optionalFloats(2, "the constant_value input") {
                guard v.count == 1 else { throw ctx.invalid("constant_value must be a scalar, found shape \(v.shape)") }
                value = v.floats[0]
            }
            if axesInput, ctx.hasInput(3) {
                let a = try ctx.requireNumeric(3, "the axes input")
                let axes = try a.ints.map { try ctx.normalizeAxis(Int(truncatingIfNeeded: $0), rank: rank, attribute: "axes") }
                guard Set(axes).count == axes.count, pads.count == 2 * axes.count else {
                    throw ctx.invalid("pads \(pads) do not match axes \(a.ints)")
                }
                var full = [Int](repeating: 0, count: 2 * rank)
                for (i, axis) in axes.enumerated() {
                    full[axis] = pads[i]
                    full[rank + axis] = pads[axes.count + i]
                }
                pads = full
            }
        }
        try ctx.checkExtent(pads, "pads")
        guard pads.count == 2 * rank else {
            throw ctx.invalid("pads \(pads) must have \(2 * rank) values for rank \(rank)")
        }
        for axis in 0..<rank where input[axis] + pads[axis] + pads[rank + axis] < 0 {
            throw ctx.mismatch("pads \(pads) remove more than dim \(axis) of \(input)")
        }
        if pads.allSatisfy({ $0 == 0 }) {
            try ctx.alias(output: 0, toInput: 0)
            return
        }
        try ctx.emit(.pad(Pad(pads: pads, value: value, mode: mode)), inputs: [ctx.runtimeName(0)])
    }
}
