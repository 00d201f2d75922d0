import KiteCore

/// Conv (2-D, any group count) into a native Convolution with the weight and bias absorbed.
enum ConvLowering {
    static let rules: [OpRule] = [
        OpRule("Conv", since: 1, lower: lower),
    ]

    static let lower: LowerFunction = { ctx in
        try ctx.expectInputs(2, 3)
        let input = try ctx.shape(0)
        let weight = try ctx.requireNumeric(1, "the weight")
        guard weight.rank == input.count else {
            throw ctx.mismatch("weight \(weight.shape) and input \(input) have different ranks")
        }
        guard input.count == 4 else {
            throw ctx.unsupported("\(input.count - 2)-D convolution (only 2-D, NCHW input, is supported)")
        }
        guard weight.elementType.isFloatingPoint else {
            throw ctx.unsupported("weight of type \(weight.elementType) (only float weights are supported)")
        }
        let groups = try ctx.int("group", default: 1)
        let outChannels = weight.shape[0]
        guard groups >= 1, outChannels % groups == 0, input[1] == weight.shape[1] * groups else {
            throw ctx.mismatch("input \(input) with \(groups) groups does not fit weight \(weight.shape)")
        }
        let kernel = [weight.shape[2], weight.shape[3]]
        if let k = try ctx.ints("kernel_shape"), k != kernel {
            throw ctx.mismatch("kernel_shape \(k) disagrees with weight \(weight.shape)")
        }
        let window = try SpatialWindow.bind(ctx, input: input, kernel: kernel, dilationsAllowed: true)
        var bias: [Float]?
        if let b = try ctx.optionalFloats(2, "the bias") {
            guard b.count == outChannels else {
                throw ctx.mismatch("bias \(b.shape) does not match \(outChannels) output channels")
            }
            bias = b.floats
        }
        let conv = Convolution(weight: Evaluate.floats(weight.floats, shape: weight.shape), bias: bias, groups: groups,
                               strides: window.strides, pads: window.pads, dilations: window.dilations)
        try ctx.emit(.conv(conv), inputs: [ctx.runtimeName(0)])
    }
}

/// Strides, dilations and pads of a 2-D window (Conv, pooling), with auto_pad resolved.
struct SpatialWindow {
    var strides: [Int]
    var dilations: [Int]
    /// [top, left, bottom, right]
    var pads: [Int]

    /// Strides, dilations and pads (begins then ends) for a window of `kernel.count` spatial axes.
    static func bind(_ ctx: NodeContext, input: [Int], kernel: [Int], dilationsAllowed: Bool) throws -> SpatialWindow {
        let spatial = Array(input[2...])
        let n = kernel.count
        guard spatial.count == n else { throw ctx.mismatch("a \(n)-D window on input \(input)") }
        func perAxis(_ name: String) throws -> [Int] {
            guard let v = try ctx.ints(name) else { return [Int](repeating: 1, count: n) }
            try ctx.checkExtent(v, name)
            guard v.count == n else { throw ctx.invalid("\(name) \(v) must have \(n) values", attribute: name) }
            guard v.allSatisfy({ $0 >= 1 }) else { throw ctx.invalid("\(name) \(v) must be positive", attribute: name) }
            return v
        }
        let strides = try perAxis("strides")
        let dilations = dilationsAllowed ? try perAxis("dilations") : [Int](repeating: 1, count: n)
        try ctx.checkExtent(kernel, "kernel_shape")
        guard kernel.allSatisfy({ $0 >= 1 }) else { throw ctx.invalid("kernel \(kernel) must be positive") }
        let autoPad = try ctx.string("auto_pad", default: "NOTSET")
        var pads = [Int](repeating: 0, count: 2 * n)
        switch autoPad {
        case "NOTSET", "":
            if let p = try ctx.ints("pads") {
                guard p.count == 2 * n else { throw ctx.invalid("pads \(p) must have \(2 * n) values for a \(n)-D window", attribute: "pads") }
                try ctx.checkExtent(p, "pads")
                guard p.allSatisfy({ $0 >= 0 }) else { throw ctx.unsupported("negative pads \(p)", attribute: "pads") }
                pads = p
            }
        case "VALID":
            break
        case "SAME_UPPER", "SAME_LOWER":
            // Output = ceil(in / stride); the odd pad goes at the end (UPPER) or the start (LOWER).
            for axis in 0..<n {
                let out = (spatial[axis] + strides[axis] - 1) / strides[axis]
                let extent = (kernel[axis] - 1) * dilations[axis] + 1
                let total = max(0, (out - 1) * strides[axis] + extent - spatial[axis])
                let small = total / 2, large = total - total / 2
                pads[axis] = autoPad == "SAME_UPPER" ? small : large
                pads[axis + n] = autoPad == "SAME_UPPER" ? large : small
            }
        default:
            throw ctx.invalid("unknown auto_pad '\(autoPad)'", attribute: "auto_pad")
        }
        return SpatialWindow(strides: strides, dilations: dilations, pads: pads)
    }
}
