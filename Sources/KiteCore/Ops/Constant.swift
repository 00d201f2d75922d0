/// A constant value produced by the graph (a weight no op absorbed).
public struct Constant: Sendable, Equatable {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value }
}

extension Constant: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Constant" }
    public var kindName: String { typeName }
    public var parameterSummary: String {
        var s = "value=\(fmtShape(value.shape)) \(value.elementType)"
        switch value.storage {
        case .floats(let v) where v.count <= 4: s += "{" + v.map { "\($0)" }.joined(separator: ",") + "}"
        case .ints(let v) where v.count <= 4: s += "{" + v.map { "\($0)" }.joined(separator: ",") + "}"
        default: break
        }
        return s
    }

    /// No inputs; one output of the value's shape.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 0)
        let n = try elementCount(typeName, value.shape)
        if case .opaque = value.storage { throw paramError(typeName, "the value of type \(value.elementType) holds no numeric data") }
        let held: Int
        switch value.storage {
        case .floats(let v): held = v.count
        case .ints(let v): held = v.count
        case .opaque: held = 0
        }
        guard held == n else { throw paramError(typeName, "the value of shape \(fmtShape(value.shape)) holds \(held) values") }
        return [value.shape]
    }

    /// Zero: the value is part of the model; its consumer pays for reading it.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { .zero }

    /// The value's own type (its float storage aside, a float16 constant is float16).
    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [ElementType](repeating: value.elementType, count: count)
    }

    /// The value itself (integer constants stay integers).
    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        _ = try inferShapes(inputs.map(\.shape))
        return [value]
    }
}
