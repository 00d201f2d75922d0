import KiteCore

/// What an ONNX value is after lowering the node that produced it.
enum LoweredValue {
    /// Known at lowering time (initializers, Constant nodes, folded arithmetic).
    case constant(Tensor)
    /// Computed when the graph runs: the native value holding it and its shape.
    case runtime(name: String, shape: [Int])
    /// Produced by a node that could not be lowered (already reported).
    case unavailable
    /// A sequence whose length and elements are known when converting (see `SequenceLowering`).
    case sequence([LoweredValue])
}

/// Why a node could not be lowered, thrown inside a lowering rule.
enum LoweringIssue: Error {
    /// The node is valid ONNX but Kite cannot run it.
    case unsupported(String, attribute: String?)
    /// An input comes from a node that could not be lowered: nothing more to report.
    case unavailableInput
}

/// The graph being built while lowering one model.
final class LoweringState {
    let model: ONNXModel
    let file: String
    /// The model's default-domain opset.
    let opset: Int

    /// Every ONNX value lowered so far, by ONNX name.
    var values: [String: LoweredValue] = [:]
    var inputs: [ValueInfo] = []
    var nodes: [NativeNode] = []
    var shapes: [String: [Int]] = [:]
    /// Element types of native values (float32 when absent).
    var types: [String: ElementType] = [:]
    var unsupported: [UnsupportedNode] = []
    var notes: [String] = []
    /// How many node inputs and graph outputs read each ONNX value.
    var uses: [String: Int]
    /// How deep the `If` branches being lowered nest.
    var branchDepth = 0
    /// Names taken in the ONNX graph or the native graph (fresh names avoid them).
    private var takenValueNames: FreshNames
    private var takenNodeNames = FreshNames()

    init(model: ONNXModel, opset: Int) {
        self.model = model
        self.file = model.path
        self.opset = opset
        var uses: [String: Int] = [:]
        var taken = Set<String>()
        for node in model.graph.nodes {
            for input in TopologicalOrder.reads(node) where !input.isEmpty { uses[input, default: 0] += 1 }
            taken.formUnion(node.inputs)
            taken.formUnion(node.outputs)
        }
        for output in model.graph.outputs { uses[output.name, default: 0] += 1 }
        taken.formUnion(model.graph.inputs.map(\.name))
        taken.formUnion(model.graph.outputs.map(\.name))
        taken.formUnion(model.graph.initializers.map(\.name))
        self.uses = uses
        self.takenValueNames = FreshNames(taken: taken)
        for (name, tensor) in model.graph.initializers {
            values[name] = .constant(tensor)
        }
    }

    // MARK: Names

    /// A value name used nowhere in the ONNX or native graph, derived from `base`.
    func freshValueName(_ base: String) -> String { takenValueNames.make(base) }

    /// A node name not given to any native node yet, derived from `base`.
    func freshNodeName(_ base: String) -> String { takenNodeNames.make(base) }

    // MARK: Native graph

    /// Appends a native node after inferring its output shapes with the op's own `inferShapes`.
    @discardableResult
    func append(_ op: Op, name: String, inputs: [String], outputs: [String], origin: [String]) throws -> [[Int]] {
        var inputShapes: [[Int]] = []
        for input in inputs {
            guard let shape = shapes[input] else {
                throw KiteError.invalidNode(ErrorContext(), "internal error: native value '\(input)' has no shape")
            }
            inputShapes.append(shape)
        }
        let outputShapes = try op.nativeOperator.inferShapes(inputShapes)
        guard outputShapes.count == outputs.count else {
            throw KiteError.shapeMismatch(ErrorContext(),
                                          "\(op.typeName) gives \(outputShapes.count) outputs where \(outputs.count) are expected")
        }
        // Ops check their inputs; an output (a huge pad or upsampling) may still be too large to plan.
        for shape in outputShapes where checkedElementCount(shape) == nil {
            throw KiteError.shapeMismatch(ErrorContext(), "output shape \(shape) has more than 2^40 elements")
        }
        let outputTypes = op.nativeOperator.outputTypes(inputs.map { types[$0] ?? .float }, count: outputs.count)
        for (output, shape) in zip(outputs, outputShapes) { shapes[output] = shape }
        for (output, type) in zip(outputs, outputTypes) { types[output] = type }
        nodes.append(NativeNode(name: freshNodeName(name), op: op, inputs: inputs, outputs: outputs, origin: origin))
        return outputShapes
    }

    /// The native name of a constant used as a runtime value: a `Constant` node
    /// producing it is emitted the first time (float types as float32 storage, integer and
    /// bool types keep their type).
    func materialize(_ tensor: Tensor, onnxName: String, origin: [String]) throws -> String {
        if shapes[onnxName] != nil { return onnxName }
        if case .opaque = tensor.storage {
            throw LoweringIssue.unsupported("constant '\(onnxName)' of type \(tensor.elementType) cannot be used as a runtime value",
                                            attribute: nil)
        }
        let value = tensor.holdsIntegers || tensor.elementType.isFloatingPoint ? tensor
            : Tensor(elementType: .float, shape: tensor.shape, storage: .floats(tensor.floats))
        try append(.constant(Constant(value)), name: onnxName, inputs: [], outputs: [onnxName], origin: origin)
        return onnxName
    }

    func makeGraph() -> NativeGraph {
        var outputs: [ValueInfo] = []
        var seen = Set<String>()
        for output in model.graph.outputs where seen.insert(output.name).inserted {
            outputs.append(ValueInfo(name: output.name, shape: shapes[output.name] ?? []))
        }
        return NativeGraph(inputs: inputs, outputs: outputs, nodes: nodes, shapes: shapes, elementTypes: types)
    }

    // MARK: Nodes

    /// Lowers one ONNX node (`display` names it in messages). Unsupported nodes are
    /// recorded and their outputs become unavailable; invalid nodes throw.
    func lowerNode(_ node: ONNXNode, display: String) throws {
        let isDefaultDomain = node.domain.isEmpty || node.domain == "ai.onnx"
        let context = ErrorContext(file: file, node: display, opType: node.opType,
                                   domain: node.domain.isEmpty ? nil : node.domain,
                                   opset: isDefaultDomain ? opset : model.opset(forDomain: node.domain))
        func fail(_ reason: String, attribute: String? = nil) {
            var c = context
            c.attribute = attribute
            unsupported.append(UnsupportedNode(context: c, reason: reason))
            markUnavailable(node)
        }
        guard isDefaultDomain else {
            fail("operators of domain '\(node.domain)' are not supported")
            return
        }
        if node.opType == "If" {
            do {
                try lowerIf(node, display: display, context: context)
            } catch LoweringIssue.unsupported(let reason, let attribute) {
                fail(reason, attribute: attribute)
            } catch let error as KiteError {
                throw error.adding(context)
            }
            return
        }
        guard let rule = OpTable.rule(for: node.opType, opset: opset) else {
            if let oldest = OpTable.oldestVersion(of: node.opType) {
                fail("\(node.opType) is supported from opset \(oldest); the model uses opset \(opset)")
            } else {
                fail("Kite has no lowering for \(node.opType)")
            }
            return
        }
        let ctx = NodeContext(state: self, node: node, displayName: display, opset: opset, errorContext: context)
        do {
            try OpTable.checkAttributesAgainstOpset(ctx)
            try OpTable.checkInputTypes(ctx)
            var inputValues: [LoweredValue] = []
            for name in node.inputs where !name.isEmpty {
                guard let value = values[name] else {
                    throw KiteError.invalidNode(context, "input '\(name)' is not produced by any node, initializer or graph input")
                }
                inputValues.append(value)
            }
            if !SequenceLowering.sequenceReaders.contains(node.opType),
               let i = inputValues.firstIndex(where: { if case .sequence = $0 { return true } else { return false } }) {
                let name = node.inputs.filter { !$0.isEmpty }[i]
                throw KiteError.invalidNode(context, "input '\(name)' is a sequence; \(node.opType) takes tensors")
            }
            let allConstant = inputValues.allSatisfy { if case .constant = $0 { return true } else { return false } }
            let anyUnavailable = inputValues.contains { if case .unavailable = $0 { return true } else { return false } }
            if allConstant, let fold = rule.fold {
                let results = try fold(ctx)
                for (i, output) in node.outputs.enumerated() where !output.isEmpty && i < results.count {
                    values[output] = .constant(results[i])
                }
            } else if let lower = rule.lower {
                try lower(ctx)
            } else if anyUnavailable {
                throw LoweringIssue.unavailableInput
            } else {
                let runtime = node.inputs.first { name in
                    if case .runtime = values[name] { return true } else { return false }
                } ?? "?"
                throw LoweringIssue.unsupported(
                    "\(node.opType) is only evaluated on constant inputs (shape arithmetic), but input '\(runtime)' is computed at runtime",
                    attribute: nil)
            }
            for (i, output) in node.outputs.enumerated() where !output.isEmpty && values[output] == nil {
                if uses[output, default: 0] > 0 {
                    throw LoweringIssue.unsupported("output \(i) ('\(output)') of \(node.opType) is not supported", attribute: nil)
                }
            }
        } catch LoweringIssue.unsupported(let reason, let attribute) {
            fail(reason, attribute: attribute)
        } catch LoweringIssue.unavailableInput {
            markUnavailable(node)
        } catch let error as KiteError {
            throw error.adding(context)
        }
    }

    func markUnavailable(_ node: ONNXNode) {
        for output in node.outputs where !output.isEmpty { values[output] = .unavailable }
    }

    // MARK: Graph outputs

    /// Makes every graph output exist under its own name in the native graph:
    /// an aliased value gets a same-shape Reshape, a constant a Constant node.
    func bindOutputs() throws {
        var done = Set<String>()
        for output in model.graph.outputs where done.insert(output.name).inserted {
            let ctx = ErrorContext(file: file, tensor: output.name)
            guard let value = values[output.name] else {
                throw KiteError.invalidNode(ctx, "graph output '\(output.name)' is not produced by any node or graph input")
            }
            let origin = [output.name]
            switch value {
            case .unavailable:
                continue
            case .sequence:
                unsupported.append(UnsupportedNode(context: ctx, reason: "graph output '\(output.name)' is a sequence; Kite's outputs are tensors"))
                continue
            case .constant(let tensor):
                do {
                    _ = try materialize(tensor, onnxName: output.name, origin: origin)
                } catch LoweringIssue.unsupported(let reason, _) {
                    unsupported.append(UnsupportedNode(context: ctx, reason: reason))
                    continue
                }
            case .runtime(let name, let shape):
                if name != output.name {
                    try append(.reshape(Reshape(shape: shape)), name: output.name, inputs: [name],
                               outputs: [output.name], origin: origin)
                }
            }
            if let dims = output.dims, let shape = shapes[output.name] {
                let fixed = dims.count == shape.count && zip(dims, shape).allSatisfy { dim, s in
                    if case .value(let v) = dim { return v == s }
                    return true
                }
                if !fixed {
                    notes.append("output '\(output.name)': declared shape [\(dims.map(\.description).joined(separator: ", "))], lowered shape \(shape)")
                }
            }
        }
    }
}
