/// Gather with constant indices along `axis` (CondenseNet's channel index select).
/// `indicesShape` is [] for a scalar index (the axis is removed).
public struct Gather: Sendable, Equatable {
    public var axis: Int
    public var indices: [Int]
    public var indicesShape: [Int]
    public init(axis: Int, indices: [Int], indicesShape: [Int]) {
        self.axis = axis
        self.indices = indices
        self.indicesShape = indicesShape
    }
}

extension Gather: NativeOperator, NativeOperatorDetails {
    /// Not along the batch axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count == 1 && (try? normalizeAxis(typeName, axis, rank: inputs[0].count)) != 0
    }

    /// "Gather" (on axis 1 it is CondenseNet's channel index select).
    public var typeName: String { "Gather" }
    public var kindName: String { typeName }
    public var parameterSummary: String {
        "axis=\(axis) indices=\(fmtShape(indicesShape)){\(fmtLongList(indices))}"
    }

    /// `indices` made non-negative for an axis of size `dim` (ONNX: -dim..<dim), or a thrown error.
    func resolvedIndices(dim: Int) throws -> [Int] {
        try indices.map { i in
            guard i >= -dim && i < dim else {
                throw shapeError(typeName, "index \(i) is out of range for an axis of size \(dim)")
            }
            return i < 0 ? i + dim : i
        }
    }

    /// data[:axis] + indicesShape + data[axis+1:] (a scalar index, shape [], removes the axis).
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        guard !x.isEmpty else { throw shapeError(typeName, "cannot gather from a scalar") }
        let a = try normalizeAxis(typeName, axis, rank: x.count)
        guard let n = checkedElementCount(indicesShape), n == indices.count else {
            throw paramError(typeName, "\(indices.count) indices do not fit the indices shape \(fmtShape(indicesShape))")
        }
        _ = try resolvedIndices(dim: x[a])
        let out = Array(x[..<a]) + indicesShape + Array(x[(a + 1)...])
        _ = try elementCount(typeName, out)
        return [out]
    }

    /// No FLOPs; reads the gathered elements (and the indices, as int64 weights), writes the output.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = totalElements(outputs)
        return movementCost(read: n, written: n, weightBytes: satProduct(indices.count, 8))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let shape = inputs[0].shape
        let x = try floatValues(typeName, inputs[0])
        let a = try normalizeAxis(typeName, axis, rank: shape.count)
        let idx = try resolvedIndices(dim: shape[a])
        let view = AxisView(shape, axis: a)
        var y = [Float](repeating: 0, count: try elementCount(typeName, out))
        for o in 0..<view.outer {
            for (k, src) in idx.enumerated() {
                for i in 0..<view.inner {
                    y[(o * idx.count + k) * view.inner + i] = x[(o * view.axis + src) * view.inner + i]
                }
            }
        }
        return [try makeTensor(out, y)]
    }
}
