import KiteCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Evaluation of ONNX ops on constant tensors (int64 and float storage), used to
/// fold the shape arithmetic exporters write (Shape -> Gather -> Concat -> Reshape,
/// Shape -> Gather -> Add -> Div -> Mul -> Slice, ...).
///
/// Every function checks its indices: data comes from a file.
enum Evaluate {
    /// The largest constant Kite creates while folding (ConstantOfShape, Expand, Range).
    static let maxElements = 1 << 26

    // MARK: Building tensors

    static func ints(_ values: [Int64], shape: [Int]? = nil) -> Tensor {
        Tensor(elementType: .int64, shape: shape ?? [values.count], storage: .ints(values))
    }

    static func floats(_ values: [Float], shape: [Int]) -> Tensor {
        Tensor(elementType: .float, shape: shape, storage: .floats(values))
    }

    /// The same elements viewed with another shape of the same element count.
    static func reshaped(_ t: Tensor, _ shape: [Int]) -> Tensor {
        Tensor(elementType: t.elementType, shape: shape, storage: t.storage)
    }

    /// A tensor of `t`'s type whose elements are `t`'s at the flat `indices`.
    static func select(_ t: Tensor, _ indices: [Int], shape: [Int]) -> Tensor {
        switch t.storage {
        case .floats(let v): return Tensor(elementType: t.elementType, shape: shape, storage: .floats(indices.map { v[$0] }))
        case .ints(let v): return Tensor(elementType: t.elementType, shape: shape, storage: .ints(indices.map { v[$0] }))
        case .opaque: return Tensor(elementType: t.elementType, shape: shape, storage: .opaque(byteCount: 0))
        }
    }

    /// Flat source indices for an output of `outShape` whose element at
    /// (i0, i1, ...) reads source offset `offsets[0][i0] + offsets[1][i1] + ...`.
    static func offsets(outShape: [Int], _ axisOffsets: [[Int]]) -> [Int] {
        let count = outShape.reduce(1, *)
        guard count > 0 else { return [] }
        var result: [Int] = []
        result.reserveCapacity(count)
        var index = [Int](repeating: 0, count: outShape.count)
        var current = axisOffsets.reduce(0) { $0 + ($1.first ?? 0) }
        for _ in 0..<count {
            result.append(current)
            var axis = outShape.count - 1
            while axis >= 0 {
                let old = axisOffsets[axis][index[axis]]
                index[axis] += 1
                if index[axis] < outShape[axis] {
                    current += axisOffsets[axis][index[axis]] - old
                    break
                }
                index[axis] = 0
                current += axisOffsets[axis][0] - old
                axis -= 1
            }
        }
        return result
    }

    // MARK: Data movement

    static func transpose(_ t: Tensor, perm: [Int]) -> Tensor {
        let strides = contiguousStrides(t.shape)
        let outShape = perm.map { t.shape[$0] }
        let axisOffsets = perm.map { p in (0..<t.shape[p]).map { $0 * strides[p] } }
        return select(t, offsets(outShape: outShape, axisOffsets), shape: outShape)
    }

    /// A strided slice with bounds already resolved and clamped for every axis.
    static func slice(_ t: Tensor, starts: [Int], steps: [Int], outShape: [Int]) -> Tensor {
        let strides = contiguousStrides(t.shape)
        let axisOffsets = outShape.indices.map { a in (0..<outShape[a]).map { (starts[a] + $0 * steps[a]) * strides[a] } }
        return select(t, offsets(outShape: outShape, axisOffsets), shape: outShape)
    }

    /// Gather along `axis` with indices already made non-negative and checked.
    static func gather(_ t: Tensor, axis: Int, indices: [Int], indicesShape: [Int]) -> Tensor {
        let strides = contiguousStrides(t.shape)
        var flatShape = t.shape
        flatShape[axis] = indices.count
        let axisOffsets = flatShape.indices.map { a in
            a == axis ? indices.map { $0 * strides[a] } : (0..<flatShape[a]).map { $0 * strides[a] }
        }
        let outShape = Array(t.shape[..<axis]) + indicesShape + Array(t.shape[(axis + 1)...])
        return select(t, offsets(outShape: flatShape, axisOffsets), shape: outShape)
    }

    /// `t` broadcast (numpy rules) to `shape`, which must be a valid broadcast target.
    static func broadcast(_ t: Tensor, to shape: [Int]) -> Tensor {
        let pad = shape.count - t.rank
        let padded = [Int](repeating: 1, count: pad) + t.shape
        let strides = contiguousStrides(padded)
        let axisOffsets = shape.indices.map { a in
            padded[a] == 1 ? [Int](repeating: 0, count: shape[a]) : (0..<shape[a]).map { $0 * strides[a] }
        }
        return select(t, offsets(outShape: shape, axisOffsets), shape: shape)
    }

    /// Consecutive pieces of `sizes` along `axis` (the sizes add up to that dim).
    static func split(_ t: Tensor, axis: Int, sizes: [Int]) -> [Tensor] {
        var pieces: [Tensor] = []
        var offset = 0
        for size in sizes {
            var starts = [Int](repeating: 0, count: t.rank)
            starts[axis] = offset
            var shape = t.shape
            shape[axis] = size
            pieces.append(slice(t, starts: starts, steps: [Int](repeating: 1, count: t.rank), outShape: shape))
            offset += size
        }
        return pieces
    }

    /// Concatenation along `axis` of tensors whose other dims agree.
    static func concat(_ parts: [Tensor], axis: Int, shape: [Int]) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let anyFloat = parts.contains { if case .floats = $0.storage { return true } else { return false } }
        let type = parts.first?.elementType ?? .int64
        if anyFloat {
            var out: [Float] = []
            out.reserveCapacity(shape.reduce(1, *))
            let data = parts.map(\.floats)
            let chunks = parts.map { $0.shape[axis...].reduce(1, *) }
            for o in 0..<outer {
                for (d, c) in zip(data, chunks) { out += d[(o * c)..<((o + 1) * c)] }
            }
            return Tensor(elementType: type.isFloatingPoint ? type : .float, shape: shape, storage: .floats(out))
        }
        var out: [Int64] = []
        out.reserveCapacity(shape.reduce(1, *))
        let data = parts.map(\.ints)
        let chunks = parts.map { $0.shape[axis...].reduce(1, *) }
        for o in 0..<outer {
            for (d, c) in zip(data, chunks) { out += d[(o * c)..<((o + 1) * c)] }
        }
        return Tensor(elementType: type, shape: shape, storage: .ints(out))
    }

    // MARK: Broadcasting

    /// The numpy broadcast of two shapes, nil when they do not broadcast.
    static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else { return nil }
        }
        return out
    }

    // MARK: Arithmetic

    enum BinaryKind: Sendable {
        case add, sub, mul, div, pow, mod(fmod: Bool), min, max
        case equal, less, lessOrEqual, greater, greaterOrEqual, and, or, xor

        var isComparison: Bool {
            switch self {
            case .equal, .less, .lessOrEqual, .greater, .greaterOrEqual, .and, .or, .xor: return true
            default: return false
            }
        }
    }

    enum EvaluationError: Error {
        case divisionByZero
        case shapes([Int], [Int])
    }

    /// Element-wise `a op b` with numpy broadcasting. Integers stay integers
    /// (integer division truncates toward zero, as onnxruntime's C++ division does).
    static func binary(_ kind: BinaryKind, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else { throw EvaluationError.shapes(a.shape, b.shape) }
        let x = broadcast(a, to: shape)
        let y = broadcast(b, to: shape)
        if case .ints(let u) = x.storage, case .ints(let v) = y.storage {
            var out = [Int64](repeating: 0, count: u.count)
            for i in 0..<u.count { out[i] = try intOp(kind, u[i], v[i]) }
            return Tensor(elementType: kind.isComparison ? .bool : a.elementType, shape: shape, storage: .ints(out))
        }
        let u = x.floats, v = y.floats
        if kind.isComparison {
            var out = [Int64](repeating: 0, count: u.count)
            for i in 0..<u.count { out[i] = floatCompare(kind, u[i], v[i]) ? 1 : 0 }
            return Tensor(elementType: .bool, shape: shape, storage: .ints(out))
        }
        var out = [Float](repeating: 0, count: u.count)
        for i in 0..<u.count { out[i] = floatOp(kind, u[i], v[i]) }
        let type = a.elementType.isFloatingPoint ? a.elementType : (b.elementType.isFloatingPoint ? b.elementType : .float)
        return Tensor(elementType: type, shape: shape, storage: .floats(out))
    }

    private static func intOp(_ kind: BinaryKind, _ x: Int64, _ y: Int64) throws -> Int64 {
        switch kind {
        case .add: return x &+ y
        case .sub: return x &- y
        case .mul: return x &* y
        case .div:
            guard y != 0 else { throw EvaluationError.divisionByZero }
            return x.dividedReportingOverflow(by: y).partialValue
        case .mod(let fmod):
            guard y != 0 else { throw EvaluationError.divisionByZero }
            let r = x.remainderReportingOverflow(dividingBy: y).partialValue
            // fmod=0 takes the divisor's sign (Python), fmod=1 the dividend's (C).
            if !fmod && r != 0 && ((r < 0) != (y < 0)) { return r &+ y }
            return r
        case .pow:
            return integerPower(x, y)
        case .min: return Swift.min(x, y)
        case .max: return Swift.max(x, y)
        case .equal: return x == y ? 1 : 0
        case .less: return x < y ? 1 : 0
        case .lessOrEqual: return x <= y ? 1 : 0
        case .greater: return x > y ? 1 : 0
        case .greaterOrEqual: return x >= y ? 1 : 0
        case .and: return (x != 0 && y != 0) ? 1 : 0
        case .or: return (x != 0 || y != 0) ? 1 : 0
        case .xor: return ((x != 0) != (y != 0)) ? 1 : 0
        }
    }

    private static func floatOp(_ kind: BinaryKind, _ x: Float, _ y: Float) -> Float {
        switch kind {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        case .pow: return powf(x, y)
        case .mod(let fmod):
            let r = fmodf(x, y)
            if !fmod && r != 0 && ((r < 0) != (y < 0)) { return r + y }
            return r
        case .min: return Swift.min(x, y)
        case .max: return Swift.max(x, y)
        default: return floatCompare(kind, x, y) ? 1 : 0
        }
    }

    private static func floatCompare(_ kind: BinaryKind, _ x: Float, _ y: Float) -> Bool {
        switch kind {
        case .equal: return x == y
        case .less: return x < y
        case .lessOrEqual: return x <= y
        case .greater: return x > y
        case .greaterOrEqual: return x >= y
        case .and: return x != 0 && y != 0
        case .or: return x != 0 || y != 0
        case .xor: return (x != 0) != (y != 0)
        default: return false
        }
    }

    enum UnaryKind: Sendable { case neg, abs, floor, ceil, round, sqrt, reciprocal, exp, log, not, relu, sign }

    static func unary(_ kind: UnaryKind, _ t: Tensor) -> Tensor {
        if case .ints(let v) = t.storage {
            switch kind {
            case .neg: return Tensor(elementType: t.elementType, shape: t.shape, storage: .ints(v.map { 0 &- $0 }))
            case .abs: return Tensor(elementType: t.elementType, shape: t.shape, storage: .ints(v.map { $0 < 0 ? 0 &- $0 : $0 }))
            case .floor, .ceil, .round: return t
            case .not: return Tensor(elementType: .bool, shape: t.shape, storage: .ints(v.map { $0 == 0 ? 1 : 0 }))
            case .relu: return Tensor(elementType: t.elementType, shape: t.shape, storage: .ints(v.map { Swift.max($0, 0) }))
            case .sign: return Tensor(elementType: t.elementType, shape: t.shape, storage: .ints(v.map { $0.signum() }))
            default: break
            }
        }
        let v = t.floats
        let out: [Float]
        switch kind {
        case .neg: out = v.map { -$0 }
        case .abs: out = v.map { Swift.abs($0) }
        case .floor: out = v.map { $0.rounded(.down) }
        case .ceil: out = v.map { $0.rounded(.up) }
        case .round: out = v.map { $0.rounded(.toNearestOrEven) }
        case .sqrt: out = v.map { $0.squareRoot() }
        case .reciprocal: out = v.map { 1 / $0 }
        case .exp: out = v.map { expf($0) }
        case .log: out = v.map { logf($0) }
        case .not: out = v.map { $0 == 0 ? 1 : 0 }
        case .relu: out = v.map { Swift.max($0, 0) }
        case .sign: out = v.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        }
        if kind == .not {
            return Tensor(elementType: .bool, shape: t.shape, storage: .ints(out.map { Int64($0) }))
        }
        return Tensor(elementType: t.elementType.isFloatingPoint ? t.elementType : .float, shape: t.shape, storage: .floats(out))
    }

    /// `t` converted to `type` with ONNX Cast's rules (`Tensor.cast`).
    static func cast(_ t: Tensor, to type: ElementType, saturate: Bool = true, rounding: E8M0Rounding = .up) -> Tensor {
        t.cast(to: type, saturate: saturate, rounding: rounding)
    }

    /// A float as Int64, truncated toward zero; NaN is 0 and out-of-range values saturate.
    static func saturatingInt(_ x: Float) -> Int64 { truncatingInt64(x) }

    // MARK: Reductions

    enum ReduceKind: Sendable { case sum, mean, prod, max, min }

    /// Reduces `axes` (normalised, distinct) of `t`.
    static func reduce(_ kind: ReduceKind, _ t: Tensor, axes: [Int], keepDims: Bool) -> Tensor {
        let reduced = Set(axes)
        let keptShape = t.shape.indices.map { reduced.contains($0) ? 1 : t.shape[$0] }
        let outShape = keepDims ? keptShape : t.shape.indices.filter { !reduced.contains($0) }.map { t.shape[$0] }
        let outStrides = contiguousStrides(keptShape)
        let outCount = keptShape.reduce(1, *)
        // Map each source element to its output slot.
        let axisOffsets = t.shape.indices.map { a in
            reduced.contains(a) ? [Int](repeating: 0, count: t.shape[a]) : (0..<t.shape[a]).map { $0 * outStrides[a] }
        }
        let slots = offsets(outShape: t.shape, axisOffsets)
        let n = t.count / Swift.max(outCount, 1)
        if case .ints(let v) = t.storage {
            var out = [Int64](repeating: initialInt(kind), count: outCount)
            for (i, s) in slots.enumerated() {
                switch kind {
                case .sum, .mean: out[s] = out[s] &+ v[i]
                case .prod: out[s] = out[s] &* v[i]
                case .max: out[s] = Swift.max(out[s], v[i])
                case .min: out[s] = Swift.min(out[s], v[i])
                }
            }
            if kind == .mean && n > 0 { out = out.map { $0 / Int64(n) } }
            return Tensor(elementType: t.elementType, shape: outShape, storage: .ints(out))
        }
        let v = t.floats
        var out = [Float](repeating: initialFloat(kind), count: outCount)
        for (i, s) in slots.enumerated() {
            switch kind {
            case .sum, .mean: out[s] += v[i]
            case .prod: out[s] *= v[i]
            case .max: out[s] = Swift.max(out[s], v[i])
            case .min: out[s] = Swift.min(out[s], v[i])
            }
        }
        if kind == .mean && n > 0 { out = out.map { $0 / Float(n) } }
        return Tensor(elementType: t.elementType, shape: outShape, storage: .floats(out))
    }

    private static func initialInt(_ kind: ReduceKind) -> Int64 {
        switch kind {
        case .sum, .mean: return 0
        case .prod: return 1
        case .max: return .min
        case .min: return .max
        }
    }

    private static func initialFloat(_ kind: ReduceKind) -> Float {
        switch kind {
        case .sum, .mean: return 0
        case .prod: return 1
        case .max: return -.infinity
        case .min: return .infinity
        }
    }
}
