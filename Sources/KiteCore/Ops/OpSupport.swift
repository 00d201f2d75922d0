/// Helpers shared by the native ops' shape inference, cost and reference code.
/// Everything here validates rather than traps: shapes and tensors may come
/// from a file, so a bad one must become a `KiteError`, never a crash.

/// What every op can say about itself beyond `NativeOperator`: a more specific
/// name (a convolution's variant, an activation's name) and its key parameters
/// in one short line, for `inspect`, graph dumps and profiles.
public protocol NativeOperatorDetails: NativeOperator {
    /// A more specific name than `typeName` ("DepthwiseConv", "ReLU6", ...); `typeName` when there is none.
    var kindName: String { get }
    /// Key parameters as `key=value` words separated by spaces, deterministic ("" when none).
    var parameterSummary: String { get }
}

extension Op {
    /// The payload's more specific name (see `NativeOperatorDetails.kindName`).
    public var kindName: String {
        (nativeOperator as? any NativeOperatorDetails)?.kindName ?? typeName
    }

    /// The payload's key parameters in one line (see `NativeOperatorDetails.parameterSummary`).
    public var parameterSummary: String {
        (nativeOperator as? any NativeOperatorDetails)?.parameterSummary ?? ""
    }

    /// The activation fused into the op's epilogue, if any.
    public var fusedActivation: Activation? {
        switch self {
        case .conv(let c): return c.activation
        case .scaleShift(let s): return s.activation
        case .binary(let b): return b.activation
        case .fullyConnected(let f): return f.activation
        default: return nil
        }
    }
}

// MARK: - Errors

/// A shape error attributed to the op type `op`.
@usableFromInline
func shapeError(_ op: String, _ message: String) -> KiteError {
    KiteError.shapeMismatch(ErrorContext(opType: op), message)
}

/// An error about an op's own parameters (weights, attributes) attributed to `op`.
@usableFromInline
func paramError(_ op: String, _ message: String) -> KiteError {
    KiteError.invalidNode(ErrorContext(opType: op), message)
}

/// Throws unless there are exactly `count` inputs.
func expectInputCount(_ op: String, _ inputs: [[Int]], _ count: Int) throws {
    guard inputs.count == count else {
        throw shapeError(op, "expects \(count) input\(count == 1 ? "" : "s"), got \(inputs.count)")
    }
}

/// Throws unless `shape` has rank `rank`.
func expectRank(_ op: String, _ shape: [Int], _ rank: Int, _ what: String = "input") throws {
    guard shape.count == rank else {
        throw shapeError(op, "\(what) must have rank \(rank), got shape \(fmtShape(shape))")
    }
}

/// The element count of a shape, throwing on negative dims or overflow.
func elementCount(_ op: String, _ shape: [Int]) throws -> Int {
    guard let n = checkedElementCount(shape) else {
        throw shapeError(op, "shape \(fmtShape(shape)) has a negative dimension or more than 2^40 elements")
    }
    return n
}

/// The largest kernel size, stride, dilation or pad a window op accepts (as the ONNX lowering's
/// `maxExtent`): with shapes bounded by `maxElementCount`, window arithmetic then cannot overflow.
let maxWindowExtent = 1 << 30

/// Throws unless every value of the window parameter `name` is in `minimum...maxWindowExtent`.
func checkWindowParameter(_ op: String, _ name: String, _ values: [Int], count: Int, minimum: Int) throws {
    guard values.count == count, values.allSatisfy({ $0 >= minimum && $0 <= maxWindowExtent }) else {
        throw paramError(op, "\(name) must be \(count) values in \(minimum)...\(maxWindowExtent), got \(values)")
    }
}

/// Throws unless every dimension is non-negative and the element count is at most `maxElementCount`.
func checkShapes(_ op: String, _ shapes: [[Int]]) throws {
    for s in shapes { _ = try elementCount(op, s) }
}

/// `axis` in [-rank, rank) made non-negative.
func normalizeAxis(_ op: String, _ axis: Int, rank: Int) throws -> Int {
    guard axis >= -rank && axis < rank else {
        throw shapeError(op, "axis \(axis) is out of range for rank \(rank)")
    }
    return axis < 0 ? axis + rank : axis
}

// MARK: - Cost arithmetic

/// Product of the values, saturating at `Int.max` (cost never traps on odd shapes).
func satProduct(_ values: [Int]) -> Int {
    var n = 1
    for v in values {
        let (p, o) = n.multipliedReportingOverflow(by: Swift.max(v, 0))
        if o { return Int.max }
        n = p
    }
    return n
}

func satProduct(_ values: Int...) -> Int { satProduct(values) }

/// Sum saturating at `Int.max`.
func satSum(_ values: [Int]) -> Int {
    var n = 0
    for v in values {
        let (s, o) = n.addingReportingOverflow(v)
        if o { return Int.max }
        n = s
    }
    return n
}

func satSum(_ values: Int...) -> Int { satSum(values) }

/// Elements of every shape, summed (saturating).
func totalElements(_ shapes: [[Int]]) -> Int { satSum(shapes.map { satProduct($0) }) }

/// Bytes of float32 values.
func floatBytes(_ elements: Int) -> Int { satProduct(elements, 4) }

/// The cost of an op that computes nothing and copies `read` elements to `written` elements.
func movementCost(read: Int, written: Int, weightBytes: Int = 0) -> OpCost {
    OpCost(flops: 0, activationBytesRead: floatBytes(read), weightBytesRead: weightBytes, bytesWritten: floatBytes(written))
}

// MARK: - Tensors

/// The float values of `tensor`, checked against its shape (integers are converted).
func floatValues(_ op: String, _ tensor: Tensor, _ what: String = "input") throws -> [Float] {
    guard let n = checkedElementCount(tensor.shape) else {
        throw KiteError.invalidTensor(ErrorContext(opType: op), "\(what) has an invalid shape \(fmtShape(tensor.shape))")
    }
    if case .opaque = tensor.storage {
        throw KiteError.invalidTensor(ErrorContext(opType: op), "\(what) of type \(tensor.elementType) holds no numeric data")
    }
    let v = tensor.floats
    guard v.count == n else {
        throw KiteError.invalidTensor(ErrorContext(opType: op),
                                      "\(what) holds \(v.count) values but its shape \(fmtShape(tensor.shape)) needs \(n)")
    }
    return v
}

/// Checks the reference inputs' data and returns the output shapes `inferShapes` gives.
func referenceShapes<O: NativeOperator>(_ op: O, _ inputs: [Tensor]) throws -> [[Int]] {
    for (i, t) in inputs.enumerated() { _ = try floatValues(op.typeName, t, "input \(i)") }
    return try op.inferShapes(inputs.map(\.shape))
}

/// A float32 tensor; `values.count` has been checked against `shape` by construction.
func makeTensor(_ shape: [Int], _ values: [Float]) throws -> Tensor {
    guard checkedElementCount(shape) == values.count else {
        throw KiteError.invalidTensor(ErrorContext(), "internal: \(values.count) values for shape \(fmtShape(shape))")
    }
    return Tensor(shape: shape, floats: values)
}

/// Row-major multi-index of a flat offset.
func unravel(_ offset: Int, _ shape: [Int]) -> [Int] {
    var idx = [Int](repeating: 0, count: shape.count)
    var rest = offset
    for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] > 0 {
        idx[i] = rest % shape[i]
        rest /= shape[i]
    }
    return idx
}

// MARK: - Broadcasting

/// numpy broadcasting of two shapes, or nil when they do not fit.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            out[i] = da
        } else if da == 1 {
            out[i] = db
        } else {
            return nil
        }
    }
    return out
}

/// Strides for reading a tensor of `shape` broadcast to `target` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let lead = target.count - shape.count
    return target.indices.map { i in
        i < lead ? 0 : (shape[i - lead] == 1 && target[i] != 1 ? 0 : own[i - lead])
    }
}

// MARK: - Formatting

/// `[1,3,224,224]`.
func fmtShape(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

/// `1,2,3`.
func fmtList(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }

/// A list shown in full up to `limit` items, then `,...(+n)`.
func fmtLongList(_ values: [Int], limit: Int = 16) -> String {
    if values.count <= limit { return fmtList(values) }
    return fmtList(Array(values.prefix(limit))) + ",...(+\(values.count - limit))"
}
