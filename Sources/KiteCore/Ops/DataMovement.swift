/// Concatenation along `axis`.
public struct Concat: Sendable, Equatable {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
}

/// Split along `axis` into pieces of `sizes` (one output each).
public struct Split: Sendable, Equatable {
    public var axis: Int
    public var sizes: [Int]
    public init(axis: Int, sizes: [Int]) {
        self.axis = axis
        self.sizes = sizes
    }
}

/// ShuffleNet's channel shuffle over NCHW: view C as [groups, C/groups], transpose, flatten.
public struct ChannelShuffle: Sendable, Equatable {
    public var groups: Int
    public init(groups: Int) { self.groups = groups }
}

/// A shape seen as [outer, axis, inner] around one axis.
struct AxisView {
    var outer: Int
    var axis: Int
    var inner: Int
    init(_ shape: [Int], axis: Int) {
        outer = satProduct(Array(shape[..<axis]))
        self.axis = shape[axis]
        inner = satProduct(Array(shape[(axis + 1)...]))
    }
}

extension Concat: NativeOperator, NativeOperatorDetails {
    /// Joins every input's item along another axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        batched.allSatisfy { $0 } && (try? normalizeAxis(typeName, axis, rank: inputs.first?.count ?? 0)) != 0
    }

    public var typeName: String { "Concat" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "axis=\(axis)" }

    /// Inputs of one rank that agree on every axis but `axis`, which adds up.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        guard let first = inputs.first else { throw shapeError(typeName, "expects at least one input") }
        try checkShapes(typeName, inputs)
        let a = try normalizeAxis(typeName, axis, rank: first.count)
        var out = first
        for (i, s) in inputs.enumerated().dropFirst() {
            guard s.count == first.count else {
                throw shapeError(typeName, "input \(i) has rank \(s.count) (shape \(fmtShape(s))), input 0 has rank \(first.count)")
            }
            for d in s.indices where d != a && s[d] != first[d] {
                throw shapeError(typeName, "input \(i) of shape \(fmtShape(s)) differs from input 0 \(fmtShape(first)) on axis \(d)")
            }
            out[a] += s[a]
        }
        _ = try elementCount(typeName, out)
        return [out]
    }

    /// No FLOPs; every input element is read and written once.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        movementCost(read: totalElements(inputs), written: totalElements(outputs))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let a = try normalizeAxis(typeName, axis, rank: out.count)
        let view = AxisView(out, axis: a)
        var y = [Float](repeating: 0, count: try elementCount(typeName, out))
        var offset = 0  // where the current input starts along the axis
        for t in inputs {
            let x = try floatValues(typeName, t)
            let len = t.shape[a]
            for o in 0..<view.outer {
                for k in 0..<len {
                    for i in 0..<view.inner {
                        y[(o * view.axis + offset + k) * view.inner + i] = x[(o * len + k) * view.inner + i]
                    }
                }
            }
            offset += len
        }
        return [try makeTensor(out, y)]
    }
}

extension Split: NativeOperator, NativeOperatorDetails {
    /// Not along the batch axis.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count == 1 && (try? normalizeAxis(typeName, axis, rank: inputs[0].count)) != 0
    }

    /// "ChannelSplit" along axis 1 (ShuffleNetV2's halves), "Split" otherwise.
    public var typeName: String { axis == 1 ? "ChannelSplit" : "Split" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "axis=\(axis) sizes=\(fmtList(sizes))" }

    /// One output per size; the sizes must add up to the axis.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        let a = try normalizeAxis(typeName, axis, rank: x.count)
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 0 }) else {
            throw paramError(typeName, "split sizes must be one or more non-negative values, got \(sizes)")
        }
        guard satSum(sizes) == x[a] else {
            throw shapeError(typeName, "split sizes \(sizes) add up to \(satSum(sizes)), not the axis \(a) size \(x[a]) of \(fmtShape(x))")
        }
        return sizes.map { s in
            var o = x
            o[a] = s
            return o
        }
    }

    /// No FLOPs; every element is read and written once.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        movementCost(read: totalElements(inputs), written: totalElements(outputs))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let outs = try referenceShapes(self, inputs)
        let x = try floatValues(typeName, inputs[0])
        let a = try normalizeAxis(typeName, axis, rank: inputs[0].shape.count)
        let view = AxisView(inputs[0].shape, axis: a)
        var offset = 0
        var results: [Tensor] = []
        for (shape, len) in zip(outs, sizes) {
            var y = [Float](repeating: 0, count: try elementCount(typeName, shape))
            for o in 0..<view.outer {
                for k in 0..<len {
                    for i in 0..<view.inner {
                        y[(o * len + k) * view.inner + i] = x[(o * view.axis + offset + k) * view.inner + i]
                    }
                }
            }
            offset += len
            results.append(try makeTensor(shape, y))
        }
        return results
    }
}

extension ChannelShuffle: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "ChannelShuffle" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "groups=\(groups)" }

    /// The input channel that output channel `c` reads, for `channels` channels:
    /// Reshape [g, C/g] -> Transpose -> Reshape [C] puts input channel
    /// i*(C/g) + j at output j*g + i, so output c reads (c % g)*(C/g) + c/g.
    public func sourceChannel(of c: Int, channels: Int) -> Int {
        let perGroup = channels / groups
        return (c % groups) * perGroup + c / groups
    }

    /// [N, C, ...] -> the same shape; C must be divisible by `groups`.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        guard x.count >= 2 else { throw shapeError(typeName, "input must have rank 2 or more (N, C, ...), got \(fmtShape(x))") }
        guard groups >= 1 else { throw paramError(typeName, "groups must be at least 1, got \(groups)") }
        guard x[1] % groups == 0 else {
            throw shapeError(typeName, "\(x[1]) channels are not divisible by \(groups) groups")
        }
        return [x]
    }

    /// No FLOPs; every element is read and written once.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        movementCost(read: totalElements(inputs), written: totalElements(outputs))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let view = AxisView(shape, axis: 1)
        var y = x
        for n in 0..<view.outer {
            for c in 0..<view.axis {
                let src = sourceChannel(of: c, channels: view.axis)
                for i in 0..<view.inner {
                    y[(n * view.axis + c) * view.inner + i] = x[(n * view.axis + src) * view.inner + i]
                }
            }
        }
        return [try makeTensor(shape, y)]
    }
}
