import CProtobuf
import Foundation
import KiteCore

/// Turns a TensorProto's bytes or typed fields into a `Tensor`.
enum TensorDecoding {
    static func fromRaw(_ owner: UnsafeRawBufferPointerOwner, type: ElementType, shape: [Int], count: Int, ctx: ErrorContext) throws -> Tensor {
        try owner.data.withUnsafeBytes { try fromRaw($0, type: type, shape: shape, count: count, ctx: ctx) }
    }

    /// Decodes little-endian raw_data; its length must be exactly count x element size.
    static func fromRaw(_ raw: UnsafeRawBufferPointer, type: ElementType, shape: [Int], count: Int, ctx: ErrorContext) throws -> Tensor {
        if let bits = type.bitWidth, bits < 8 {
            let perByte = 8 / bits
            let expected = count / perByte + (count % perByte == 0 ? 0 : 1)   // no overflow for huge dims
            guard raw.count == expected else {
                throw KiteError.invalidTensor(ctx, "raw_data has \(raw.count) bytes but dims \(shape) of \(type) need \(expected)")
            }
            return unpackSubByte(Array(raw), type: type, shape: shape, count: count)
        }
        guard let width = type.byteWidth else {
            if type == .string { return Tensor(elementType: type, shape: shape, storage: .opaque(byteCount: raw.count)) }
            throw KiteError.invalidTensor(ctx, "raw_data is not allowed for data type \(type)")
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, raw.count == expected else {
            throw KiteError.invalidTensor(ctx, "raw_data has \(raw.count) bytes but dims \(shape) of \(type) need \(overflow ? "too many" : String(expected))")
        }
        func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
            (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * width, as: T.self)) }
        }
        let storage: TensorStorage
        switch type {
        case .float: storage = .floats(littleEndianValues(raw, count: count, as: UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) })
        case .double: storage = .floats(load(UInt64.self).map { Float(Double(bitPattern: $0)) })
        case .float16: storage = .floats(load(UInt16.self).map(halfBitsToFloat))
        case .bfloat16: storage = .floats(load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) })
        case .int8: storage = .ints(load(Int8.self).map { Int64($0) })
        case .uint8: storage = .ints(load(UInt8.self).map { Int64($0) })
        case .bool: storage = .ints(load(UInt8.self).map { $0 != 0 ? 1 : 0 })
        case .int16: storage = .ints(load(Int16.self).map { Int64($0) })
        case .uint16: storage = .ints(load(UInt16.self).map { Int64($0) })
        case .int32: storage = .ints(load(Int32.self).map { Int64($0) })
        case .uint32: storage = .ints(load(UInt32.self).map { Int64($0) })
        case .int64: storage = .ints(littleEndianValues(raw, count: count, as: Int64.self) { Int64(littleEndian: $0) })
        case .uint64: storage = .ints(load(UInt64.self).map { Int64(bitPattern: $0) })
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            storage = .floats(load(UInt8.self).map { decodeByte($0, type) })
        default: storage = .opaque(byteCount: raw.count)
        }
        return Tensor(elementType: type, shape: shape, storage: storage)
    }

    /// Decodes the typed repeated fields ONNX uses when raw_data is absent.
    static func fromTypedFields(_ t: Onnx__TensorProto, type: ElementType, shape: [Int], count: Int, ctx: ErrorContext) throws -> Tensor {
        func check(_ n: Int, _ field: String, per: Int = 1) throws {
            guard n == count * per else {
                throw KiteError.invalidTensor(ctx, "\(field) has \(n) values but dims \(shape) need \(count * per)")
            }
        }
        func int32s() throws -> [Int32] {
            try check(t.n_int32_data, "int32_data")
            return count == 0 ? [] : Array(UnsafeBufferPointer(start: t.int32_data, count: count))
        }
        let storage: TensorStorage
        switch type {
        case .float:
            try check(t.n_float_data, "float_data")
            storage = .floats(count == 0 ? [] : Array(UnsafeBufferPointer(start: t.float_data, count: count)))
        case .double:
            try check(t.n_double_data, "double_data")
            storage = .floats(count == 0 ? [] : UnsafeBufferPointer(start: t.double_data, count: count).map { Float($0) })
        case .float16:
            storage = .floats(try int32s().map { halfBitsToFloat(UInt16(truncatingIfNeeded: $0)) })
        case .bfloat16:
            storage = .floats(try int32s().map { Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16) })
        case .int8, .uint8, .int16, .uint16, .int32:
            storage = .ints(try int32s().map { Int64($0) })
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            storage = .floats(try int32s().map { decodeByte(UInt8(truncatingIfNeeded: $0), type) })
        case .uint4, .int4, .float4e2m1, .uint2, .int2:
            // int32_data holds the packed bytes, one per value.
            let perByte = 8 / (type.bitWidth ?? 4)
            let bytes = count / perByte + (count % perByte == 0 ? 0 : 1)
            guard t.n_int32_data == bytes else {
                throw KiteError.invalidTensor(ctx, "int32_data has \(t.n_int32_data) values but dims \(shape) of \(type) need \(bytes)")
            }
            let packed = bytes == 0 ? [] : UnsafeBufferPointer(start: t.int32_data, count: bytes).map { UInt8(truncatingIfNeeded: $0) }
            return unpackSubByte(packed, type: type, shape: shape, count: count)
        case .bool:
            storage = .ints(try int32s().map { $0 != 0 ? 1 : 0 })
        case .int64:
            try check(t.n_int64_data, "int64_data")
            storage = .ints(count == 0 ? [] : Array(UnsafeBufferPointer(start: t.int64_data, count: count)))
        case .uint32, .uint64:
            try check(t.n_uint64_data, "uint64_data")
            storage = .ints(count == 0 ? [] : UnsafeBufferPointer(start: t.uint64_data, count: count).map { Int64(bitPattern: $0) })
        case .string:
            try check(t.n_string_data, "string_data")
            let bytes = (0..<t.n_string_data).reduce(0) { $0 + t.string_data[$1].len }
            storage = .opaque(byteCount: bytes)
        case .complex64:
            try check(t.n_float_data, "float_data", per: 2)
            storage = .opaque(byteCount: count * 8)
        case .complex128:
            try check(t.n_double_data, "double_data", per: 2)
            storage = .opaque(byteCount: count * 16)
        case .undefined:
            throw KiteError.invalidTensor(ctx, "unknown data type 0")
        }
        return Tensor(elementType: type, shape: shape, storage: storage)
    }

    /// One byte of a float8 type as its value.
    static func decodeByte(_ b: UInt8, _ type: ElementType) -> Float {
        if type == .float8e8m0 { return E8M0.decode(b) }
        return MiniFloatFormat.of(type)?.decode(UInt32(b)) ?? .nan
    }

    /// Unpacks 4-bit (two per byte) or 2-bit (four per byte) elements, lowest bits first.
    static func unpackSubByte(_ bytes: [UInt8], type: ElementType, shape: [Int], count: Int) -> Tensor {
        let bits = type.bitWidth ?? 4
        let perByte = 8 / bits
        let mask = UInt8((1 << bits) - 1)
        var codes: [UInt8] = []
        codes.reserveCapacity(count)
        for i in 0..<count {
            let b = bytes[i / perByte]
            codes.append((b >> UInt8((i % perByte) * bits)) & mask)
        }
        if type == .float4e2m1 {
            return Tensor(elementType: type, shape: shape, storage: .floats(codes.map { MiniFloatFormat.e2m1.decode(UInt32($0)) }))
        }
        return Tensor(elementType: type, shape: shape, storage: .ints(codes.map { wrapInteger(Int64($0), to: type) }))
    }
}
