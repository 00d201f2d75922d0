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
        let x = try floatValues(typeName, inputs[0])
        return [try makeTensor(shape, x.map { activation.apply($0) })]
    }
}
