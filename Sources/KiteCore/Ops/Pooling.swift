public enum PoolKind: String, Sendable, Equatable { case max = "Max", average = "Average" }

/// Windowed max or average pooling over N-C-spatial input with any number of spatial
/// axes (1-D, 2-D, 3-D, ...; the fast kernels take 2-D, the others run on the reference).
public struct Pooling: Sendable, Equatable {
    public var kind: PoolKind
    /// One size per spatial axis ([KH, KW] in 2-D).
    public var kernel: [Int]
    public var strides: [Int]
    /// Begins then ends ([top, left, bottom, right] in 2-D).
    public var pads: [Int]
    public var dilations: [Int]
    public var ceilMode: Bool
    /// Average only: whether padded positions count in the divisor.
    public var countIncludePad: Bool
    /// Max only: a second output (int64) with the flat index of each maximum in the input.
    public var withIndices: Bool
    /// With `withIndices`: spatial offsets in column-major order (ONNX storage_order=1).
    public var columnMajorIndices: Bool
    public init(kind: PoolKind, kernel: [Int], strides: [Int], pads: [Int], dilations: [Int]? = nil,
                ceilMode: Bool = false, countIncludePad: Bool = false, withIndices: Bool = false, columnMajorIndices: Bool = false) {
        self.kind = kind
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
        self.dilations = dilations ?? [Int](repeating: 1, count: kernel.count)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        self.withIndices = withIndices
        self.columnMajorIndices = columnMajorIndices
    }
}

extension Pooling {
    /// ONNX's pooled size of one axis: floor (or ceil with `ceilMode`) of
    /// (input + padBegin + padEnd - dilation*(kernel-1) - 1) / stride, plus 1;
    /// with `ceilMode` a last window that would start beyond the input and the
    /// left padding is dropped. Nil when the window does not fit.
    public static func outputSize(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int,
                                  ceilMode: Bool) -> Int? {
        let extent = dilation * (kernel - 1) + 1
        let span = input + padBegin + padEnd - extent
        guard span >= 0 else { return nil }
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (out - 1) * stride >= input + padBegin { out -= 1 }
        return out
    }

    /// Checks kernel, strides, pads and dilations (one value per spatial axis, pads twice).
    func checkParameters() throws {
        let op = typeName
        let n = kernel.count
        guard n >= 1 else { throw paramError(op, "kernel must be one or more positive values, got \(kernel)") }
        try checkWindowParameter(op, "kernel", kernel, count: n, minimum: 1)
        try checkWindowParameter(op, "strides", strides, count: n, minimum: 1)
        try checkWindowParameter(op, "dilations", dilations, count: n, minimum: 1)
        try checkWindowParameter(op, "pads (begins, then ends)", pads, count: 2 * n, minimum: 0)
        if withIndices && kind != .max { throw paramError(op, "only max pooling has an indices output") }
    }
}

extension Pooling: NativeOperator, NativeOperatorDetails {
    /// "MaxPool" or "AveragePool".
    public var typeName: String { kind == .max ? "MaxPool" : "AveragePool" }
    public var kindName: String { typeName }

    public var parameterSummary: String {
        var s = "k=\(kernel.map(String.init).joined(separator: "x")) s=\(fmtList(strides)) p=\(fmtList(pads)) d=\(fmtList(dilations))"
        if ceilMode { s += " ceil" }
        if kind == .average && countIncludePad { s += " count_include_pad" }
        return s
    }

    /// [N, C, D1, ...] -> [N, C, O1, ...] (see `outputSize`); with indices, a second output of the same shape.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try checkParameters()
        try expectInputCount(typeName, inputs, 1)
        let x = inputs[0]
        let n = kernel.count
        try expectRank(typeName, x, n + 2)
        try checkShapes(typeName, inputs)
        var out = [x[0], x[1]]
        for a in 0..<n {
            guard let o = Self.outputSize(input: x[2 + a], kernel: kernel[a], stride: strides[a], dilation: dilations[a],
                                          padBegin: pads[a], padEnd: pads[a + n], ceilMode: ceilMode) else {
                throw shapeError(typeName, "kernel \(kernel[a]) (dilation \(dilations[a])) is larger than the padded input \(x[2 + a] + pads[a] + pads[a + n]) on axis \(2 + a)")
            }
            out.append(o)
        }
        return withIndices ? [out, out] : [out]
    }

    /// Output, and the int64 indices.
    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [inputs.first ?? .float, .int64].prefix(count).map { $0 }
    }

    /// prod(kernel) FLOPs per output (a compare or an add per window element).
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, satProduct(kernel)), activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: 0, bytesWritten: floatBytes(totalElements(outputs)))
    }

    /// Max ignores padded positions (a window with none valid gives -Float.greatestFiniteMagnitude,
    /// as onnxruntime's lowest). Average divides by the valid positions, or with
    /// `countIncludePad` by the positions inside the padded input [-padBegin, input + padEnd)
    /// (a ceil-mode window's overhang beyond that is not counted); an empty window gives 0.
    /// The indices are flat offsets into the input (N, C and the spatial position; the
    /// spatial part column-major with `columnMajorIndices`), the first maximum winning.
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let outs = try referenceShapes(self, inputs)
        let out = outs[0]
        let x = try floatValues(typeName, inputs[0])
        let shape = inputs[0].shape
        let n = kernel.count
        let spatial = Array(shape[2...]), outSpatial = Array(out[2...])
        let planeSize = satProduct(spatial), outPlaneSize = satProduct(outSpatial)
        let rowStrides = contiguousStrides(spatial)
        var colStrides = [Int](repeating: 1, count: n)
        for a in stride(from: 1, to: n, by: 1) { colStrides[a] = colStrides[a - 1] * spatial[a - 1] }
        let windowSize = satProduct(kernel)
        let planes = shape[0] * shape[1]
        var y = [Float](repeating: 0, count: planes * outPlaneSize)
        var indices = [Int64](repeating: 0, count: withIndices ? y.count : 0)
        var position = [Int](repeating: 0, count: n)
        for p in 0..<planes {
            for oi in 0..<outPlaneSize {
                let oIndex = unravel(oi, outSpatial)
                var maxValue = -Float.greatestFiniteMagnitude
                var maxAt = -1
                var sum: Float = 0
                var valid = 0, inPadded = 0
                for w in 0..<windowSize {
                    let kIndex = unravel(w, kernel)
                    var inside = true, insidePadded = true
                    for a in 0..<n {
                        let i = oIndex[a] * strides[a] - pads[a] + kIndex[a] * dilations[a]
                        position[a] = i
                        if i < 0 || i >= spatial[a] { inside = false }
                        if i < -pads[a] || i >= spatial[a] + pads[a + n] { insidePadded = false }
                    }
                    if insidePadded { inPadded += 1 }
                    guard inside else { continue }
                    var offset = 0
                    for a in 0..<n { offset += position[a] * rowStrides[a] }
                    let v = x[p * planeSize + offset]
                    valid += 1
                    sum += v
                    if maxAt < 0 || v > maxValue || (v.isNaN && !maxValue.isNaN) {
                        maxValue = v
                        maxAt = 0
                        for a in 0..<n { maxAt += position[a] * (columnMajorIndices ? colStrides[a] : rowStrides[a]) }
                    }
                }
                let o = p * outPlaneSize + oi
                switch kind {
                case .max:
                    y[o] = maxAt < 0 ? -Float.greatestFiniteMagnitude : maxValue
                    if withIndices { indices[o] = Int64(p * planeSize + Swift.max(maxAt, 0)) }
                case .average:
                    let divisor = countIncludePad ? inPadded : valid
                    y[o] = divisor > 0 ? sum / Float(divisor) : 0
                }
            }
        }
        let result = typedTensor(out, floats: y, type: inputs[0].elementType)
        guard withIndices else { return [result] }
        return [result, Tensor(elementType: .int64, shape: outs[1], storage: .ints(indices))]
    }
}
