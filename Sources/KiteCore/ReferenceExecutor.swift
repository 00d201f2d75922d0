/// Runs a native graph with every op's plain reference implementation: slow,
/// obviously correct, the yardstick fast kernels and optimisation passes are
/// checked against.
public enum ReferenceExecutor {
    /// Runs `graph` on `inputs` (one tensor per graph input, of its declared shape)
    /// and returns the graph outputs by name.
    public static func run(_ graph: NativeGraph, inputs: [String: Tensor]) throws -> [String: Tensor] {
        let values = try runAll(graph, inputs: inputs)
        var outputs: [String: Tensor] = [:]
        for o in graph.outputs {
            guard let v = values[o.name] else {
                throw KiteError.invalidNode(ErrorContext(tensor: o.name), "graph output '\(o.name)' is not produced by any node")
            }
            outputs[o.name] = v
        }
        return outputs
    }

    /// Runs `graph` like `run` and returns every value: the graph inputs and
    /// every node's outputs, by name (for debugging and verification).
    public static func runAll(_ graph: NativeGraph, inputs: [String: Tensor]) throws -> [String: Tensor] {
        var values = try bindInputs(graph, inputs)
        // Every value stays held (the caller gets them all), so memory is checked for all of
        // them together: many values that each fit could still exhaust it.
        func bytes(_ count: Int, _ name: String) -> Int {
            count.multipliedReportingOverflow(by: graph.elementType(of: name).isFloatingPoint ? 4 : 8).partialValue
        }
        var heldBytes = values.reduce(0) { $0 &+ bytes($1.value.count, $1.key) }
        for node in graph.nodes {
            let context = ErrorContext(node: node.name, opType: node.op.typeName)
            let args = try node.inputs.map { name -> Tensor in
                guard let v = values[name] else {
                    throw KiteError.invalidNode(context, "input '\(name)' is not produced before it is read")
                }
                return v
            }
            // Recorded shapes come from the file: an output too large for memory must throw, not abort.
            var outputBytes = 0
            for name in node.outputs {
                if let shape = graph.shapes[name], let count = checkedElementCount(shape) {
                    try checkFitsInMemory(count * 4, "memory for one value", context.merged(with: ErrorContext(tensor: name)))
                    outputBytes = outputBytes &+ bytes(count, name)
                }
            }
            try checkFitsInMemory(heldBytes &+ outputBytes, "memory for the values the reference executor holds", context)
            let results: [Tensor]
            do {
                results = try node.op.nativeOperator.reference(args)
            } catch let e as KiteError {
                throw e.adding(context)
            }
            guard results.count == node.outputs.count else {
                throw KiteError.invalidNode(context, "the op gives \(results.count) outputs, the node names \(node.outputs.count)")
            }
            for (name, t) in zip(node.outputs, results) {
                if let recorded = graph.shapes[name], recorded != t.shape {
                    var c = context
                    c.tensor = name
                    throw KiteError.shapeMismatch(c, "computed shape \(fmtShape(t.shape)) but the graph records \(fmtShape(recorded))")
                }
                // Ops that compute in float32 give float32 tensors; the value keeps its
                // recorded type (integers, exact up to 2^24, are converted back).
                let type = graph.elementType(of: name)
                values[name] = t.elementType == type ? t : t.cast(to: type)
                heldBytes = heldBytes &+ bytes(t.count, name)
            }
        }
        return values
    }

    /// Checks that every graph input is given once, with its declared shape and
    /// enough data, and that nothing else is given.
    static func bindInputs(_ graph: NativeGraph, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        var values: [String: Tensor] = [:]
        for info in graph.inputs {
            guard let t = inputs[info.name] else {
                throw KiteError.invalidArgument("missing input '\(info.name)' of shape \(fmtShape(info.shape))")
            }
            guard t.shape == info.shape else {
                throw KiteError.invalidArgument("input '\(info.name)' has shape \(fmtShape(t.shape)), the model expects \(fmtShape(info.shape))")
            }
            do {
                _ = try floatValues("input", t, "input '\(info.name)'")
            } catch {
                throw KiteError.invalidArgument("input '\(info.name)': \(error)")
            }
            // Data given in another type (a float .npy for an int64 input) is converted to the declared type.
            let type = graph.elementType(of: info.name)
            values[info.name] = t.elementType == type ? t : t.cast(to: type)
        }
        let known = Set(graph.inputs.map(\.name))
        if let extra = inputs.keys.sorted().first(where: { !known.contains($0) }) {
            let names = graph.inputs.map { "'\($0.name)'" }.joined(separator: ", ")
            throw KiteError.invalidArgument("unknown input '\(extra)'; the model's inputs are \(names)")
        }
        return values
    }
}
