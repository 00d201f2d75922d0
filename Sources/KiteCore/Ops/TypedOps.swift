/// Element-wise ops beyond the float32 CNN set: Cast between element types,
/// comparisons and logic (bool results), Where, Min/Max/Pow/Mod, and unary math.
/// They run on their reference implementations (no fast kernel); integer tensors
/// are computed exactly in Int64 and wrapped to their type.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Broadcasting helpers

/// For each operand, the flat source offset of every element of the broadcast output `out`.
func broadcastOffsets(_ shapes: [[Int]], to out: [Int]) -> [[Int]] {
    let count = satProduct(out)
    let strides = shapes.map { broadcastStrides($0, to: out) }
    var result = shapes.map { _ in [Int](repeating: 0, count: count) }
    var index = [Int](repeating: 0, count: out.count)
    var offsets = [Int](repeating: 0, count: shapes.count)
    for o in 0..<count {
        for k in 0..<shapes.count { result[k][o] = offsets[k] }
        var d = out.count - 1
        while d >= 0 {
            index[d] += 1
            for k in 0..<shapes.count { offsets[k] += strides[k][d] }
            if index[d] < out[d] { break }
            for k in 0..<shapes.count { offsets[k] -= strides[k][d] * out[d] }
            index[d] = 0
            d -= 1
        }
    }
    return result
}

/// The numpy broadcast of several shapes.
func broadcastAll(_ op: String, _ shapes: [[Int]]) throws -> [Int] {
    guard var out = shapes.first else { throw shapeError(op, "expects inputs") }
    for s in shapes.dropFirst() {
        guard let b = broadcastShapes(out, s) else {
            throw shapeError(op, "shapes \(shapes.map(fmtShape).joined(separator: ", ")) do not broadcast")
        }
        out = b
    }
    _ = try elementCount(op, out)
    return out
}

/// A tensor of `type` from float results (rounded into the type) or integer results (wrapped).
func typedTensor(_ shape: [Int], floats: [Float], type: ElementType) -> Tensor {
    let t = Tensor(elementType: .float, shape: shape, storage: .floats(floats))
    return type == .float ? t : t.cast(to: type)
}

func typedTensor(_ shape: [Int], ints: [Int64], type: ElementType) -> Tensor {
    Tensor(elementType: type, shape: shape, storage: .ints(ints.map { wrapInteger($0, to: type) }))
}

/// Elements per output for element-wise costs.
func elementwiseCost(_ inputs: [[Int]], _ outputs: [[Int]], flopsPerElement: Int) -> OpCost {
    let n = satProduct(outputs.first ?? [])
    return OpCost(flops: satProduct(n, flopsPerElement), activationBytesRead: floatBytes(totalElements(inputs)),
                  weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
}

// MARK: - Cast

/// Conversion to another element type with ONNX Cast's rules (`Tensor.cast`).
public struct Cast: Sendable, Equatable {
    public var to: ElementType
    /// float8 only: clamp out-of-range values instead of giving NaN / infinity.
    public var saturate: Bool
    /// float8e8m0 only.
    public var rounding: E8M0Rounding
    public init(to: ElementType, saturate: Bool = true, rounding: E8M0Rounding = .up) {
        self.to = to
        self.saturate = saturate
        self.rounding = rounding
    }
}

extension Cast: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Cast" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "to=\(to)" + (saturate ? "" : " saturate=0") + (to == .float8e8m0 ? " round=\(rounding.rawValue)" : "") }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        guard to.isFloatingPoint || to.isInteger else { throw paramError(typeName, "cannot cast to \(to)") }
        return [inputs[0]]
    }

    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { elementwiseCost(inputs, outputs, flopsPerElement: 1) }

    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] { [ElementType](repeating: to, count: count) }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        _ = try referenceShapes(self, inputs)
        return [inputs[0].cast(to: to, saturate: saturate, rounding: rounding)]
    }
}

// MARK: - Two-operand element-wise ops

/// Element-wise ops of two runtime operands with numpy broadcasting, beyond Add/Sub/Mul/Div.
public struct ElementwiseBinary: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case max = "Max", min = "Min", pow = "Pow", mod = "Mod", fmod = "FMod"
        case equal = "Equal", less = "Less", lessOrEqual = "LessOrEqual", greater = "Greater", greaterOrEqual = "GreaterOrEqual"
        case and = "And", or = "Or", xor = "Xor"

        /// Comparisons and logic give bool.
        public var givesBool: Bool {
            switch self {
            case .equal, .less, .lessOrEqual, .greater, .greaterOrEqual, .and, .or, .xor: return true
            default: return false
            }
        }
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
}

extension ElementwiseBinary.Kind {
    public func apply(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .max: return x.isNaN || y.isNaN ? .nan : Swift.max(x, y)
        case .min: return x.isNaN || y.isNaN ? .nan : Swift.min(x, y)
        case .pow: return powf(x, y)
        case .fmod: return fmodf(x, y)
        case .mod:
            let r = fmodf(x, y)
            return r != 0 && (r < 0) != (y < 0) ? r + y : r
        case .equal: return x == y ? 1 : 0
        case .less: return x < y ? 1 : 0
        case .lessOrEqual: return x <= y ? 1 : 0
        case .greater: return x > y ? 1 : 0
        case .greaterOrEqual: return x >= y ? 1 : 0
        case .and: return x != 0 && y != 0 ? 1 : 0
        case .or: return x != 0 || y != 0 ? 1 : 0
        case .xor: return (x != 0) != (y != 0) ? 1 : 0
        }
    }

    /// Integer form; nil for integer division by zero.
    public func apply(_ x: Int64, _ y: Int64, unsigned: Bool) -> Int64? {
        func lt(_ a: Int64, _ b: Int64) -> Bool { unsigned ? UInt64(bitPattern: a) < UInt64(bitPattern: b) : a < b }
        switch self {
        case .max: return lt(x, y) ? y : x
        case .min: return lt(x, y) ? x : y
        case .pow:
            return integerPower(x, y)
        case .mod, .fmod:
            guard y != 0 else { return nil }
            let r = x.remainderReportingOverflow(dividingBy: y).partialValue
            if self == .mod && r != 0 && (r < 0) != (y < 0) { return r &+ y }
            return r
        case .equal: return x == y ? 1 : 0
        case .less: return lt(x, y) ? 1 : 0
        case .lessOrEqual: return lt(y, x) ? 0 : 1
        case .greater: return lt(y, x) ? 1 : 0
        case .greaterOrEqual: return lt(x, y) ? 0 : 1
        case .and: return x != 0 && y != 0 ? 1 : 0
        case .or: return x != 0 || y != 0 ? 1 : 0
        case .xor: return (x != 0) != (y != 0) ? 1 : 0
        }
    }
}

extension ElementwiseBinary: NativeOperator, NativeOperatorDetails {
    public var typeName: String { kind.rawValue }
    public var kindName: String { typeName }
    public var parameterSummary: String { "" }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 2)
        try checkShapes(typeName, inputs)
        return [try broadcastAll(typeName, inputs)]
    }

    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { elementwiseCost(inputs, outputs, flopsPerElement: 1) }

    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [ElementType](repeating: kind.givesBool ? .bool : (inputs.first ?? .float), count: count)
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let maps = broadcastOffsets(inputs.map(\.shape), to: out)
        let type = kind.givesBool ? ElementType.bool : inputs[0].elementType
        if let a = inputs[0].integerValues, let b = inputs[1].integerValues {
            let unsigned = inputs[0].elementType.isUnsigned && inputs[0].elementType != .bool
            var y = [Int64](repeating: 0, count: maps[0].count)
            for o in 0..<y.count {
                guard let v = kind.apply(a[maps[0][o]], b[maps[1][o]], unsigned: unsigned) else {
                    throw KiteError.invalidTensor(ErrorContext(opType: typeName), "integer division by zero")
                }
                y[o] = v
            }
            return [typedTensor(out, ints: y, type: type)]
        }
        let a = try floatValues(typeName, inputs[0], "left operand"), b = try floatValues(typeName, inputs[1], "right operand")
        var y = [Float](repeating: 0, count: maps[0].count)
        for o in 0..<y.count { y[o] = kind.apply(a[maps[0][o]], b[maps[1][o]]) }
        return [typedTensor(out, floats: y, type: type)]
    }
}

// MARK: - Where

/// `condition ? x : y` element-wise with numpy broadcasting of the three inputs.
public struct Where: Sendable, Equatable {
    public init() {}
}

extension Where: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Where" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "" }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 3)
        try checkShapes(typeName, inputs)
        return [try broadcastAll(typeName, inputs)]
    }

    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { elementwiseCost(inputs, outputs, flopsPerElement: 1) }

    /// The type of x (and y).
    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [ElementType](repeating: inputs.count > 1 ? inputs[1] : .float, count: count)
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let maps = broadcastOffsets(inputs.map(\.shape), to: out)
        let c = try floatValues(typeName, inputs[0], "condition")
        if let x = inputs[1].integerValues, let y = inputs[2].integerValues {
            let v = (0..<maps[0].count).map { o in c[maps[0][o]] != 0 ? x[maps[1][o]] : y[maps[2][o]] }
            return [typedTensor(out, ints: v, type: inputs[1].elementType)]
        }
        let x = try floatValues(typeName, inputs[1], "x"), y = try floatValues(typeName, inputs[2], "y")
        let v = (0..<maps[0].count).map { o in c[maps[0][o]] != 0 ? x[maps[1][o]] : y[maps[2][o]] }
        return [typedTensor(out, floats: v, type: inputs[1].elementType)]
    }
}

// MARK: - Unary math

/// One-input element-wise math.
public struct Unary: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case exp = "Exp", log = "Log", neg = "Neg", abs = "Abs", sqrt = "Sqrt", reciprocal = "Reciprocal"
        case floor = "Floor", ceil = "Ceil", round = "Round", not = "Not", sign = "Sign", tanh = "Tanh", erf = "Erf"
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
}

extension Unary.Kind {
    public func apply(_ x: Float) -> Float {
        switch self {
        case .exp: return expf(x)
        case .log: return logf(x)
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .sqrt: return x.squareRoot()
        case .reciprocal: return 1 / x
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)
        case .not: return x == 0 ? 1 : 0
        case .sign: return x > 0 ? 1 : (x < 0 ? -1 : (x.isNaN ? .nan : 0))
        case .tanh: return tanhf(x)
        case .erf: return erff(x)
        }
    }

    /// Integer form where one is defined (nil: compute in float).
    func apply(_ x: Int64) -> Int64? {
        switch self {
        case .neg: return 0 &- x
        case .abs: return x < 0 ? 0 &- x : x
        case .floor, .ceil, .round: return x
        case .not: return x == 0 ? 1 : 0
        case .sign: return x.signum()
        default: return nil
        }
    }

    var flops: Int {
        switch self {
        case .exp, .log, .tanh, .erf: return 8
        case .sqrt, .reciprocal: return 4
        default: return 1
        }
    }
}

extension Unary: NativeOperator, NativeOperatorDetails {
    public var typeName: String { kind.rawValue }
    public var kindName: String { typeName }
    public var parameterSummary: String { "" }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        return [inputs[0]]
    }

    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { elementwiseCost(inputs, outputs, flopsPerElement: kind.flops) }

    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [ElementType](repeating: kind == .not ? .bool : (inputs.first ?? .float), count: count)
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let type = kind == .not ? ElementType.bool : inputs[0].elementType
        if let v = inputs[0].integerValues, kind.apply(0) != nil {
            return [typedTensor(shape, ints: v.map { kind.apply($0) ?? 0 }, type: type)]
        }
        let x = try floatValues(typeName, inputs[0])
        return [typedTensor(shape, floats: x.map { kind.apply($0) }, type: type)]
    }
}

/// `x` to the power `y` in wrapping Int64 arithmetic; a negative exponent gives the integer
/// part of 1 / x^|y| (1 for x = 1, +-1 for x = -1, else 0).
public func integerPower(_ x: Int64, _ y: Int64) -> Int64 {
    guard y >= 0 else { return x == 1 ? 1 : (x == -1 ? (y & 1 == 0 ? 1 : -1) : 0) }
    var result: Int64 = 1, base = x, e = y
    while e > 0 {
        if e & 1 == 1 { result = result &* base }
        base = base &* base
        e >>= 1
    }
    return result
}
