import KiteCore

/// One ONNX node being lowered: its attributes bound by name, its inputs as
/// lowered values, and the ways to define its outputs.
///
/// Rules throw `LoweringIssue.unsupported` for valid ONNX Kite cannot run and
/// `KiteError.invalidNode` / `shapeMismatch` for a malformed node; the driver
/// adds the node's context to either.
struct NodeContext {
    let state: LoweringState
    let node: ONNXNode
    let displayName: String
    /// The model's default-domain opset.
    let opset: Int
    let errorContext: ErrorContext

    var opType: String { node.opType }
    var origin: [String] { [node.name.isEmpty ? displayName : node.name] }

    // MARK: Errors

    func invalid(_ message: String, attribute: String? = nil) -> KiteError {
        var c = errorContext
        c.attribute = attribute
        return .invalidNode(c, message)
    }

    func mismatch(_ message: String) -> KiteError {
        .shapeMismatch(errorContext, message)
    }

    func unsupported(_ reason: String, attribute: String? = nil) -> LoweringIssue {
        .unsupported(reason, attribute: attribute)
    }

    // MARK: Attributes

    func has(_ name: String) -> Bool { node.attributes[name] != nil }

    func int(_ name: String) throws -> Int? {
        guard let a = node.attributes[name] else { return nil }
        switch a {
        case .int(let v):
            guard let i = Int(exactly: v) else { throw invalid("value \(v) is out of range", attribute: name) }
            return i
        default: throw invalid("expected an int, found \(a.kindName)", attribute: name)
        }
    }

    func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = node.attributes[name] else { return nil }
        switch a {
        case .ints(let v): return v.map { Int(truncatingIfNeeded: $0) }
        case .int(let v): return [Int(truncatingIfNeeded: v)]
        default: throw invalid("expected ints, found \(a.kindName)", attribute: name)
        }
    }

    func float(_ name: String) throws -> Float? {
        guard let a = node.attributes[name] else { return nil }
        switch a {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw invalid("expected a float, found \(a.kindName)", attribute: name)
        }
    }

    func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    func floats(_ name: String) throws -> [Float]? {
        guard let a = node.attributes[name] else { return nil }
        switch a {
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw invalid("expected floats, found \(a.kindName)", attribute: name)
        }
    }

    func string(_ name: String, default value: String) throws -> String {
        guard let a = node.attributes[name] else { return value }
        guard case .string(let s) = a else { throw invalid("expected a string, found \(a.kindName)", attribute: name) }
        return s
    }

    func tensorAttribute(_ name: String) throws -> Tensor? {
        guard let a = node.attributes[name] else { return nil }
        guard case .tensor(let t) = a else { throw invalid("expected a tensor, found \(a.kindName)", attribute: name) }
        return t
    }

    // MARK: Inputs

    /// Whether input `i` is given (present and not the empty name of an omitted optional input).
    func hasInput(_ i: Int) -> Bool { i < node.inputs.count && !node.inputs[i].isEmpty }

    /// Requires between `min` and `max` inputs (trailing omitted ones not counted).
    func expectInputs(_ min: Int, _ max: Int? = nil) throws {
        var count = node.inputs.count
        while count > 0 && node.inputs[count - 1].isEmpty { count -= 1 }
        let upper = max ?? min
        guard count >= min && count <= upper else {
            let expected = min == upper ? "\(min)" : "\(min) to \(upper)"
            throw invalid("\(opType) takes \(expected) input\(upper == 1 ? "" : "s"), found \(count)")
        }
        for i in 0..<min where node.inputs[i].isEmpty {
            throw invalid("required input \(i) is missing")
        }
    }

    func inputName(_ i: Int) -> String { i < node.inputs.count ? node.inputs[i] : "" }

    /// The lowered value of input `i`; throws when it is missing or unavailable.
    func value(_ i: Int) throws -> LoweredValue {
        guard hasInput(i) else { throw invalid("required input \(i) is missing") }
        guard let v = state.values[node.inputs[i]] else {
            throw invalid("input '\(node.inputs[i])' is not produced by any node, initializer or graph input")
        }
        if case .unavailable = v { throw LoweringIssue.unavailableInput }
        return v
    }

    /// Input `i` when it is a constant, nil when it is computed at runtime.
    func constant(_ i: Int) throws -> Tensor? {
        if case .constant(let t) = try value(i) { return t }
        return nil
    }

    /// Input `i`, which must be a constant (`what` names it in the message).
    func requireConstant(_ i: Int, _ what: String) throws -> Tensor {
        guard let t = try constant(i) else {
            throw unsupported("\(what) ('\(inputName(i))') must be a constant, but it is computed at runtime")
        }
        return t
    }

    /// Input `i` as a constant with numeric data.
    func requireNumeric(_ i: Int, _ what: String) throws -> Tensor {
        let t = try requireConstant(i, what)
        if case .opaque = t.storage {
            throw unsupported("\(what) ('\(inputName(i))') has type \(t.elementType), which Kite cannot evaluate")
        }
        return t
    }

    /// Input `i` as a float constant; nil when the input is omitted.
    func optionalFloats(_ i: Int, _ what: String) throws -> Tensor? {
        guard hasInput(i) else { return nil }
        return try requireNumeric(i, what)
    }

    /// The shape of input `i`, constant or runtime.
    func shape(_ i: Int) throws -> [Int] {
        try shape(of: value(i))
    }

    /// The shape of a tensor value, constant or runtime.
    func shape(of value: LoweredValue) throws -> [Int] {
        switch value {
        case .constant(let t): return t.shape
        case .runtime(_, let shape): return shape
        case .unavailable: throw LoweringIssue.unavailableInput
        case .sequence: throw invalid("a sequence is read where \(opType) takes a tensor")
        }
    }

    /// The element type of input `i`, constant or runtime.
    func elementType(_ i: Int) throws -> ElementType {
        switch try value(i) {
        case .constant(let t): return t.elementType
        case .runtime(let name, _): return state.types[name] ?? .float
        case .unavailable: throw LoweringIssue.unavailableInput
        case .sequence: throw invalid("input \(i) ('\(inputName(i))') is a sequence; \(opType) takes a tensor there")
        }
    }

    /// The native value name for input `i`; a constant is materialized as a Constant node.
    func runtimeName(_ i: Int) throws -> String {
        let v = try value(i)
        if case .constant(let t) = v {  // a constant keeps its ONNX name
            return try state.materialize(t, onnxName: node.inputs[i], origin: origin)
        }
        return try runtimeName(of: v)
    }

    /// The native value name of a tensor value; a constant gets a Constant node of a fresh name.
    func runtimeName(of value: LoweredValue) throws -> String {
        switch value {
        case .runtime(let name, _): return name
        case .constant(let t): return try state.materialize(t, onnxName: intermediateName("constant"), origin: origin)
        case .unavailable: throw LoweringIssue.unavailableInput
        case .sequence: throw invalid("a sequence is read where \(opType) takes a tensor")
        }
    }

    /// Input `i`, which must be a tensor (constant or runtime).
    func tensorValue(_ i: Int) throws -> LoweredValue {
        let v = try value(i)
        if case .sequence = v { throw invalid("input \(i) ('\(inputName(i))') is a sequence; \(opType) takes a tensor there") }
        return v
    }

    /// Input `i`, which must be a sequence: its elements.
    func sequence(_ i: Int) throws -> [LoweredValue] {
        guard case .sequence(let elements) = try value(i) else {
            throw invalid("input \(i) ('\(inputName(i))') is a tensor; \(opType) takes a sequence there")
        }
        return elements
    }

    /// Every input as constant tensors (for folding); opaque data is unsupported.
    func constantInputs() throws -> [Tensor?] {
        try node.inputs.indices.map { i in hasInput(i) ? try requireNumeric(i, "input \(i)") : nil }
    }

    // MARK: Outputs

    func outputName(_ i: Int) -> String { i < node.outputs.count ? node.outputs[i] : "" }

    /// Whether output `i` exists and something reads it.
    func isOutputUsed(_ i: Int) -> Bool {
        let name = outputName(i)
        return !name.isEmpty && state.uses[name, default: 0] > 0
    }

    /// A native value name for output `i` (its ONNX name, or a fresh one when omitted).
    func nativeOutputName(_ i: Int) -> String {
        let name = outputName(i)
        return name.isEmpty ? state.freshValueName("\(displayName)_output\(i)") : name
    }

    /// A fresh native value name for an intermediate result of this node.
    func intermediateName(_ suffix: String) -> String {
        let base = outputName(0).isEmpty ? displayName : outputName(0)
        return state.freshValueName("\(base)__\(suffix)")
    }

    func setConstant(_ i: Int, _ tensor: Tensor) {
        setValue(i, .constant(tensor))
    }

    func setSequence(_ i: Int, _ elements: [LoweredValue]) {
        setValue(i, .sequence(elements))
    }

    /// Output `i` is `value` (an alias of it, under its native name).
    func setValue(_ i: Int, _ value: LoweredValue) {
        let name = outputName(i)
        if !name.isEmpty { state.values[name] = value }
    }

    /// Output `i` is the same data as input `input`, under the input's native name.
    func alias(output i: Int, toInput input: Int) throws {
        let name = outputName(i)
        guard !name.isEmpty else { return }
        state.values[name] = try value(input)
    }

    /// Emits a native node whose outputs are this node's outputs `outputs` (ONNX names kept);
    /// returns the inferred output shapes.
    @discardableResult
    func emit(_ op: Op, inputs: [String], outputs: [Int] = [0], suffix: String? = nil) throws -> [[Int]] {
        let names = outputs.map { nativeOutputName($0) }
        let shapes = try emitNative(op, inputs: inputs, outputNames: names, suffix: suffix)
        for (i, (index, name)) in zip(outputs, names).enumerated() where !outputName(index).isEmpty {
            state.values[outputName(index)] = .runtime(name: name, shape: shapes[i])
        }
        return shapes
    }

    /// Emits a native node with explicit native output names (for intermediates).
    @discardableResult
    func emitNative(_ op: Op, inputs: [String], outputNames: [String], suffix: String? = nil) throws -> [[Int]] {
        let nodeName = suffix.map { "\(displayName)/\($0)" } ?? displayName
        do {
            return try state.append(op, name: nodeName, inputs: inputs, outputs: outputNames, origin: origin)
        } catch let error as KiteError {
            // The native op names itself in its error context; report the ONNX node instead.
            switch error {
            case .shapeMismatch(let c, let m): throw KiteError.shapeMismatch(errorContext, "native \(c.opType ?? op.typeName): \(m)")
            case .invalidNode(let c, let m): throw KiteError.invalidNode(errorContext, "native \(c.opType ?? op.typeName): \(m)")
            default: throw error
            }
        }
    }

    /// Emits a native node into a fresh intermediate value; returns its name and shape.
    func emitIntermediate(_ op: Op, inputs: [String], suffix: String) throws -> (name: String, shape: [Int]) {
        let name = intermediateName(suffix)
        let shapes = try emitNative(op, inputs: inputs, outputNames: [name], suffix: suffix)
        return (name, shapes[0])
    }

    /// Output `i` is input `input` reshaped to `shape`: an alias when the shape is unchanged.
    func reshapeOutput(_ i: Int, input: Int, to shape: [Int]) throws {
        if try self.shape(input) == shape {
            try alias(output: i, toInput: input)
        } else {
            try emit(.reshape(Reshape(shape: shape)), inputs: [runtimeName(input)], outputs: [i])
        }
    }

    /// Sizes, strides and pads read from a file must stay far from overflowing shape arithmetic.
    static let maxExtent = 1 << 30

    /// Throws unless every value's magnitude is at most `maxExtent`.
    func checkExtent(_ values: [Int], _ name: String) throws {
        if let bad = values.first(where: { $0 > Self.maxExtent || $0 < -Self.maxExtent }) {
            throw invalid("value \(bad) in \(values) is out of range", attribute: name)
        }
    }

    // MARK: Axes

    /// `axis` normalised into 0..<rank (negative counts from the end).
    func normalizeAxis(_ axis: Int, rank: Int, attribute: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else {
            throw invalid("axis \(axis) is out of range for rank \(rank)", attribute: attribute)
        }
        return a
    }

    /// Distinct axes normalised into 0..<rank, sorted.
    func normalizeAxes(_ axes: [Int], rank: Int, attribute: String = "axes") throws -> [Int] {
        let normalized = try axes.map { try normalizeAxis($0, rank: rank, attribute: attribute) }
        guard Set(normalized).count == normalized.count else {
            throw invalid("axes \(axes) repeat an axis", attribute: attribute)
        }
        return normalized.sorted()
    }
}
