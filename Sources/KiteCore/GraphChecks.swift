/// Consistency checks on a native graph (tract's check_consistency): run after
/// every optimisation pass in debug builds and after decoding a `.kite` file.
extension NativeGraph {
    /// Throws the first inconsistency found: a value named twice, a node input
    /// read before it is defined, a value without a recorded shape or with one
    /// that differs from what its op's `inferShapes` gives, a graph output that
    /// nothing produces or whose declared shape is wrong.
    public func validate() throws {
        var defined = Set<String>()
        for info in inputs {
            let c = ErrorContext(tensor: info.name)
            guard !info.name.isEmpty else { throw KiteError.invalidNode(c, "a graph input has an empty name") }
            guard defined.insert(info.name).inserted else { throw KiteError.invalidNode(c, "graph input named twice") }
            try checkShape(info.shape, c, "graph input")
            guard let s = shapes[info.name] else { throw KiteError.shapeMismatch(c, "graph input has no recorded shape") }
            guard s == info.shape else {
                throw KiteError.shapeMismatch(c, "graph input declared \(fmtShape(info.shape)) but recorded as \(fmtShape(s))")
            }
        }
        for node in nodes {
            let context = ErrorContext(node: node.name, opType: node.op.typeName)
            var inputShapes: [[Int]] = []
            for name in node.inputs {
                guard defined.contains(name) else {
                    throw KiteError.invalidNode(context, "input '\(name)' is not defined before it is read")
                }
                guard let s = shapes[name] else {
                    throw KiteError.shapeMismatch(context.merged(with: ErrorContext(tensor: name)), "no recorded shape")
                }
                inputShapes.append(s)
            }
            let inferred: [[Int]]
            do {
                inferred = try node.op.nativeOperator.inferShapes(inputShapes)
            } catch let e as KiteError {
                throw e.adding(context)
            }
            guard inferred.count == node.outputs.count else {
                throw KiteError.invalidNode(context, "the op gives \(inferred.count) outputs, the node names \(node.outputs.count)")
            }
            for (name, shape) in zip(node.outputs, inferred) {
                var c = context
                c.tensor = name
                guard !name.isEmpty else { throw KiteError.invalidNode(context, "an output has an empty name") }
                guard defined.insert(name).inserted else { throw KiteError.invalidNode(c, "value defined twice") }
                try checkShape(shape, c, "output")
                guard let recorded = shapes[name] else { throw KiteError.shapeMismatch(c, "no recorded shape") }
                guard recorded == shape else {
                    throw KiteError.shapeMismatch(c, "recorded shape \(fmtShape(recorded)) but the op infers \(fmtShape(shape))")
                }
            }
        }
        for info in outputs {
            let c = ErrorContext(tensor: info.name)
            guard defined.contains(info.name) else { throw KiteError.invalidNode(c, "graph output is not produced") }
            guard shapes[info.name] == info.shape else {
                throw KiteError.shapeMismatch(c, "graph output declared \(fmtShape(info.shape)) but recorded as \(fmtShape(shapes[info.name] ?? []))")
            }
        }
    }

    /// Recomputes `shapes` from the graph inputs' shapes through every node's
    /// `inferShapes` (stale entries are dropped) and updates the graph outputs'
    /// declared shapes. Throws where a node cannot be inferred or a value is
    /// read before it is defined or defined twice.
    public mutating func reinferShapes() throws {
        var fresh: [String: [Int]] = [:]
        for info in inputs {
            guard fresh.updateValue(info.shape, forKey: info.name) == nil else {
                throw KiteError.invalidNode(ErrorContext(tensor: info.name), "graph input named twice")
            }
            try checkShape(info.shape, ErrorContext(tensor: info.name), "graph input")
        }
        for node in nodes {
            let context = ErrorContext(node: node.name, opType: node.op.typeName)
            let inputShapes = try node.inputs.map { name -> [Int] in
                guard let s = fresh[name] else {
                    throw KiteError.invalidNode(context, "input '\(name)' is not defined before it is read")
                }
                return s
            }
            let inferred: [[Int]]
            do {
                inferred = try node.op.nativeOperator.inferShapes(inputShapes)
            } catch let e as KiteError {
                throw e.adding(context)
            }
            guard inferred.count == node.outputs.count else {
                throw KiteError.invalidNode(context, "the op gives \(inferred.count) outputs, the node names \(node.outputs.count)")
            }
            for (name, shape) in zip(node.outputs, inferred) {
                try checkShape(shape, context.merged(with: ErrorContext(tensor: name)), "output")
                guard fresh.updateValue(shape, forKey: name) == nil else {
                    throw KiteError.invalidNode(context.merged(with: ErrorContext(tensor: name)), "value defined twice")
                }
            }
        }
        for i in outputs.indices {
            guard let s = fresh[outputs[i].name] else {
                throw KiteError.invalidNode(ErrorContext(tensor: outputs[i].name), "graph output is not produced")
            }
            outputs[i].shape = s
        }
        shapes = fresh
    }
}

/// Throws unless `shape` has no negative dimension and at most `maxElementCount` elements: the
/// planner and the kernels size buffers from it without further checks.
func checkShape(_ shape: [Int], _ context: ErrorContext, _ what: String) throws {
    guard checkedElementCount(shape) != nil else {
        throw KiteError.shapeMismatch(context, "\(what) shape \(fmtShape(shape)) has a negative dimension or more than 2^40 elements")
    }
}
