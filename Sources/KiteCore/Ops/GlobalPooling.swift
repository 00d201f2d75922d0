/// Global pooling over H and W: [N, C, H, W] -> [N, C, 1, 1].
public struct GlobalPooling: Sendable, Equatable {
    public var kind: PoolKind
    public init(kind: PoolKind) { self.kind = kind }
}

/// Mean over `axes`, keeping them as size 1 when `keepDims`.
public struct ReduceMean: Sendable, Equatable {
    public var axes: [Int]
    public var keepDims: Bool
    public init(axes: [Int], keepDims: Bool) {
        self.axes = axes
        self.keepDims = keepDims
    }
}

extension GlobalPooling: NativeOperator, NativeOperatorDetails {
    /// "GlobalAveragePool" or "GlobalMaxPool".
    public var typeName: String { kind == .max ? "GlobalMaxPool" : "GlobalAveragePool" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "" }

    /// [N, C, spatial...] -> [N, C, 1, ...].
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        guard x.count >= 3 else { throw shapeError(typeName, "input must be [N, C, spatial...], got \(fmtShape(x))") }
        guard x.dropFirst(2).allSatisfy({ $0 > 0 }) else {
            throw shapeError(typeName, "cannot pool over an empty spatial extent \(fmtShape(x))")
        }
        return [[x[0], x[1]] + [Int](repeating: 1, count: x.count - 2)]
    }

    /// One FLOP per input element (the window is the whole plane).
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = totalElements(inputs)
        return OpCost(flops: n, activationBytesRead: floatBytes(n), weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let planes = out[0] * out[1]
        let size = satProduct(Array(inputs[0].shape.dropFirst(2)))
        var y = [Float](repeating: 0, count: planes)
        for p in 0..<planes {
            var sum: Float = 0
            var maxValue = -Float.infinity
            for i in 0..<size {
                let v = x[p * size + i]
                sum += v
                if v > maxValue || v.isNaN { maxValue = v }
            }
            y[p] = kind == .max ? maxValue : sum / Float(size)
        }
        return [try makeTensor(out, y)]
    }
}

extension ReduceMean: NativeOperator, NativeOperatorDetails {
    /// Not over the batch axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count == 1 && (try? resolvedAxes(rank: inputs[0].count))?.contains(0) == false
    }

    public var typeName: String { "ReduceMean" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "axes=\(fmtShape(axes))" + (keepDims ? " keepdims" : "") }

    /// The reduced axes for rank `rank`: normalised, sorted, each once (a repeated
    /// axis is reduced once, as onnxruntime does); empty means all (ONNX's default).
    func resolvedAxes(rank: Int) throws -> [Int] {
        if axes.isEmpty { return Array(0..<rank) }
        return Set(try axes.map { try normalizeAxis(typeName, $0, rank: rank) }).sorted()
    }

    /// Reduced axes become 1 with `keepDims`, disappear without.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        let reduced = try resolvedAxes(rank: x.count)
        for a in reduced where x[a] == 0 {
            throw shapeError(typeName, "cannot average over the empty axis \(a) of \(fmtShape(x))")
        }
        var out: [Int] = []
        for d in x.indices {
            if reduced.contains(d) {
                if keepDims { out.append(1) }
            } else {
                out.append(x[d])
            }
        }
        return [out]
    }

    /// One FLOP per input element.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = totalElements(inputs)
        return OpCost(flops: n, activationBytesRead: floatBytes(n), weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let shape = inputs[0].shape
        let x = try floatValues(typeName, inputs[0])
        let reduced = try resolvedAxes(rank: shape.count)
        // Accumulate each input element into the output it reduces to, via the kept-dims shape.
        var kept = shape
        for a in reduced { kept[a] = 1 }
        let keptStrides = contiguousStrides(kept)
        var sums = [Double](repeating: 0, count: satProduct(kept))
        for i in 0..<x.count {
            let index = unravel(i, shape)
            var o = 0
            for d in shape.indices where !reduced.contains(d) { o += index[d] * keptStrides[d] }
            sums[o] += Double(x[i])
        }
        let divisor = Double(satProduct(reduced.map { shape[$0] }))
        return [try makeTensor(out, sums.map { Float($0 / divisor) })]
    }
}
