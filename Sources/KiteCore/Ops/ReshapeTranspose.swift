/// Reshape to a fully resolved shape (no 0 or -1 left).
public struct Reshape: Sendable, Equatable {
    public var shape: [Int]
    public init(shape: [Int]) { self.shape = shape }
}

/// General axis permutation.
public struct Transpose: Sendable, Equatable {
    public var perm: [Int]
    public init(perm: [Int]) { self.perm = perm }
}

extension Reshape: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Reshape" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "shape=\(fmtShape(shape))" }

    /// The same elements under `shape` (fully resolved: no 0 or -1).
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        let n = try elementCount(typeName, inputs[0])
        guard let m = checkedElementCount(shape) else {
            throw paramError(typeName, "target shape \(fmtShape(shape)) has a negative dimension or too many elements")
        }
        guard n == m else {
            throw shapeError(typeName, "cannot reshape \(fmtShape(inputs[0])) (\(n) elements) to \(fmtShape(shape)) (\(m) elements)")
        }
        return [shape]
    }

    /// Zero: a row-major reshape is a view of the same buffer, nothing is read or
    /// written (a runtime that copies pays for it in its own step, not here).
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { .zero }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        return [try makeTensor(out, try floatValues(typeName, inputs[0]))]
    }
}

extension Transpose: NativeOperator, NativeOperatorDetails {
    /// The batch axis stays first.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        perm.first == 0
    }

    public var typeName: String { "Transpose" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "perm=\(fmtShape(perm))" }

    /// The permutation for rank `rank`: `perm` itself, or reversed axes when empty (ONNX's default).
    func resolvedPerm(rank: Int) throws -> [Int] {
        if perm.isEmpty { return Array((0..<rank).reversed()) }
        guard perm.count == rank, perm.sorted() == Array(0..<rank) else {
            throw shapeError(typeName, "perm \(perm) is not a permutation of the \(rank) axes")
        }
        return perm
    }

    /// out[i] = in[perm[i]].
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let p = try resolvedPerm(rank: inputs[0].count)
        return [p.map { inputs[0][$0] }]
    }

    /// No FLOPs; every element is read and written once.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        movementCost(read: totalElements(inputs), written: totalElements(outputs))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let p = try resolvedPerm(rank: out.count)
        let inStrides = contiguousStrides(inputs[0].shape)
        var y = [Float](repeating: 0, count: x.count)
        for o in 0..<y.count {
            let index = unravel(o, out)
            var src = 0
            for d in 0..<out.count { src += index[d] * inStrides[p[d]] }
            y[o] = x[src]
        }
        return [try makeTensor(out, y)]
    }
}
