/// Element types, numbered as ONNX's `TensorProto.DataType` so codes pass through unchanged.
public enum ElementType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case undefined = 0
    case float = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case double = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// Bytes per element in a packed little-endian buffer (`nil` for strings and undefined).
    public var byteWidth: Int? {
        switch self {
        case .undefined, .string: return nil
        case .uint8, .int8, .bool: return 1
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: return 1
        case .uint4, .int4, .float4e2m1, .uint2, .int2: return nil
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .float, .int32, .uint32: return 4
        case .double, .int64, .uint64, .complex64: return 8
        case .complex128: return 16
        }
    }

    /// Bits per element; sub-byte types (4-bit, 2-bit) are packed low bits first.
    public var bitWidth: Int? {
        switch self {
        case .uint4, .int4, .float4e2m1: return 4
        case .uint2, .int2: return 2
        default: return byteWidth.map { $0 * 8 }
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float, .float16, .double, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz,
             .float4e2m1, .float8e8m0: return true
        default: return false
        }
    }

    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .int32, .int64, .uint32, .uint64, .bool, .uint4, .int4, .uint2, .int2: return true
        default: return false
        }
    }

    /// Unsigned integer types (and bool).
    public var isUnsigned: Bool {
        switch self {
        case .uint8, .uint16, .uint32, .uint64, .uint4, .uint2, .bool: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .undefined: return "undefined"
        case .float: return "float32"
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .string: return "string"
        case .bool: return "bool"
        case .float16: return "float16"
        case .double: return "float64"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .complex64: return "complex64"
        case .complex128: return "complex128"
        case .bfloat16: return "bfloat16"
        case .float8e4m3fn: return "float8e4m3fn"
        case .float8e4m3fnuz: return "float8e4m3fnuz"
        case .float8e5m2: return "float8e5m2"
        case .float8e5m2fnuz: return "float8e5m2fnuz"
        case .uint4: return "uint4"
        case .int4: return "int4"
        case .float4e2m1: return "float4e2m1"
        case .float8e8m0: return "float8e8m0"
        case .uint2: return "uint2"
        case .int2: return "int2"
        }
    }
}
