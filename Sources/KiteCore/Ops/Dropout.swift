/// Dropout with its optional mask output. In inference (or with ratio 0) the output is
/// the input and the mask all true. In training mode each element is kept when a uniform
/// draw in [0, 1) is >= `ratio` and scaled by 1 / (1 - ratio); the draws come from
/// MT19937 seeded with `seed` (the generator of numpy's legacy RandomState, so a seed
/// gives the same mask as `np.random.seed(seed); np.random.uniform(0, 1, shape)`).
public struct Dropout: Sendable, Equatable {
    public var ratio: Float
    public var training: Bool
    public var seed: UInt32
    /// Whether the node has the mask output (bool).
    public var withMask: Bool
    public init(ratio: Float, training: Bool, seed: UInt32 = 0, withMask: Bool) {
        self.ratio = ratio
        self.training = training
        self.seed = seed
        self.withMask = withMask
    }
}

/// MT19937 with Matsumoto and Nishimura's integer seeding (numpy's `mt19937_seed`).
public struct MersenneTwister: Sendable {
    var state = [UInt32](repeating: 0, count: 624)
    var index = 624

    public init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    public mutating func next() -> UInt32 {
        if index >= 624 {
            for i in 0..<624 {
                let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
                var v = state[(i + 397) % 624] ^ (y >> 1)
                if y & 1 != 0 { v ^= 0x9908_B0DF }
                state[i] = v
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// A double in [0, 1) from 53 random bits (numpy's `random_sample`).
    public mutating func nextDouble() -> Double {
        let a = Double(next() >> 5), b = Double(next() >> 6)
        return (a * 67_108_864 + b) / 9_007_199_254_740_992
    }
}

extension Dropout: NativeOperator, NativeOperatorDetails {
    public var typeName: String { "Dropout" }
    public var kindName: String { typeName }
    public var parameterSummary: String { "ratio=\(ratio)" + (training ? " training seed=\(seed)" : "") + (withMask ? " mask" : "") }

    public func inferShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        try expectInputCount(typeName, inputs, 1)
        try checkShapes(typeName, inputs)
        guard ratio >= 0 && ratio < 1 else { throw paramError(typeName, "ratio \(ratio) is outside [0, 1)") }
        return withMask ? [inputs[0], inputs[0]] : [inputs[0]]
    }

    public func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost { elementwiseCost(inputs, outputs, flopsPerElement: training ? 2 : 0) }

    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [inputs.first ?? .float, .bool].prefix(count).map { $0 }
    }

    public func reference(_ inputs: [Tensor]) throws -> [Tensor] {
        let shape = try referenceShapes(self, inputs)[0]
        let n = satProduct(shape)
        var keep = [Bool](repeating: true, count: n)
        var y = inputs[0]
        if training && ratio > 0 {
            var rng = MersenneTwister(seed: seed)
            for i in 0..<n { keep[i] = rng.nextDouble() >= Double(ratio) }
            let scale = Float(1 / (1 - Double(ratio)))
            let x = try floatValues(typeName, inputs[0])
            y = typedTensor(shape, floats: (0..<n).map { keep[$0] ? x[$0] * scale : 0 }, type: inputs[0].elementType)
        }
        guard withMask else { return [y] }
        return [y, Tensor(elementType: .bool, shape: shape, storage: .ints(keep.map { $0 ? 1 : 0 }))]
    }
}
