/// Softmax along one axis (ONNX 13+ semantics; older forms are lowered with reshapes).
public struct Softmax: Sendable, Equatable {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
}

extension Softmax: NativeOperator, NativeOperatorDetails {
    /// Not along the batch axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count == 1 && (try? normalizeAxis(typeName, axis, rank: inputs[0].count)) != 0
    }

    public var typeName: String { "Softmax" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "axis=\(axis)" }

    /// Any shape of rank >= 1 -> the same shape.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        _ = try normalizeAxis(typeName, axis, rank: inputs[0].count)
        return [inputs[0]]
    }

    /// Five FLOPs per element: the max, the subtraction, exp, the sum and the division.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, 5), activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: 0, bytesWritten: floatBytes(n))
    }

    /// exp(x - max) / sum over the axis, one row at a time.
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let view = AxisView(shape, axis: try normalizeAxis(typeName, axis, rank: shape.count))
        var y = x
        for o in 0..<view.outer {
            for i in 0..<view.inner {
                func at(_ k: Int) -> Int { (o * view.axis + k) * view.inner + i }
                var m = -Float.infinity
                for k in 0..<view.axis { m = Swift.max(m, x[at(k)]) }
                var sum: Float = 0
                for k in 0..<view.axis {
                    let e = _expf(x[at(k)] - m)
                    y[at(k)] = e
                    sum += e
                }
                for k in 0..<view.axis { y[at(k)] /= sum }
            }
        }
        return [try makeTensor(shape, y)]
    }
}
