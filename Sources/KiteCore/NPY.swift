import Foundation

/// NumPy `.npy` files (format 1.0-3.0), the tensors `kite run` reads and writes.
public enum NPY {
    /// What a decoded file held before it became float32.
    public struct Loaded: Sendable {
        public var tensor: Tensor
        /// The file's dtype as numpy spells it ("<f4", "<f8", "<i8", ...).
        public var dtype: String
        /// Whether the values were converted to float32 (not float32 in the file).
        public var converted: Bool { dtype != "<f4" && dtype != "|f4" }
    }

    /// Reads a `.npy` file as float32 (float64, float16 and integer arrays are converted).
    public static func read(path: String) throws -> Loaded {
        let ctx = ErrorContext(file: path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw KiteError.io(ctx, "no such file") }
        guard !isDir.boolValue else { throw KiteError.io(ctx, "is a directory, not a .npy file") }
        let data = try FileAccess.read(path)
        return try decode(data, ctx: ctx)
    }

    static func decode(_ data: Data, ctx: ErrorContext) throws -> Loaded {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw KiteError.malformed(ctx, "not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw KiteError.malformed(ctx, "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw KiteError.malformed(ctx, "unsupported .npy format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw KiteError.malformed(ctx, "truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header).flatMap(quoted) else {
            throw KiteError.malformed(ctx, "malformed .npy header (no descr)")
        }
        let fortran = field("fortran_order", in: header)?.hasPrefix("True") ?? false
        guard let shapeText = field("shape", in: header), let shape = parseShape(shapeText) else {
            throw KiteError.malformed(ctx, "malformed .npy header (bad shape)")
        }
        if fortran && shape.count > 1 { throw KiteError.malformed(ctx, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray") }
        guard let count = checkedElementCount(shape) else { throw KiteError.malformed(ctx, "shape \(shape) overflows") }
        let kinds: [String: Int] = ["f4": 4, "f8": 8, "f2": 2, "i1": 1, "u1": 1, "b1": 1, "i2": 2, "u2": 2, "i4": 4, "u4": 4, "i8": 8, "u8": 8]
        let order = descr.first ?? "<"
        let code = String(descr.dropFirst())
        guard let width = kinds[code], order != ">" || width == 1 else {
            throw KiteError.malformed(ctx, "unsupported dtype '\(descr)' (expected float32, float64 or an integer type, little-endian)")
        }
        let body = headerStart + headerLength
        guard bytes.count - body == count * width else {
            throw KiteError.malformed(ctx, "data has \(bytes.count - body) bytes but shape \(shape) of \(descr) needs \(count * width)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let o = body + i * width
                switch code {
                case "f4": values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                case "f8": values[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))))
                case "f2": values[i] = halfBitsToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                case "i1": values[i] = Float(raw.load(fromByteOffset: o, as: Int8.self))
                case "u1", "b1": values[i] = Float(raw.load(fromByteOffset: o, as: UInt8.self))
                case "i2": values[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int16.self)))
                case "u2": values[i] = Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                case "i4": values[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                case "u4": values[i] = Float(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                case "i8": values[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int64.self)))
                default: values[i] = Float(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)))
                }
            }
        }
        return Loaded(tensor: Tensor(shape: shape, floats: values), dtype: order == "|" ? "<" + code : descr)
    }

    /// Writes a tensor as a `.npy` (format 1.0, little-endian, C order): float32, or int64
    /// (uint64 as '<u8', bool as '|b1') for integer data.
    public static func write(_ tensor: Tensor, path: String) throws {
        let shapeText = tensor.shape.isEmpty ? "()" : tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        let ints = tensor.integerValues
        let descr = ints == nil ? "<f4" : (tensor.elementType == .bool ? "|b1" : (tensor.elementType == .uint64 ? "<u8" : "<i8"))
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let n = header.utf8.count
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        if let ints {
            if tensor.elementType == .bool {
                out.append(contentsOf: ints.map { $0 != 0 ? UInt8(1) : 0 })
            } else {
                ints.map(\.littleEndian).withUnsafeBufferPointer { out.append(Data(buffer: $0)) }
            }
        } else {
            tensor.floats.withUnsafeBufferPointer { out.append(Data(buffer: $0)) }
        }
        try FileAccess.write(out, to: path)
    }

    static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
    }

    static func quoted(_ s: String) -> String? {
        guard let q = s.first, q == "'" || q == "\"" else { return nil }
        let rest = s.dropFirst()
        guard let end = rest.firstIndex(of: q) else { return nil }
        return String(rest[..<end])
    }

    static func parseShape(_ s: String) -> [Int]? {
        guard s.hasPrefix("("), let end = s.firstIndex(of: ")") else { return nil }
        let inner = s[s.index(after: s.startIndex)..<end]
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { return nil }
            dims.append(v)
        }
        return dims
    }
}

/// IEEE 754 half bits -> Float.
public func halfBitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
}

/// Float -> IEEE 754 half bits, round to nearest even.
public func floatToHalfBits(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exp = Int((bits >> 23) & 0xFF)
    var mant = bits & 0x7F_FFFF
    if exp == 0xFF { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
    var e = exp - 127 + 15
    if e >= 31 { return sign | 0x7C00 }
    if e <= 0 {
        if e < -10 { return sign }
        mant |= 0x80_0000
        let shift = UInt32(14 - e)
        var half = mant >> shift
        let rem = mant & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }
    var half = UInt32(e) << 10 | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1) { half += 1 }
    e = 0
    return sign | UInt16(half)
}
