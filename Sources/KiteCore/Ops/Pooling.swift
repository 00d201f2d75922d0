public enum PoolKind: String, Sendable, Equatable { case max = "Max", average = "Average" }

/// Windowed 2-D max or average pooling over NCHW.
public struct Pooling: Sendable, Equatable {
    public var kind: PoolKind
    /// [KH, KW]
    public var kernel: [Int]
    public var strides: [Int]
    /// [top, left, bottom, right]
    public var pads: [Int]
    public var dilations: [Int]
    public var ceilMode: Bool
    /// Average only: whether padded positions count in the divisor.
    public var countIncludePad: Bool
    public init(kind: PoolKind, kernel: [Int], strides: [Int], pads: [Int], dilations: [Int] = [1, 1],
                ceilMode: Bool = false, countIncludePad: Bool = false) {
        self.kind = kind
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
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

    /// Checks kernel, strides, pads and dilations.
    func checkParameters() throws {
        let op = typeName
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
            throw paramError(op, "kernel must be two positive values, got \(kernel)")
        }
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else {
            throw paramError(op, "strides must be two positive values, got \(strides)")
        }
        guard dilations.count == 2, dilations.allSatisfy({ $0 >= 1 }) else {
            throw paramError(op, "dilations must be two positive values, got \(dilations)")
        }
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
            throw paramError(op, "pads must be four non-negative values [top, left, bottom, right], got \(pads)")
        }
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

    /// [N, C, H, W] -> [N, C, OH, OW] (see `outputSize`).
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try checkParameters()
        try expectInputCount(typeName, inputs, 1)
        let x = inputs[0]
        try expectRank(typeName, x, 4)
        try checkShapes(typeName, inputs)
        var out = [x[0], x[1]]
        for a in 0..<2 {
            guard let o = Self.outputSize(input: x[2 + a], kernel: kernel[a], stride: strides[a], dilation: dilations[a],
                                          padBegin: pads[a], padEnd: pads[a + 2], ceilMode: ceilMode) else {
                throw shapeError(typeName, "kernel \(kernel[a]) (dilation \(dilations[a])) is larger than the padded input \(x[2 + a] + pads[a] + pads[a + 2]) on axis \(2 + a)")
            }
            out.append(o)
        }
        return [out]
    }

    /// KH*KW FLOPs per output (a compare or an add per window element).
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, satProduct(kernel)), activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: 0, bytesWritten: floatBytes(n))
    }

    /// Max ignores padded positions (a window with none valid gives -Float.greatestFiniteMagnitude,
    /// as onnxruntime's lowest). Average divides by the valid positions, or with
    /// `countIncludePad` by the positions inside the padded input [-padBegin, input + padEnd)
    /// (a ceil-mode window's overhang beyond that is not counted); an empty window gives 0.
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let shape = inputs[0].shape
        let (h, w) = (shape[2], shape[3])
        let (oh, ow) = (out[2], out[3])
        let planes = shape[0] * shape[1]
        var y = [Float](repeating: 0, count: planes * oh * ow)
        for p in 0..<planes {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var maxValue = -Float.greatestFiniteMagnitude
                    var sum: Float = 0
                    var valid = 0, inPadded = 0
                    for ky in 0..<kernel[0] {
                        let iy = oy * strides[0] - pads[0] + ky * dilations[0]
                        let rowInPadded = iy >= -pads[0] && iy < h + pads[2]
                        for kx in 0..<kernel[1] {
                            let ix = ox * strides[1] - pads[1] + kx * dilations[1]
                            if rowInPadded && ix >= -pads[1] && ix < w + pads[3] { inPadded += 1 }
                            guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                            let v = x[(p * h + iy) * w + ix]
                            valid += 1
                            sum += v
                            if v > maxValue || v.isNaN { maxValue = v }
                        }
                    }
                    let o = (p * oh + oy) * ow + ox
                    switch kind {
                    case .max:
                        y[o] = maxValue
                    case .average:
                        let divisor = countIncludePad ? inPadded : valid
                        y[o] = divisor > 0 ? sum / Float(divisor) : 0
                    }
                }
            }
        }
        return [try makeTensor(out, y)]
    }
}
