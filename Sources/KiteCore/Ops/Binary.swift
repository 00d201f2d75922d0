/// Element-wise arithmetic with numpy broadcasting. With `constant` the second
/// operand is that tensor (on the left when `constantOnLeft`), and the node has one input.
public struct Binary: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case add = "Add", sub = "Sub", mul = "Mul", div = "Div" }
    public var kind: Kind
    public var constant: Tensor?
    public var constantOnLeft: Bool
    public var activation: Activation?
    public init(kind: Kind, constant: Tensor? = nil, constantOnLeft: Bool = false, activation: Activation? = nil) {
        self.kind = kind
        self.constant = constant
        self.constantOnLeft = constantOnLeft
        self.activation = activation
    }
}

extension Binary.Kind {
    /// Applies the arithmetic to one pair (IEEE division: x / 0 is ±inf or NaN).
    @inlinable
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }
}

extension Binary: NativeOperator, NativeOperatorDetails {
    public var typeName: String { kind.rawValue }
    public var kindName: String { typeName }

    public var parameterSummary: String {
        var s = ""
        if let constant {
            s = constantOnLeft ? "const_left=" : "const="
            s += fmtShape(constant.shape)
            if constant.count <= 4 { s += "{" + constant.floats.map { "\($0)" }.joined(separator: ",") + "}" }
        }
        if let activation { s += (s.isEmpty ? "" : " ") + "act=\(activation)" }
        return s
    }

    /// The operand shapes in arithmetic order (left, right), the constant put in its place.
    func operandShapes(_ inputs: [[Int]]) throws -> (left: [Int], right: [Int]) {
        if let constant {
            try expectInputCount(typeName, inputs, 1)
            return constantOnLeft ? (constant.shape, inputs[0]) : (inputs[0], constant.shape)
        }
        try expectInputCount(typeName, inputs, 2)
        return (inputs[0], inputs[1])
    }

    /// numpy broadcasting of the two operands.
    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let (l, r) = try operandShapes(inputs)
        try checkShapes(typeName, [l, r])
        if let constant {
            let n = try elementCount(typeName, constant.shape)
            if case .opaque = constant.storage { throw paramError(typeName, "the constant operand holds no numeric data") }
            guard constant.floats.count == n else {
                throw paramError(typeName, "the constant of shape \(fmtShape(constant.shape)) holds \(constant.floats.count) values")
            }
        }
        guard let out = broadcastShapes(l, r) else {
            throw shapeError(typeName, "shapes \(fmtShape(l)) and \(fmtShape(r)) do not broadcast")
        }
        _ = try elementCount(typeName, out)
        return [out]
    }

    /// One FLOP per output plus the activation's; a constant operand counts as weights read.
    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost {
        let n = satProduct(outputs.first ?? [])
        return OpCost(flops: satProduct(n, 1 + (activation?.flopsPerElement ?? 0)),
                      activationBytesRead: floatBytes(totalElements(inputs)),
                      weightBytesRead: floatBytes(constant.map { satProduct($0.shape) } ?? 0), bytesWritten: floatBytes(n))
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let out = try referenceShapes(self, inputs)[0]
        let operands: (Tensor, Tensor)
        if let constant {
            operands = constantOnLeft ? (constant, inputs[0]) : (inputs[0], constant)
        } else {
            operands = (inputs[0], inputs[1])
        }
        if let a = operands.0.integerValues, let b = operands.1.integerValues {
            return [try integerReference(a, b, shapes: (operands.0.shape, operands.1.shape), out: out,
                                         type: constantOnLeft ? operands.1.elementType : operands.0.elementType)]
        }
        let a = try floatValues(typeName, operands.0, "left operand")
        let b = try floatValues(typeName, operands.1, "right operand")
        let sa = broadcastStrides(operands.0.shape, to: out)
        let sb = broadcastStrides(operands.1.shape, to: out)
        let count = try elementCount(typeName, out)
        var y = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: out.count)
        for o in 0..<count {
            var ia = 0, ib = 0
            for d in 0..<out.count {
                ia += index[d] * sa[d]
                ib += index[d] * sb[d]
            }
            var v = kind.apply(a[ia], b[ib])
            if let activation { v = activation.apply(v) }
            y[o] = v
            // Advance the multi-index in row-major order.
            var d = out.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < out[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return [try makeTensor(out, y)]
    }

    /// Integer operands: exact Int64 arithmetic wrapped to the element type; division
    /// truncates toward zero (unsigned types divide as unsigned); dividing by zero throws.
    func integerReference(_ a: [Int64], _ b: [Int64], shapes: ([Int], [Int]), out: [Int], type: ElementType) throws -> Tensor {
        let maps = broadcastOffsets([shapes.0, shapes.1], to: out)
        var y = [Int64](repeating: 0, count: maps[0].count)
        for o in 0..<y.count {
            let x = a[maps[0][o]], z = b[maps[1][o]]
            switch kind {
            case .add: y[o] = x &+ z
            case .sub: y[o] = x &- z
            case .mul: y[o] = x &* z
            case .div:
                guard z != 0 else { throw KiteError.invalidTensor(ErrorContext(opType: typeName), "integer division by zero") }
                if type == .uint64 {
                    y[o] = Int64(bitPattern: UInt64(bitPattern: x) / UInt64(bitPattern: z))
                } else {
                    y[o] = x.dividedReportingOverflow(by: z).partialValue
                }
            }
        }
        var result = typedTensor(out, ints: y, type: type)
        if let activation {
            result = typedTensor(out, floats: result.floats.map { activation.apply($0) }, type: type)
        }
        return result
    }
}
