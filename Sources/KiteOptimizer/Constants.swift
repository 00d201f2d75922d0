import KiteCore

/// Reading the constant operands patterns look for.
enum ConstantValue {
    /// The single value of a one-element tensor.
    static func scalar(_ t: Tensor) -> Float? {
        guard t.count == 1, case .floats(let v) = t.storage else { return nil }
        return v[0]
    }

    /// Whether a one-element tensor holds `target` (within float tolerance).
    static func isScalar(_ t: Tensor, _ target: Float) -> Bool {
        guard let v = scalar(t) else { return false }
        return approximatelyEqual(v, target)
    }

    /// The constant as one value per channel (axis 1) of a value of `shape`,
    /// when broadcasting it over that value varies only along axis 1 and
    /// does not grow the value: [1,C,1,1], [C,1,1], [1,C] for a matrix, or one element.
    static func perChannel(_ t: Tensor, over shape: [Int]) -> [Float]? {
        guard case .floats(let v) = t.storage, shape.count >= 2, t.rank <= shape.count else { return nil }
        let channels = shape[1]
        let offset = shape.count - t.rank
        var sawChannels = false
        for (k, d) in t.shape.enumerated() {
            let axis = k + offset
            if d == 1 { continue }
            guard axis == 1, d == channels else { return nil }
            sawChannels = true
        }
        if v.count == 1 { return [Float](repeating: v[0], count: channels) }
        return sawChannels && v.count == channels ? v : nil
    }
}

/// |a - b| within 1e-5 relative to max(1, |b|): exporters write 1/6 as 0.16666667 or 0.1666667.
func approximatelyEqual(_ a: Float, _ b: Float) -> Bool {
    abs(a - b) <= 1e-5 * max(1, abs(b))
}
