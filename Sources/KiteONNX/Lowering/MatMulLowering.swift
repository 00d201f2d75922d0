import KiteCore

/// Gemm and MatMul with a constant right operand into FullyConnected
/// (weight [N, K], bias [N]), with Reshapes around it for MatMul inputs of
/// rank other than 2.
enum MatMulLowering {
    static let rules: [OpRule] = [
        OpRule("Gemm", since: 1, lower: lowerGemm),
        OpRule("MatMul", since: 1, lower: lowerMatMul),
    ]

    // MARK: Gemm

    /// Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A, B' = transB ? B^T : B.
    static let lowerGemm: LowerFunction = { ctx in
        try ctx.expectInputs(2, 3)
        let a = try ctx.shape(0)
        guard a.count == 2 else { throw ctx.mismatch("input A \(a) must be 2-D") }
        guard let b = try ctx.constant(1) else {
            throw ctx.unsupported("input B ('\(ctx.inputName(1))') is computed at runtime; only a constant B (a weight) is supported")
        }
        guard b.rank == 2, b.elementType.isFloatingPoint else {
            throw ctx.unsupported("input B has shape \(b.shape) and type \(b.elementType); a 2-D float weight is required")
        }
        let transA = try ctx.int("transA", default: 0) != 0
        let transB = try ctx.int("transB", default: 0) != 0
        let alpha = try ctx.float("alpha", default: 1)
        let beta = try ctx.float("beta", default: 1)
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        // Weight as [N, K].
        var weight = transB ? b : Evaluate.transpose(b, perm: [1, 0])
        guard weight.shape[1] == k else {
            throw ctx.mismatch("A \(a)\(transA ? " transposed" : "") and B \(b.shape)\(transB ? " transposed" : "") do not multiply")
        }
        let n = weight.shape[0]
        if alpha != 1 { weight = Evaluate.floats(weight.floats.map { $0 * alpha }, shape: weight.shape) }
        weight = Evaluate.floats(weight.floats, shape: weight.shape)

        var bias: [Float]?
        var fullBias: Tensor?
        if let c = try ctx.optionalFloats(2, "input C"), beta != 0 {
            guard let target = Evaluate.broadcastShape([m, n], c.shape), target == [m, n] else {
                throw ctx.mismatch("C \(c.shape) does not broadcast to the output [\(m), \(n)]")
            }
            let scaled = Evaluate.floats(c.floats.map { $0 * beta }, shape: c.shape)
            let full = Evaluate.broadcast(scaled, to: [m, n])
            let row = Array(full.floats.prefix(n))
            let rowsEqual = (0..<m).allSatisfy { Array(full.floats[($0 * n)..<(($0 + 1) * n)]) == row }
            if rowsEqual { bias = row } else { fullBias = full }
        }
        var x = try ctx.runtimeName(0)
        if transA {
            x = try ctx.emitIntermediate(.transpose(Transpose(perm: [1, 0])), inputs: [x], suffix: "transA").name
        }
        let fc = Op.fullyConnected(FullyConnected(weight: weight, bias: bias))
        if let fullBias {
            let y = try ctx.emitIntermediate(fc, inputs: [x], suffix: "matmul").name
            try ctx.emit(.binary(Binary(kind: .add, constant: fullBias)), inputs: [y], suffix: "bias")
        } else {
            try ctx.emit(fc, inputs: [x])
        }
    }

    // MARK: MatMul

    /// Runtime A [..., K] times constant B [K, N] (or [K]): FullyConnected. Anything else
    /// (B computed at runtime, batched B of rank > 2): the reference-only native MatMul.
    static let lowerMatMul: LowerFunction = { ctx in
        try ctx.expectInputs(2)
        let a = try ctx.shape(0)
        guard let b = try ctx.constant(1), b.rank == 1 || b.rank == 2, b.elementType.isFloatingPoint, !a.isEmpty else {
            try ctx.emit(.matMul(MatMul()), inputs: [ctx.runtimeName(0), ctx.runtimeName(1)])
            return
        }
        guard !a.isEmpty else { throw ctx.mismatch("input A is a scalar") }
        let k = a[a.count - 1]
        let weight: Tensor
        if b.rank == 1 {
            weight = Evaluate.floats(b.floats, shape: [1, b.shape[0]])
        } else {
            weight = Evaluate.floats(Evaluate.transpose(b, perm: [1, 0]).floats, shape: [b.shape[1], b.shape[0]])
        }
        guard weight.shape[1] == k else { throw ctx.mismatch("A \(a) and B \(b.shape) do not multiply") }
        let n = weight.shape[0]
        let lead = Array(a.dropLast())
        let outShape = lead + (b.rank == 2 ? [n] : [])
        let fc = Op.fullyConnected(FullyConnected(weight: weight, bias: nil))
        if a.count == 2 && b.rank == 2 {
            try ctx.emit(fc, inputs: [ctx.runtimeName(0)])
            return
        }
        let rows = lead.reduce(1, *)
        var x = try ctx.runtimeName(0)
        if a != [rows, k] {
            x = try ctx.emitIntermediate(.reshape(Reshape(shape: [rows, k])), inputs: [x], suffix: "flatten").name
        }
        let y = try ctx.emitIntermediate(fc, inputs: [x], suffix: "matmul")
        try ctx.emit(.reshape(Reshape(shape: outShape)), inputs: [y.name], suffix: "unflatten")
    }
}
