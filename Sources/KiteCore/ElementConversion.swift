/// Conversions between element types, following ONNX `Cast` (and the numpy /
/// ml_dtypes conversions its reference implementation uses):
///
/// - floating point to a narrower float rounds to nearest even;
/// - float8 with `saturate` clamps out-of-range values (infinities included) to the
///   largest finite value; without it they become NaN (or infinity for E5M2);
///   the `fnuz` types have no negative zero and one NaN (0x80);
/// - float8e8m0 (a bare power-of-two exponent) rounds per `E8M0Rounding` ("up" by default);
/// - float to integer truncates toward zero, then wraps to the target width
///   (NaN becomes 0; out-of-Int64-range values saturate first); to the 4- and 2-bit types,
///   a value out of the type's range becomes 0, as ml_dtypes converts it (ONNX leaves
///   out-of-range float to fixed-point casts undefined; its tests take ml_dtypes' values);
/// - anything to bool is `x != 0`.
///
/// Float types are stored as `Float` values already rounded to the type (exact for
/// every type up to float32; float64 is held at float32 precision); integer types
/// as `Int64` (uint64 as its bit pattern).

/// The parameters of a small binary floating-point format.
public struct MiniFloatFormat: Sendable, Equatable {
    public var exponentBits: Int
    public var mantissaBits: Int
    public var bias: Int
    /// Largest finite magnitude.
    public var maxValue: Float
    /// All-ones exponent encodes infinities (IEEE-like, E5M2).
    public var hasInfinity: Bool
    /// Whether the format can represent NaN at all.
    public var hasNaN: Bool
    /// The "fnuz" flavour: no negative zero, NaN is the sign bit alone (0x80).
    public var fnuz: Bool

    public static let e4m3fn = MiniFloatFormat(exponentBits: 4, mantissaBits: 3, bias: 7, maxValue: 448, hasInfinity: false, hasNaN: true, fnuz: false)
    public static let e4m3fnuz = MiniFloatFormat(exponentBits: 4, mantissaBits: 3, bias: 8, maxValue: 240, hasInfinity: false, hasNaN: true, fnuz: true)
    public static let e5m2 = MiniFloatFormat(exponentBits: 5, mantissaBits: 2, bias: 15, maxValue: 57344, hasInfinity: true, hasNaN: true, fnuz: false)
    public static let e5m2fnuz = MiniFloatFormat(exponentBits: 5, mantissaBits: 2, bias: 16, maxValue: 57344, hasInfinity: false, hasNaN: true, fnuz: true)
    public static let e2m1 = MiniFloatFormat(exponentBits: 2, mantissaBits: 1, bias: 1, maxValue: 6, hasInfinity: false, hasNaN: false, fnuz: false)

    public static func of(_ type: ElementType) -> MiniFloatFormat? {
        switch type {
        case .float8e4m3fn: return .e4m3fn
        case .float8e4m3fnuz: return .e4m3fnuz
        case .float8e5m2: return .e5m2
        case .float8e5m2fnuz: return .e5m2fnuz
        case .float4e2m1: return .e2m1
        default: return nil
        }
    }

    /// Exponent of the smallest normal value.
    var minExponent: Int { 1 - bias }

    /// `x` rounded to nearest even into this format.
    public func round(_ x: Float, saturate: Bool) -> Float {
        if x.isNaN { return hasNaN ? .nan : -0.0 }  // e2m1 has no NaN: ml_dtypes gives -0
        let overflow: Float = saturate || (!hasInfinity && !hasNaN) ? maxValue : (hasInfinity ? .infinity : .nan)
        if x.isInfinite { return x > 0 ? overflow : -overflow }
        let a = Swift.abs(x)
        if a == 0 { return fnuz ? 0 : x }
        let e = Swift.max(Int(a.exponent), minExponent)
        let quantum = Float(sign: .plus, exponent: e - mantissaBits, significand: 1)
        var v = (a / quantum).rounded(.toNearestOrEven) * quantum
        if v > maxValue { v = overflow }
        if v == 0 { return fnuz ? 0 : (x < 0 ? -0.0 : 0) }
        return x < 0 ? -v : v
    }

    /// The value of an encoded element (low `1 + exponentBits + mantissaBits` bits of `bits`).
    public func decode(_ bits: UInt32) -> Float {
        let width = 1 + exponentBits + mantissaBits
        let signBit = UInt32(1) << (width - 1)
        let negative = bits & signBit != 0
        let e = Int((bits >> mantissaBits) & ((1 << exponentBits) - 1))
        let m = Int(bits & ((1 << mantissaBits) - 1))
        if fnuz && bits & ((1 << width) - 1) == signBit { return .nan }
        let allOnes = (1 << exponentBits) - 1
        if hasInfinity && e == allOnes { return m == 0 ? (negative ? -.infinity : .infinity) : .nan }
        if hasNaN && !hasInfinity && !fnuz && e == allOnes && m == (1 << mantissaBits) - 1 { return .nan }
        let v: Float
        if e == 0 {
            v = Float(m) * Float(sign: .plus, exponent: minExponent - mantissaBits, significand: 1)
        } else {
            v = (1 + Float(m) / Float(1 << mantissaBits)) * Float(sign: .plus, exponent: e - bias, significand: 1)
        }
        return negative ? -v : v
    }
}

/// How a cast to float8e8m0 rounds a value that is not a power of two.
public enum E8M0Rounding: String, Sendable, Equatable, CaseIterable { case up, down, nearest }

/// E8M0: 8 exponent bits, no sign, no mantissa; 0xFF is NaN.
public enum E8M0 {
    /// The encoding of `x` (its magnitude's float32 exponent, rounded per `mode`).
    public static func encode(_ x: Float, saturate: Bool, rounding: E8M0Rounding) -> UInt8 {
        let bits = x.bitPattern
        var exponent = (bits >> 23) & 0xFF
        if exponent == 0xFF { return 0xFF }
        switch rounding {
        case .up:
            if bits & 0x7F_FFFF != 0 && !(saturate && exponent == 0xFE) { exponent += 1 }
        case .nearest:
            let g = bits & 0x40_0000 != 0, r = bits & 0x20_0000 != 0, s = bits & 0x1F_FFFF != 0
            let lsb = exponent > 0
            if g && (r || s || lsb) && !(saturate && exponent == 0xFE) { exponent += 1 }
        case .down:
            break
        }
        return UInt8(truncatingIfNeeded: exponent)
    }

    public static func decode(_ bits: UInt8) -> Float {
        if bits == 0xFF { return .nan }
        return Float(sign: .plus, exponent: Int(bits) - 127, significand: 1)
    }
}

/// `x` rounded to bfloat16 (nearest even; NaN stays NaN).
public func roundToBFloat16(_ x: Float) -> Float {
    if x.isNaN { return x }
    let bits = x.bitPattern
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return Float(bitPattern: rounded & 0xFFFF_0000)
}

/// `x` rounded to float16 (nearest even).
public func roundToHalf(_ x: Float) -> Float { halfBitsToFloat(floatToHalfBits(x)) }

/// `v` wrapped to the integer type `type` (two's complement truncation; bool is v != 0).
public func wrapInteger(_ v: Int64, to type: ElementType) -> Int64 {
    switch type {
    case .bool: return v != 0 ? 1 : 0
    case .int8: return Int64(Int8(truncatingIfNeeded: v))
    case .uint8: return Int64(UInt8(truncatingIfNeeded: v))
    case .int16: return Int64(Int16(truncatingIfNeeded: v))
    case .uint16: return Int64(UInt16(truncatingIfNeeded: v))
    case .int32: return Int64(Int32(truncatingIfNeeded: v))
    case .uint32: return Int64(UInt32(truncatingIfNeeded: v))
    case .int4: return ((v & 0xF) ^ 0x8) - 0x8
    case .uint4: return v & 0xF
    case .int2: return ((v & 0x3) ^ 0x2) - 0x2
    case .uint2: return v & 0x3
    default: return v
    }
}

extension ElementType {
    /// The values of the 4- and 2-bit integer types; nil for the others.
    var subByteRange: ClosedRange<Int64>? {
        switch self {
        case .int4: return -8...7
        case .uint4: return 0...15
        case .int2: return -2...1
        case .uint2: return 0...3
        default: return nil
        }
    }
}

/// A float as Int64, truncated toward zero; NaN is 0 and out-of-range values saturate.
public func truncatingInt64(_ x: Float) -> Int64 {
    if x.isNaN { return 0 }
    if x >= 9.2e18 { return .max }
    if x <= -9.2e18 { return .min }
    return Int64(x)
}

/// A float to uint64 (truncated toward zero), as its Int64 bit pattern.
func truncatingUInt64Bits(_ x: Float) -> Int64 {
    if x.isNaN || x <= 0 { return truncatingInt64(x) }
    if x >= 1.8e19 { return -1 }
    return Int64(bitPattern: UInt64(x))
}

/// `x` rounded into the floating-point type `type` (held as Float).
public func roundFloat(_ x: Float, to type: ElementType, saturate: Bool = true, rounding: E8M0Rounding = .up) -> Float {
    switch type {
    case .float16: return roundToHalf(x)
    case .bfloat16: return roundToBFloat16(x)
    case .float8e8m0: return E8M0.decode(E8M0.encode(x, saturate: saturate, rounding: rounding))
    default:
        if let format = MiniFloatFormat.of(type) { return format.round(x, saturate: saturate) }
        return x
    }
}

extension Tensor {
    /// Whether the elements are held as integers (`.ints` storage).
    public var holdsIntegers: Bool {
        if case .ints = storage { return true }
        return false
    }

    /// This tensor converted to `type` with ONNX Cast's rules (see the file comment).
    public func cast(to type: ElementType, saturate: Bool = true, rounding: E8M0Rounding = .up) -> Tensor {
        if case .opaque = storage { return Tensor(elementType: type, shape: shape, storage: storage) }
        if type.isFloatingPoint {
            let values = floats.map { roundFloat($0, to: type, saturate: saturate, rounding: rounding) }
            return Tensor(elementType: type, shape: shape, storage: .floats(values))
        }
        var values: [Int64]
        switch storage {
        case .ints(let v): values = v
        case .floats(let v):
            if type == .bool { return Tensor(elementType: type, shape: shape, storage: .ints(v.map { $0 != 0 ? 1 : 0 })) }
            values = type == .uint64 ? v.map(truncatingUInt64Bits) : v.map(truncatingInt64)
            if let range = type.subByteRange { values = values.map { range.contains($0) ? $0 : 0 } }
        case .opaque: values = []
        }
        values = values.map { wrapInteger($0, to: type) }
        return Tensor(elementType: type, shape: shape, storage: .ints(values))
    }

    /// The elements as Int64 when held as integers (bool as 0/1); nil for float or opaque storage.
    public var integerValues: [Int64]? {
        if case .ints(let v) = storage { return v }
        return nil
    }
}

/// `count` values of `raw` stored little-endian as `Stored`: one copy of the bytes on a
/// little-endian host when `Value` has `Stored`'s size (`convert` then only reinterprets bits; an
/// element-by-element conversion took a fifth of a model's load time), `convert` one by one otherwise.
@inlinable
public func littleEndianValues<Stored, Value>(_ raw: UnsafeRawBufferPointer, count: Int, as _: Stored.Type,
                                              _ convert: (Stored) -> Value) -> [Value] {
    #if _endian(little)
    if MemoryLayout<Stored>.size == MemoryLayout<Value>.size {
        return [Value](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0, let base = raw.baseAddress, let out = buffer.baseAddress {
                UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: count * MemoryLayout<Value>.stride)
            }
            initialized = count
        }
    }
    #endif
    return (0..<count).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Stored>.size, as: Stored.self)) }
}
