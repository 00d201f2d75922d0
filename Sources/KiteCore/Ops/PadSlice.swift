/// How Pad fills positions outside the input (ONNX's `mode`).
public enum PadMode: String, Sendable, Equatable, CaseIterable {
    /// `value`.
    case constant
    /// The input mirrored about its first / last element (which is not repeated).
    case reflect
    /// The nearest edge element.
    case edge
    /// The input repeated (periodic).
    case wrap
}

/// Padding; `pads` is [begin_0, ..., begin_n-1, end_0, ..., end_n-1] as in ONNX
/// (negative values crop).
public struct Pad: Sendable, Equatable {
    public var pads: [Int]
    public var value: Float
    public var mode: PadMode
    public init(pads: [Int], value: Float, mode: PadMode = .constant) {
        self.pads = pads
        self.value = value
        self.mode = mode
    }
}

/// Strided slice with resolved, clamped bounds for every axis.
public struct Slice: Sendable, Equatable {
    public var starts: [Int]
    public var ends: [Int]
    public var steps: [Int]
    public init(starts: [Int], ends: [Int], steps: [Int]) {
        self.starts = starts
        self.ends = ends
        self.steps = steps
    }
}

extension Pad: NativeOperator, NativeOperatorDetails {
    /// The batch axis unpadded.
    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        guard inputs.count == 1 else { return false }
        let rank = inputs[0].count
        return rank >= 1 && pads.count == 2 * rank && pads[0] == 0 && pads[rank] == 0
    }

    public var typeName: String { "Pad" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "pads=\(fmtShape(pads)) " + (mode == .constant ? "value=\(value)" : "mode=\(mode.rawValue)") }

    /// out[d] = in[d] + begin[d] + end[d]; negative pads crop.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        guard pads.count == 2 * x.count else {
            throw shapeError(typeName, "pads has \(pads.count) values, a rank-\(x.count) input needs \(2 * x.count) (begins then ends)")
        }
        var out = x
        for d in x.indices {
            let (s1, o1) = x[d].addingReportingOverflow(pads[d])
            let (s2, o2) = s1.addingReportingOverflow(pads[d + x.count])
            guard !o1, !o2, s2 >= 0 else {
                throw shapeError(typeName, "pads \(pads[d]), \(pads[d + x.count]) on axis \(d) of size \(x[d]) give a negative size")
            }
            out[d] = s2
            if mode != .constant && x[d] == 0 && s2 > 0 {
                throw shapeError(typeName, "\(mode.rawValue) padding of the empty axis \(d)")
            }
        }
        _ = try elementCount(typeName, out)
        return [out]
    }

    /// No FLOPs; reads the input elements that land in the output, writes the output.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        guard let x = inputs.first, let out = outputs.first, pads.count == 2 * x.count, out.count == x.count else {
            return movementCost(read: totalElements(inputs), written: totalElements(outputs))
        }
        let kept = x.indices.map { d in Swift.max(0, Swift.min(out[d], x[d] + pads[d]) - Swift.max(0, pads[d])) }
        return movementCost(read: satProduct(kept), written: satProduct(out))
    }

    /// The input index an output index `i` (already shifted by the begin pad) reads on an
    /// axis of size `dim`, or nil for a constant-filled position.
    func source(_ i: Int, _ dim: Int) -> Int? {
        if i >= 0 && i < dim { return i }
        switch mode {
        case .constant: return nil
        case .edge: return i < 0 ? 0 : dim - 1
        case .wrap: return ((i % dim) + dim) % dim
        case .reflect:
            guard dim > 1 else { return 0 }
            let period = 2 * (dim - 1)
            let r = ((i % period) + period) % period
            return r < dim ? r : period - r
        }
    }

    /// Integer inputs stay integers (exact); the fill value is truncated toward zero for them.
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let shape = inputs[0].shape
        _ = try floatValues(typeName, inputs[0])
        let inStrides = contiguousStrides(shape)
        let count = try elementCount(typeName, out)
        var sources = [Int](repeating: -1, count: count)
        for o in 0..<count {
            let index = unravel(o, out)
            var src = 0
            for d in 0..<out.count {
                guard let i = source(index[d] - pads[d], shape[d]) else {
                    src = -1
                    break
                }
                src += i * inStrides[d]
            }
            sources[o] = src
        }
        if let v = inputs[0].integerValues {
            let fill = truncatingInt64(value)
            return [typedTensor(out, ints: sources.map { $0 < 0 ? fill : v[$0] }, type: inputs[0].elementType)]
        }
        let x = inputs[0].floats
        return [typedTensor(out, floats: sources.map { $0 < 0 ? value : x[$0] }, type: inputs[0].elementType)]
    }
}

extension Slice: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Slice" }
    public var kindName: String { typeName }
    public var parameterSummary: String {
        "starts=\(fmtShape(starts)) ends=\(fmtShape(ends)) steps=\(fmtShape(steps))"
    }

    /// The first index and the element count along each axis of `shape`.
    ///
    /// Bounds are expected resolved as ONNX resolves them: non-negative, with an
    /// end of -1 allowed for a negative step ("before index 0"). An end beyond the
    /// axis is clamped to it ("to the end", as INT_MAX); anything else out of range throws.
    func resolve(_ shape: [Int]) throws -> [(start: Int, count: Int)] {
        guard starts.count == shape.count, ends.count == shape.count, steps.count == shape.count else {
            throw shapeError(typeName, "starts, ends and steps have \(starts.count), \(ends.count), \(steps.count) values for a rank-\(shape.count) input")
        }
        return try shape.indices.map { d in
            let dim = shape[d], step = steps[d], start = starts[d]
            guard step != 0 else { throw paramError(typeName, "step 0 on axis \(d)") }
            if step > 0 {
                let end = Swift.min(ends[d], dim)
                guard start >= 0 && start <= dim, end >= 0 else {
                    throw shapeError(typeName, "bounds \(start)..<\(ends[d]) are out of range for axis \(d) of size \(dim)")
                }
                return (start, end > start ? (end - start - 1) / step + 1 : 0)
            } else {
                let end = Swift.min(ends[d], dim - 1)
                guard start >= -1 && start <= dim - 1, end >= -1 else {
                    throw shapeError(typeName, "bounds \(start) down to \(ends[d]) are out of range for axis \(d) of size \(dim)")
                }
                // step.magnitude: -step overflows for Int.min (ONNX's INT64_MIN, "as far as it goes").
                return (start, start > end ? Int(UInt(start - end - 1) / step.magnitude) + 1 : 0)
            }
        }
    }

    /// The count along each axis: ceil((end - start) / step), or 0.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        return [try resolve(inputs[0]).map(\.count)]
    }

    /// No FLOPs; reads the selected elements and writes them.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = totalElements(outputs)
        return movementCost(read: n, written: n)
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let bounds = try resolve(inputs[0].shape)
        let inStrides = contiguousStrides(inputs[0].shape)
        var y = [Float](repeating: 0, count: try elementCount(typeName, out))
        for o in 0..<y.count {
            let index = unravel(o, out)
            var src = 0
            for d in 0..<out.count { src += (bounds[d].start + index[d] * steps[d]) * inStrides[d] }
            y[o] = x[src]
        }
        return [try makeTensor(out, y)]
    }
}
