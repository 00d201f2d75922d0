/// Per-channel y = x * scale[c] + shift[c] over NCHW (a BatchNorm that could not fold).
public struct ScaleShift: Sendable, Equatable {
    public var scale: [Float]
    public var shift: [Float]
    public var activation: Activation?
    public init(scale: [Float], shift: [Float], activation: Activation? = nil) {
        self.scale = scale
        self.shift = shift
        self.activation = activation
    }
}

extension ScaleShift: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "ScaleShift" }
    public var kindName: String { typeName }

    public var parameterSummary: String {
        "c=\(scale.count)" + (activation.map { " act=\($0)" } ?? "")
    }

    /// [N, C, ...] -> the same shape; `scale` and `shift` hold C values each.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        let x = inputs[0]
        guard x.count >= 2 else { throw shapeError(typeName, "input must have rank 2 or more (N, C, ...), got \(fmtShape(x))") }
        try checkShapes(typeName, inputs)
        guard scale.count == x[1], shift.count == x[1] else {
            throw shapeError(typeName, "input has \(x[1]) channels but scale has \(scale.count) and shift \(shift.count) values")
        }
        return [x]
    }

    /// A multiply-add (2 FLOPs) plus the activation per element; scale and shift are weights.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, 2 + (activation?.flopsPerElement ?? 0)),
                      activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: floatBytes(scale.count + shift.count), bytesWritten: floatBytes(n))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let c = shape[1]
        let inner = satProduct(Array(shape.dropFirst(2)))
        var y = x
        for i in y.indices {
            let ch = (i / inner) % c
            var v = x[i] * scale[ch] + shift[ch]
            if let activation { v = activation.apply(v) }
            y[i] = v
        }
        return [try makeTensor(shape, y)]
    }
}
