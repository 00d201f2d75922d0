import KiteCore

/// Deterministic inputs for runs without --input: SplitMix64, uniform in [-1, 1).
public struct SeededRandom: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }

    /// A tensor of the given shape with values in [-1, 1). Throws when the shape (from a model
    /// file) is invalid or its values would not fit in memory, rather than aborting.
    public mutating func tensor(_ shape: [Int], name: String = "") throws -> Tensor {
        let context = ErrorContext(tensor: name.isEmpty ? nil : name)
        guard let count = checkedElementCount(shape) else {
            throw KiteError.shapeMismatch(context, "cannot make a random input of shape \(shape)")
        }
        try checkFitsInMemory(count * 4, "memory for a random input", context)
        return Tensor(shape: shape, floats: (0..<count).map { _ in uniform() })
    }
}

/// The k largest entries of a classifier output, best first.
public func topK(_ values: [Float], k: Int) -> [(index: Int, score: Float)] {
    Array(values.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
        .prefix(k).map { (index: $0.offset, score: $0.element) })
}

/// Parses "1x3x224x224" (or "1,3,224,224").
public func parseDims(_ text: String) -> [Int]? {
    let parts = text.split(whereSeparator: { $0 == "x" || $0 == "," || $0 == "X" })
    guard !parts.isEmpty else { return nil }
    var dims: [Int] = []
    for p in parts {
        guard let v = Int(p), v > 0 else { return nil }
        dims.append(v)
    }
    return dims
}

/// Parses repeated NAME=VALUE options; the name may itself contain '=' only before the last one.
public func parseAssignments(_ items: [String], option: String) throws -> [(name: String, value: String)] {
    try items.map { item in
        guard let eq = item.lastIndex(of: "="), eq != item.startIndex, item.index(after: eq) != item.endIndex else {
            throw KiteError.invalidArgument("\(option) expects NAME=VALUE, got '\(item)'")
        }
        return (name: String(item[..<eq]), value: String(item[item.index(after: eq)...]))
    }
}

/// Reads --shape NAME=DIMS options.
public func parseShapes(_ items: [String]) throws -> [String: [Int]] {
    var shapes: [String: [Int]] = [:]
    for (name, value) in try parseAssignments(items, option: "--shape") {
        guard let dims = parseDims(value) else {
            throw KiteError.invalidArgument("--shape \(name)=\(value): dims must be positive integers like 1x3x224x224")
        }
        shapes[name] = dims
    }
    return shapes
}
