import KiteCore

/// MaxPool (with its Indices output), AveragePool over any number of spatial axes
/// (the fast kernels take 2-D), and GlobalAveragePool, GlobalMaxPool.
enum PoolingLowering {
    static let rules: [OpRule] = [
        OpRule("MaxPool", since: 1, lower: { try lowerWindow($0, .max) }),
        OpRule("AveragePool", since: 1, lower: { try lowerWindow($0, .average) }),
        OpRule("GlobalAveragePool", since: 1, lower: { try lowerGlobal($0, .average) }),
        OpRule("GlobalMaxPool", since: 1, lower: { try lowerGlobal($0, .max) }),
    ]

    static func lowerWindow(_ ctx: NodeContext, _ kind: PoolKind) throws {
        try ctx.expectInputs(1)
        let input = try ctx.shape(0)
        guard input.count >= 3 else {
            throw ctx.mismatch("input \(input) must be [N, C, spatial...]")
        }
        guard let kernel = try ctx.ints("kernel_shape") else {
            throw ctx.invalid("the kernel_shape attribute is missing", attribute: "kernel_shape")
        }
        guard kernel.count == input.count - 2 else {
            throw ctx.invalid("kernel_shape \(kernel) must have \(input.count - 2) values for input \(input)", attribute: "kernel_shape")
        }
        var withIndices = false, columnMajor = false
        if kind == .max {
            withIndices = ctx.isOutputUsed(1)
            columnMajor = try ctx.int("storage_order", default: 0) != 0
        }
        // Dilations exist for MaxPool from opset 10 and AveragePool from 19.
        let dilationsAllowed = kind == .max ? ctx.opset >= 10 : ctx.opset >= 19
        let window = try SpatialWindow.bind(ctx, input: input, kernel: kernel, dilationsAllowed: dilationsAllowed)
        // The spec (and onnxruntime) require explicit pads smaller than the kernel: a window wholly
        // inside the padding has no input to pool.
        if let pads = try ctx.ints("pads"), pads.count == 2 * kernel.count,
           let axis = kernel.indices.first(where: { pads[$0] >= kernel[$0] || pads[$0 + kernel.count] >= kernel[$0] }) {
            throw ctx.invalid("pads \(pads) must be smaller than kernel_shape \(kernel) (axis \(axis))", attribute: "pads")
        }
        let ceilMode = ctx.opset >= 10 ? try ctx.int("ceil_mode", default: 0) != 0 : false
        let countIncludePad = kind == .average && ctx.opset >= 7 ? try ctx.int("count_include_pad", default: 0) != 0 : false
        let pool = Pooling(kind: kind, kernel: kernel, strides: window.strides, pads: window.pads,
                           dilations: window.dilations, ceilMode: ceilMode, countIncludePad: countIncludePad,
                           withIndices: withIndices, columnMajorIndices: columnMajor)
        try ctx.emit(.pool(pool), inputs: [ctx.runtimeName(0)], outputs: withIndices ? [0, 1] : [0])
    }

    static func lowerGlobal(_ ctx: NodeContext, _ kind: PoolKind) throws {
        try ctx.expectInputs(1)
        let input = try ctx.shape(0)
        guard input.count == 4 else {
            throw ctx.unsupported("global pooling of a rank-\(input.count) input (only NCHW is supported)")
        }
        try ctx.emit(.globalPool(GlobalPooling(kind: kind)), inputs: [ctx.runtimeName(0)])
    }
}
