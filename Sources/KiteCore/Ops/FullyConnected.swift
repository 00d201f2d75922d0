/// y = act(x W^T + b): x is [M, K], weight is [N, K], bias [N].
public struct FullyConnected: Sendable, Equatable {
    public var weight: Tensor
    public var bias: [Float]?
    public var activation: Activation?
    public init(weight: Tensor, bias: [Float]?, activation: Activation? = nil) {
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }
}

extension FullyConnected: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "FullyConnected" }
    public var kindName: String { typeName }

    public var parameterSummary: String {
        var s = "n=\(weight.shape.first ?? 0) k=\(weight.shape.count == 2 ? weight.shape[1] : 0)"
        if bias != nil { s += " bias" }
        if let activation { s += " act=\(activation)" }
        return s
    }

    /// Checks weight [N, K] and bias [N].
    func checkParameters() throws {
        guard weight.shape.count == 2 else {
            throw paramError(typeName, "weight must be [N, K], got shape \(fmtShape(weight.shape))")
        }
        let n = try elementCount(typeName, weight.shape)
        guard weight.floats.count == n else {
            throw paramError(typeName, "weight of shape \(fmtShape(weight.shape)) holds \(weight.floats.count) values")
        }
        if let bias, bias.count != weight.shape[0] {
            throw paramError(typeName, "bias has \(bias.count) values for \(weight.shape[0]) outputs")
        }
    }

    /// [M, K] -> [M, N]. Also accepts [M, K, 1, 1] (a global pool's output fed
    /// straight in, once the Flatten/Reshape between them is dropped): trailing
    /// 1s are the same memory as [M, K].
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try checkParameters()
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        let x = inputs[0]
        guard x.count >= 2, x.dropFirst(2).allSatisfy({ $0 == 1 }) else {
            throw shapeError(typeName, "input must be [M, K] (or [M, K, 1, 1]), got \(fmtShape(x))")
        }
        guard x[1] == weight.shape[1] else {
            throw shapeError(typeName, "input has K = \(x[1]) but the weight \(fmtShape(weight.shape)) expects \(weight.shape[1])")
        }
        return [[x[0], weight.shape[0]]]
    }

    /// 2*M*N*K, plus one FLOP per output for the bias and the activation's per output.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let outElements = satProduct(outputs.first ?? [])
        let k = weight.shape.count == 2 ? weight.shape[1] : 0
        let perOutput = (bias != nil ? 1 : 0) + (activation?.flopsPerElement ?? 0)
        return OpCost(flops: satSum(satProduct(2, outElements, k), satProduct(perOutput, outElements)),
                      activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: floatBytes(satSum(satProduct(weight.shape), bias?.count ?? 0)),
                      bytesWritten: floatBytes(outElements))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let x = try floatValues(typeName, inputs[0])
        let w = try floatValues(typeName, weight, "weight")
        let (m, n, k) = (out[0], out[1], weight.shape[1])
        var y = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = bias?[j] ?? 0
                for p in 0..<k { acc += x[i * k + p] * w[j * k + p] }
                if let activation { acc = activation.apply(acc) }
                y[i * n + j] = acc
            }
        }
        return [try makeTensor(out, y)]
    }
}
