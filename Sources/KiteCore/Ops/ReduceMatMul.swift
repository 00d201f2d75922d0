/// Reductions other than ReduceMean (sum, max, min, prod) and batched MatMul:
/// reference implementations only (the fast executor falls back to them).

/// Reduces `axes` (normalised, sorted, distinct) of the input; empty axes reduce nothing.
public struct Reduce: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case sum = "ReduceSum", max = "ReduceMax", min = "ReduceMin", prod = "ReduceProd"
    }
    public var kind: Kind
    public var axes: [Int]
    public var keepDims: Bool
    public init(kind: Kind, axes: [Int], keepDims: Bool) {
        self.kind = kind
        self.axes = axes
        self.keepDims = keepDims
    }
}

extension Reduce: NativeOperator, NativeOperatorDetails {
    /// Not over the batch axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count == 1 && (try? checkedAxes(rank: inputs[0].count))?.contains(0) == false
    }

    public var typeName: String { kind.rawValue }
    public var kindName: String { typeName }
    public var parameterSummary: String { "axes=\(fmtShape(axes))" + (keepDims ? " keepdims" : "") }

    func checkedAxes(rank: Int) throws -> [Int] {
        let a = try axes.map { try normalizeAxis(typeName, $0, rank: rank) }
        guard Set(a).count == a.count else { throw paramError(typeName, "axes \(axes) repeat an axis") }
        return a.sorted()
    }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        let reduced = Set(try checkedAxes(rank: x.count))
        if kind == .max || kind == .min, let empty = reduced.first(where: { x[$0] == 0 }) {
            throw shapeError(typeName, "cannot take the \(kind == .max ? "max" : "min") of an empty axis \(empty) of \(fmtShape(x))")
        }
        return [x.indices.compactMap { reduced.contains($0) ? (keepDims ? 1 : nil) : x[$0] }]
    }

    /// One FLOP per input element.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = totalElements(inputs)
        return OpCost(flops: n, activationBytesRead: floatBytes(n), weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let shape = inputs[0].shape
        let reduced = Set(try checkedAxes(rank: shape.count))
        let kept = shape.indices.map { reduced.contains($0) ? 1 : shape[$0] }
        let keptStrides = contiguousStrides(kept)
        let outCount = satProduct(kept)
        let count = satProduct(shape)
        // Output slot of every input element.
        var slots = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let index = unravel(i, shape)
            var s = 0
            for d in shape.indices where !reduced.contains(d) { s += index[d] * keptStrides[d] }
            slots[i] = s
        }
        let type = inputs[0].elementType
        if let v = inputs[0].integerValues {
            let unsigned = type.isUnsigned
            let initial: Int64
            switch kind {
            case .sum: initial = 0
            case .prod: initial = 1
            case .max: initial = unsigned ? 0 : .min
            case .min: initial = unsigned ? -1 : .max
            }
            var y = [Int64](repeating: initial, count: outCount)
            for i in 0..<count {
                let s = slots[i]
                switch kind {
                case .sum: y[s] = y[s] &+ v[i]
                case .prod: y[s] = y[s] &* v[i]
                case .max: y[s] = unsigned ? Int64(bitPattern: Swift.max(UInt64(bitPattern: y[s]), UInt64(bitPattern: v[i]))) : Swift.max(y[s], v[i])
                case .min: y[s] = unsigned ? Int64(bitPattern: Swift.min(UInt64(bitPattern: y[s]), UInt64(bitPattern: v[i]))) : Swift.min(y[s], v[i])
                }
            }
            return [typedTensor(out, ints: y, type: type)]
        }
        let x = try floatValues(typeName, inputs[0])
        let initial: Float
        switch kind {
        case .sum: initial = 0
        case .prod: initial = 1
        case .max: initial = -.infinity
        case .min: initial = .infinity
        }
        var y = [Float](repeating: initial, count: outCount)
        for i in 0..<count {
            let s = slots[i], v = x[i]
            switch kind {
            case .sum: y[s] += v
            case .prod: y[s] *= v
            case .max: if v > y[s] || v.isNaN { y[s] = v }
            case .min: if v < y[s] || v.isNaN { y[s] = v }
            }
        }
        return [typedTensor(out, floats: y, type: type)]
    }
}

/// numpy matmul of two runtime operands: 1-D operands are promoted (and the added
/// axis removed from the result), leading batch dims broadcast.
public struct MatMul: Sendable, Equatable {
    public init() {}
}

extension MatMul: NativeOperator, NativeOperatorDetails {
    /// A batched A multiplies its rows (its axis 0 is a batch or row axis of the output); a
    /// batched B must have a batch axis of its own (rank 3 or more), as its rows are summed over.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        guard inputs.count == 2, batched.count == 2, let out = outputs.first else { return false }
        if batched[0] && !(inputs[0].count >= 2 && inputs[0].count == out.count) { return false }
        if batched[1] && !(inputs[1].count >= 3 && inputs[1].count == out.count) { return false }
        return true
    }

    public var typeName: String { "MatMul" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "" }

    /// (batch, m, k, n, output shape, A's and B's promoted shapes).
    func geometry(_ a: [Int], _ b: [Int]) throws -> (batch: [Int], m: Int, k: Int, n: Int, out: [Int], pa: [Int], pb: [Int]) {
        guard !a.isEmpty, !b.isEmpty else { throw shapeError(typeName, "operands must have rank >= 1, got \(fmtShape(a)) and \(fmtShape(b))") }
        let pa = a.count == 1 ? [1, a[0]] : a
        let pb = b.count == 1 ? [b[0], 1] : b
        let (m, k) = (pa[pa.count - 2], pa[pa.count - 1])
        let (k2, n) = (pb[pb.count - 2], pb[pb.count - 1])
        guard k == k2 else { throw shapeError(typeName, "inner dimensions differ: \(fmtShape(a)) x \(fmtShape(b))") }
        guard let batch = broadcastShapes(Array(pa.dropLast(2)), Array(pb.dropLast(2))) else {
            throw shapeError(typeName, "batch dimensions of \(fmtShape(a)) and \(fmtShape(b)) do not broadcast")
        }
        var out = batch
        if a.count > 1 { out.append(m) }
        if b.count > 1 { out.append(n) }
        return (batch, m, k, n, out, pa, pb)
    }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 2)
        try checkShapes(typeName, inputs)
        let g = try geometry(inputs[0], inputs[1])
        _ = try elementCount(typeName, g.out)
        return [g.out]
    }

    /// Two FLOPs per multiply-add.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        guard inputs.count == 2, let g = try? geometry(inputs[0], inputs[1]) else { return .zero }
        return OpCost(flops: satProduct(2, satProduct(g.batch), g.m, g.k, g.n), activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let g = try geometry(inputs[0].shape, inputs[1].shape)
        let a = try floatValues(typeName, inputs[0], "A"), b = try floatValues(typeName, inputs[1], "B")
        let batches = satProduct(g.batch)
        let aMaps = broadcastOffsets([Array(g.pa.dropLast(2))], to: g.batch)[0]
        let bMaps = broadcastOffsets([Array(g.pb.dropLast(2))], to: g.batch)[0]
        var y = [Float](repeating: 0, count: batches * g.m * g.n)
        for t in 0..<batches {
            let ao = aMaps[t] * g.m * g.k, bo = bMaps[t] * g.k * g.n, yo = t * g.m * g.n
            for i in 0..<g.m {
                for j in 0..<g.n {
                    var s: Float = 0
                    for p in 0..<g.k { s += a[ao + i * g.k + p] * b[bo + p * g.n + j] }
                    y[yo + i * g.n + j] = s
                }
            }
        }
        return [typedTensor(out, floats: y, type: inputs[0].elementType)]
    }
}
