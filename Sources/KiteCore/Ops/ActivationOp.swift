/// A standalone element-wise activation.
public struct ActivationOp: Sendable, Equatable {
    public var activation: Activation
    public init(_ activation: Activation) { self.activation = activation }
}

extension ActivationOp: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Activation" }
    /// The activation's own name ("ReLU6", "HardSwish", ...).
    public var kindName: String { activation.description }
    /// Empty: `kindName` already names the activation and its parameters.
    public var parameterSummary: String { "" }

    /// Any shape -> the same shape.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        return [inputs[0]]
    }

    /// The activation's FLOPs per element.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, activation.flopsPerElement), activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: 0, bytesWritten: floatBytes(n))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let type = inputs[0].elementType
        if let v = inputs[0].integerValues {
            // Integers: Relu and Clip exactly (bounds rounded inward), the others in float.
            switch activation {
            case .relu:
                return [typedTensor(shape, ints: v.map { Swift.max($0, 0) }, type: type)]
            case .clip(let lo, let hi):
                let low = lo.isNaN || lo < -9.2e18 ? Int64.min : truncatingInt64(lo.rounded(.up))
                let high = hi.isNaN || hi > 9.2e18 ? Int64.max : truncatingInt64(hi.rounded(.down))
                return [typedTensor(shape, ints: v.map { Swift.min(Swift.max($0, low), high) }, type: type)]
            default:
                break
            }
        }
        let x = try floatValues(typeName, inputs[0])
        return [typedTensor(shape, floats: x.map { activation.apply($0) }, type: type)]
    }
}
