/// Where a tensor's elements live. Floating-point types are held as `Float`
/// (the compute type), integers and booleans as `Int64` (shape arithmetic);
/// anything else is kept only as its size, enough for `inspect`.
public enum TensorStorage: Equatable, Sendable {
    case floats([Float])
    case ints([Int64])
    case opaque(byteCount: Int)
}

/// A dense, row-major tensor value.
public struct Tensor: Equatable, Sendable {
    public var elementType: ElementType
    public var shape: [Int]
    public var storage: TensorStorage

    public init(elementType: ElementType, shape: [Int], storage: TensorStorage) {
        self.elementType = elementType
        self.shape = shape
        self.storage = storage
    }

    /// A float32 tensor; `values.count` must equal the product of `shape`.
    public init(shape: [Int], floats: [Float]) {
        precondition(floats.count == dataCount(shape), "tensor data does not match shape \(shape)")
        self.init(elementType: .float, shape: shape, storage: .floats(floats))
    }

    /// An int64 tensor; `values.count` must equal the product of `shape`.
    public init(shape: [Int], ints: [Int64]) {
        precondition(ints.count == dataCount(shape), "tensor data does not match shape \(shape)")
        self.init(elementType: .int64, shape: shape, storage: .ints(ints))
    }

    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, floats: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    /// The elements as floats (integers converted); empty for opaque storage.
    public var floats: [Float] {
        switch storage {
        case .floats(let v): return v
        case .ints(let v): return elementType == .uint64 ? v.map { Float(UInt64(bitPattern: $0)) } : v.map { Float($0) }
        case .opaque: return []
        }
    }

    /// The elements as integers (floats truncated toward zero); empty for opaque storage.
    public var ints: [Int64] {
        switch storage {
        case .ints(let v): return v
        case .floats(let v): return v.map { $0.isFinite ? Int64($0) : 0 }
        case .opaque: return []
        }
    }

    /// Bytes the tensor occupies in its declared element type.
    public var byteCount: Int {
        if case .opaque(let n) = storage { return n }
        if let w = elementType.byteWidth { return count * w }
        if let bits = elementType.bitWidth, bits < 8 { return count / (8 / bits) + (count % (8 / bits) == 0 ? 0 : 1) }
        return count * 4
    }
}

/// The most elements (and the largest dimension) a shape may have: 2^40, 4 TiB of float32, far
/// beyond any model. Bounding shapes from files here means later sums and products of a few
/// dims, pads and strides (each also bounded) cannot overflow.
public let maxElementCount = 1 << 40

/// Product of dimensions, or nil when a dimension is negative or the product (or a
/// dimension) exceeds `maxElementCount`.
public func checkedElementCount(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
        guard d >= 0 && d <= maxElementCount else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow || p > maxElementCount { return nil }
        n = p
    }
    return n
}

/// Product of dimensions for the initialisers' checks: 0 when any dimension is 0 (however large
/// the others), nil on overflow. Unlike `checkedElementCount` it has no bound, so an empty tensor
/// of any declared shape can still be made.
private func dataCount(_ shape: [Int]) -> Int? {
    if shape.contains(0) { return 0 }
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}

/// Row-major strides of a shape.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}
