/// 2-D convolution, any group count, NCHW. Weight is [Cout, Cin/groups, KH, KW].
/// With `residual` the op takes a second input of the output's shape, added
/// before the activation (a fused residual Add).
public struct Convolution: Sendable, Equatable {
    public var weight: Tensor
    public var bias: [Float]?
    public var groups: Int
    /// [strideH, strideW]
    public var strides: [Int]
    /// [top, left, bottom, right]
    public var pads: [Int]
    /// [dilationH, dilationW]
    public var dilations: [Int]
    public var activation: Activation?
    public var residual: Bool

    public init(weight: Tensor, bias: [Float]?, groups: Int, strides: [Int], pads: [Int], dilations: [Int],
                activation: Activation? = nil, residual: Bool = false) {
        self.weight = weight
        self.bias = bias
        self.groups = groups
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.activation = activation
        self.residual = residual
    }

    public var outChannels: Int { weight.shape[0] }
    public var inChannelsPerGroup: Int { weight.shape[1] }
    public var kernel: [Int] { [weight.shape[2], weight.shape[3]] }
}

/// The four shapes of convolution a profile tells apart.
public enum ConvolutionKind: String, Sendable, Equatable, CaseIterable {
    /// groups == Cin == Cout (and groups > 1): one filter per channel.
    case depthwise = "DepthwiseConv"
    /// 1x1, stride 1, no padding, groups 1: a GEMM over pixels.
    case pointwise = "PointwiseConv"
    /// 1 < groups, not depthwise (ShuffleNet, ResNeXt, IGC, CondenseNet).
    case group = "GroupConv"
    /// Everything else: a dense convolution.
    case dense = "Conv"
}

extension Convolution {
    /// Input channels (Cin/groups x groups), 0 when the weight is malformed.
    public var inChannels: Int { weight.shape.count == 4 ? weight.shape[1] * groups : 0 }

    /// Which of the four kinds this convolution is. A single-channel "depthwise"
    /// conv (groups == 1) counts as dense or pointwise.
    public var kind: ConvolutionKind {
        guard weight.shape.count == 4 else { return .dense }
        let cout = weight.shape[0], cinPerGroup = weight.shape[1]
        if groups > 1 && cinPerGroup == 1 && cout == groups { return .depthwise }
        if groups > 1 { return .group }
        if weight.shape[2] == 1 && weight.shape[3] == 1 && strides.allSatisfy({ $0 == 1 }) && pads.allSatisfy({ $0 == 0 }) {
            return .pointwise
        }
        return .dense
    }

    /// Output size of one spatial axis, nil when the window does not fit.
    static func outputSize(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int) -> Int? {
        let extent = dilation * (kernel - 1) + 1
        let span = input + padBegin + padEnd - extent
        guard span >= 0 else { return nil }
        return span / stride + 1
    }

    /// Checks the op's own parameters (weight, bias, groups, strides, pads, dilations).
    func checkParameters() throws {
        let op = "Conv"
        guard weight.shape.count == 4 else {
            throw paramError(op, "weight must be [Cout, Cin/groups, KH, KW], got shape \(fmtShape(weight.shape))")
        }
        let count = try elementCount(op, weight.shape)
        guard weight.floats.count == count, count > 0 else {
            throw paramError(op, "weight of shape \(fmtShape(weight.shape)) holds \(weight.floats.count) values")
        }
        guard groups >= 1 else { throw paramError(op, "groups must be at least 1, got \(groups)") }
        guard weight.shape[0] % groups == 0 else {
            throw paramError(op, "output channels \(weight.shape[0]) are not divisible by groups \(groups)")
        }
        if let bias, bias.count != weight.shape[0] {
            throw paramError(op, "bias has \(bias.count) values for \(weight.shape[0]) output channels")
        }
        try checkWindowParameter(op, "kernel", kernel, count: 2, minimum: 1)
        try checkWindowParameter(op, "strides", strides, count: 2, minimum: 1)
        try checkWindowParameter(op, "dilations", dilations, count: 2, minimum: 1)
        try checkWindowParameter(op, "pads [top, left, bottom, right]", pads, count: 4, minimum: 0)
    }
}

extension Convolution: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Conv" }
    public var kindName: String { kind.rawValue }

    public var parameterSummary: String {
        let k = weight.shape.count == 4 ? "\(weight.shape[2])x\(weight.shape[3])" : "?"
        var s = "k=\(k) s=\(fmtList(strides)) p=\(fmtList(pads))"
        s += " d=\(fmtList(dilations)) g=\(groups) cout=\(weight.shape.first ?? 0)"
        if bias != nil { s += " bias" }
        if residual { s += " residual" }
        if let activation { s += " act=\(activation)" }
        return s
    }

    /// x [N, C, H, W] (and, with `residual`, a second input of the output's shape) -> [N, Cout, OH, OW].
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let op = typeName
        try checkParameters()
        try expectInputCount(op, inputs, residual ? 2 : 1)
        let x = inputs[0]
        try expectRank(op, x, 4)
        try checkShapes(op, inputs)
        let cin = weight.shape[1] * groups
        guard x[1] == cin else {
            throw shapeError(op, "input has \(x[1]) channels but the weight \(fmtShape(weight.shape)) with groups \(groups) expects \(cin)")
        }
        var spatial: [Int] = []
        for a in 0..<2 {
            guard let o = Self.outputSize(input: x[2 + a], kernel: weight.shape[2 + a], stride: strides[a], dilation: dilations[a],
                                          padBegin: pads[a], padEnd: pads[a + 2]) else {
                throw shapeError(op, "kernel \(weight.shape[2 + a]) (dilation \(dilations[a])) is larger than the padded input \(x[2 + a] + pads[a] + pads[a + 2]) on axis \(2 + a)")
            }
            spatial.append(o)
        }
        let out = [x[0], weight.shape[0], spatial[0], spatial[1]]
        if residual && inputs[1] != out {
            throw shapeError(op, "residual input has shape \(fmtShape(inputs[1])) but the output is \(fmtShape(out))")
        }
        return [out]
    }

    /// 2 * N*Cout*OH*OW * (Cin/g)*KH*KW, plus one FLOP per output for the bias and
    /// for the residual add, plus the activation's FLOPs per output.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let outElements = satProduct(outputs.first ?? [])
        let macsPerOutput = satProduct(weight.shape.dropFirst().map { $0 })
        var flops = satProduct(2, outElements, macsPerOutput)
        var perOutput = 0
        if bias != nil { perOutput += 1 }
        if residual { perOutput += 1 }
        if let activation { perOutput += activation.flopsPerElement }
        flops = satSum(flops, satProduct(perOutput, outElements))
        return OpCost(flops: flops, activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: floatBytes(satSum(satProduct(weight.shape), bias?.count ?? 0)),
                      bytesWritten: floatBytes(outElements))
    }

    /// Direct convolution. For each image and output channel the output plane
    /// starts at the bias; then every weight tap (input channel of the group,
    /// ky, kx) adds weight * input to each output it reaches, positions in the
    /// padding skipped. Each output thus sums bias + taps in (channel, ky, kx)
    /// order; the residual is added last, then the activation.
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let outShape = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let w = try floatValues(typeName, weight, "weight")
        let residualValues = residual ? try floatValues(typeName, inputs[1], "residual") : []
        let inShape = inputs[0].shape
        let (n, cin, h, wd) = (inShape[0], inShape[1], inShape[2], inShape[3])
        let (cout, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let (sh, sw) = (strides[0], strides[1])
        let (dh, dw) = (dilations[0], dilations[1])
        let (top, left) = (pads[0], pads[1])
        let cinPerGroup = cin / groups, coutPerGroup = cout / groups
        let plane = oh * ow
        var y = [Float](repeating: 0, count: n * cout * plane)
        x.withUnsafeBufferPointer { x in
            w.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { y in
                    for b in 0..<n {
                        for oc in 0..<cout {
                            let g = oc / coutPerGroup
                            let out = (b * cout + oc) * plane
                            let start = bias?[oc] ?? 0
                            for o in 0..<plane { y[out + o] = start }
                            for icg in 0..<cinPerGroup {
                                let input = (b * cin + g * cinPerGroup + icg) * h * wd
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let tap = w[((oc * cinPerGroup + icg) * kh + ky) * kw + kx]
                                        for oy in 0..<oh {
                                            let iy = oy * sh - top + ky * dh
                                            if iy < 0 || iy >= h { continue }
                                            for ox in 0..<ow {
                                                let ix = ox * sw - left + kx * dw
                                                if ix < 0 || ix >= wd { continue }
                                                y[out + oy * ow + ox] += x[input + iy * wd + ix] * tap
                                            }
                                        }
                                    }
                                }
                            }
                            for o in out..<(out + plane) {
                                var v = y[o]
                                if residual { v += residualValues[o] }
                                if let activation { v = activation.apply(v) }
                                y[o] = v
                            }
                        }
                    }
                }
            }
        }
        return [try makeTensor(outShape, y)]
    }
}
