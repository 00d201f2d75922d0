import KiteCore

/// MaxPool, AveragePool (2-D windows) and GlobalAveragePool, GlobalMaxPool.
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
        guard input.count == 4 else {
            throw ctx.unsupported("\(input.count - 2)-D pooling (only 2-D, NCHW input, is supported)")
        }
        guard let kernel = try ctx.ints("kernel_shape") else {
            throw ctx.invalid("the kernel_shape attribute is missing", attribute: "kernel_shape")
        }
        guard kernel.count == 2 else { throw ctx.invalid("kernel_shape \(kernel) must have 2 values", attribute: "kernel_shape") }
        if kind == .max {
            if ctx.isOutputUsed(1) {
                throw ctx.unsupported("the Indices output ('\(ctx.outputName(1))') is used")
            }
            if try ctx.int("storage_order", default: 0) != 0 {
                throw ctx.unsupported("storage_order=1 (column-major indices)", attribute: "storage_order")
            }
        }
        // Dilations exist for MaxPool from opset 10 and AveragePool from 19.
        let dilationsAllowed = kind == .max ? ctx.opset >= 10 : ctx.opset >= 19
        let window = try SpatialWindow.bind(ctx, input: input, kernel: kernel, dilationsAllowed: dilationsAllowed)
        let ceilMode = ctx.opset >= 10 ? try ctx.int("ceil_mode", default: 0) != 0 : false
        let countIncludePad = kind == .average && ctx.opset >= 7 ? try ctx.int("count_include_pad", default: 0) != 0 : false
        let pool = Pooling(kind: kind, kernel: kernel, strides: window.strides, pads: window.pads,
                           dilations: window.dilations, ceilMode: ceilMode, countIncludePad: countIncludePad)
        try ctx.emit(.pool(pool), inputs: [ctx.runtimeName(0)])
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
