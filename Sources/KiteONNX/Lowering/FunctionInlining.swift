import KiteCore

/// Replaces every call to a model-local function with the function's body.
///
/// Exporters write modules and library ops as model-local functions: PyTorch's dynamo
/// exporter (a module per function, torchlib ops such as `_aten_convolution_onnx` as
/// functions of their own), and the TorchScript exporter with `export_modules_as_functions`.
/// A call becomes the body's nodes: the formal inputs and outputs take the call's value
/// names, every other value and node is renamed under the caller's name
/// (`caller/value`), and an attribute that refers to one of the function's takes the
/// call's value, else the function's default, else is left out. Calls inside bodies and
/// inside subgraphs (the branches of `If`) are inlined as well.
enum FunctionInlining {
    /// Calls nest at most this deep; deeper is recursion in a broken file.
    static let maximumDepth = 64
    /// A graph that would grow beyond this many nodes is refused rather than built.
    static let maximumNodes = 2_000_000

    struct Key: Hashable {
        var domain: String
        var name: String
        var overload: String
    }

    /// `model` with no calls to its local functions left (unchanged when it has none).
    static func inline(_ model: ONNXModel) throws -> ONNXModel {
        guard !model.functions.isEmpty else { return model }
        var table: [Key: ONNXFunction] = [:]
        for function in model.functions {
            let key = Key(domain: function.domain, name: function.name, overload: function.overload)
            guard table[key] == nil else {
                throw KiteError.malformed(ErrorContext(file: model.path, function: function.name),
                                          "the model defines function '\(function.domain).\(function.name)' twice")
            }
            table[key] = function
        }
        var sizes: [Key: Int] = [:]
        if inlinedCount(model.graph.nodes, table, &sizes, visiting: []) > maximumNodes {
            throw KiteError.malformed(ErrorContext(file: model.path),
                                      "inlining the model's functions gives more than \(maximumNodes) nodes")
        }
        var inliner = Inliner(file: model.path, functions: table, taken: FreshNames(taken: valueNames(model.graph)))
        var result = model
        result.graph.nodes = try inliner.expand(model.graph.nodes, depth: 0, callers: [], root: nil)
        result.functions = []
        return result
    }

    /// How many nodes `nodes` become once inlined (capped just above `maximumNodes`), counted
    /// per function once, so that calls doubling at each level are refused before they are built.
    static func inlinedCount(_ nodes: [ONNXNode], _ functions: [Key: ONNXFunction], _ sizes: inout [Key: Int],
                             visiting: Set<Key>) -> Int {
        var total = 0
        for node in nodes {
            var count = 1
            let key = Key(domain: node.domain, name: node.opType, overload: node.overload)
            if let function = functions[key], !visiting.contains(key) {
                if let known = sizes[key] {
                    count = known
                } else {
                    count = inlinedCount(function.nodes, functions, &sizes, visiting: visiting.union([key]))
                    sizes[key] = count
                }
            }
            for attribute in node.attributes.values {
                for graph in attribute.subgraphs { count += inlinedCount(graph.nodes, functions, &sizes, visiting: visiting) }
            }
            total = min(total + count, maximumNodes + 1)
        }
        return total
    }

    /// Every value name a graph mentions (nodes, inputs, outputs, initializers), subgraphs included.
    static func valueNames(_ graph: ONNXGraph) -> Set<String> {
        var names = Set(graph.inputs.map(\.name))
        names.formUnion(graph.outputs.map(\.name))
        names.formUnion(graph.initializers.map(\.name))
        for node in graph.nodes {
            names.formUnion(node.inputs)
            names.formUnion(node.outputs)
            for attribute in node.attributes.values {
                for subgraph in attribute.subgraphs { names.formUnion(valueNames(subgraph)) }
            }
        }
        return names
    }

    struct Inliner {
        let file: String
        let functions: [Key: ONNXFunction]
        /// Value names in use: fresh names for a body's values avoid them.
        var taken: FreshNames
        var nodeCount = 0
        var calls = 0

        mutating func fresh(_ base: String) -> String { taken.make(base) }

        /// `nodes` with every call replaced by the (recursively inlined) body it calls. Errors
        /// inside bodies name `root`, the call in the graph they were reached from.
        mutating func expand(_ nodes: [ONNXNode], depth: Int, callers: [Key], root: ErrorContext?) throws -> [ONNXNode] {
            var result: [ONNXNode] = []
            result.reserveCapacity(nodes.count)
            for (index, original) in nodes.enumerated() {
                var node = original
                for (name, attribute) in node.attributes where !attribute.subgraphs.isEmpty {
                    node.attributes[name] = try attribute.mapSubgraphs { graph in
                        var g = graph
                        g.nodes = try expand(graph.nodes, depth: depth, callers: callers, root: root)
                        return g
                    }
                }
                let key = Key(domain: node.domain, name: node.opType, overload: node.overload)
                guard let function = functions[key] else {
                    result.append(node)
                    nodeCount += 1
                    guard nodeCount <= FunctionInlining.maximumNodes else {
                        throw KiteError.malformed(ErrorContext(file: file),
                                                  "inlining the model's functions gives more than \(FunctionInlining.maximumNodes) nodes")
                    }
                    continue
                }
                let context = root ?? TopologicalOrder.context(node, index, file)
                if callers.contains(key) {
                    throw KiteError.invalidNode(context, "function '\(function.name)' calls itself")
                }
                guard depth < FunctionInlining.maximumDepth else {
                    throw KiteError.invalidNode(context, "calls of '\(function.name)' nest deeper than \(FunctionInlining.maximumDepth)")
                }
                let body: [ONNXNode]
                do {
                    body = try instantiate(function, call: node, index: index)
                } catch let e as KiteError {
                    throw e.adding(context)
                }
                result += try expand(body, depth: depth + 1, callers: callers + [key], root: context)
            }
            return result
        }

        /// The body of `function` as the call `call` runs it: values and nodes renamed, attributes resolved.
        mutating func instantiate(_ function: ONNXFunction, call: ONNXNode, index: Int) throws -> [ONNXNode] {
            calls += 1
            let ctx = ErrorContext(file: file, function: function.name)
            guard call.inputs.count <= function.inputs.count else {
                throw KiteError.invalidNode(ctx, "the call passes \(call.inputs.count) inputs; the function takes \(function.inputs.count)")
            }
            guard call.outputs.count <= function.outputs.count else {
                throw KiteError.invalidNode(ctx, "the call expects \(call.outputs.count) outputs; the function gives \(function.outputs.count)")
            }
            let prefix = (call.name.isEmpty ? "\(function.name)_\(calls)" : call.name) + "/"
            var names: [String: String] = [:]
            for (i, formal) in function.inputs.enumerated() where !formal.isEmpty {
                names[formal] = i < call.inputs.count ? call.inputs[i] : ""
            }
            for (i, formal) in function.outputs.enumerated() where !formal.isEmpty {
                let actual = i < call.outputs.count ? call.outputs[i] : ""
                names[formal] = actual.isEmpty ? fresh(prefix + formal) : actual
            }
            for node in function.nodes {
                for output in node.outputs where !output.isEmpty && names[output] == nil {
                    names[output] = fresh(prefix + output)
                }
            }
            var body: [ONNXNode] = []
            body.reserveCapacity(function.nodes.count)
            for (i, original) in function.nodes.enumerated() {
                var node = original
                let display = TopologicalOrder.displayName(original, i)
                node.name = prefix + display
                node.inputs = try original.inputs.map { input in
                    if input.isEmpty { return "" }
                    guard let renamed = names[input] else {
                        throw KiteError.invalidNode(ErrorContext(file: file, node: display, opType: original.opType, function: function.name),
                                                    "input '\(input)' is neither an input of the function nor produced in it")
                    }
                    return renamed
                }
                node.outputs = original.outputs.map { $0.isEmpty ? "" : names[$0] ?? $0 }
                (node.attributes, node.attributeOrder) = resolve(original, call: call, function: function, names: names)
                body.append(node)
            }
            return body
        }

        /// A body node's attributes with references to the function's attributes replaced by
        /// the call's values (or the defaults) and the subgraphs' reads of body values renamed.
        func resolve(_ node: ONNXNode, call: ONNXNode, function: ONNXFunction,
                     names: [String: String]) -> ([String: ONNXAttribute], [String]) {
            var attributes: [String: ONNXAttribute] = [:]
            var order: [String] = []
            for name in node.attributeOrder {
                guard let attribute = node.attributes[name] else { continue }
                let value: ONNXAttribute?
                if case .reference(let target) = attribute {
                    value = call.attributes[target] ?? function.attributeDefaults[target]
                } else if attribute.subgraphs.isEmpty {
                    value = attribute
                } else {
                    value = attribute.mapSubgraphs { graph in
                        graph.renamingReads(names) { resolve($0, call: call, function: function, names: names) }
                    }
                }
                if let value, !value.isReference {
                    attributes[name] = value
                    order.append(name)
                }
            }
            return (attributes, order)
        }
    }
}

/// Names not taken yet, derived from a base name with a counter (`name`, `name_1`, ...).
struct FreshNames {
    var taken: Set<String> = []

    mutating func make(_ base: String) -> String {
        var candidate = base
        var n = 1
        while taken.contains(candidate) {
            candidate = "\(base)_\(n)"
            n += 1
        }
        taken.insert(candidate)
        return candidate
    }
}

extension ONNXGraph {
    /// The graph with its reads of the values in `names` renamed (node inputs, and outputs that
    /// pass an outer value through), each node's attributes as `attributes` gives them.
    func renamingReads(_ names: [String: String],
                       attributes: (ONNXNode) -> ([String: ONNXAttribute], [String])) -> ONNXGraph {
        var g = self
        g.nodes = nodes.map { original in
            var node = original
            node.inputs = original.inputs.map { names[$0] ?? $0 }
            (node.attributes, node.attributeOrder) = attributes(original)
            return node
        }
        g.outputs = outputs.map { output in
            var o = output
            o.name = names[output.name] ?? output.name
            return o
        }
        return g
    }
}

extension ONNXAttribute {
    /// The graphs this attribute holds (a branch of `If`, a loop body).
    var subgraphs: [ONNXGraph] {
        switch self {
        case .graph(let g): return [g]
        case .graphs(let gs): return gs
        default: return []
        }
    }

    var isReference: Bool {
        if case .reference = self { return true }
        return false
    }

    /// The attribute with each of its graphs transformed.
    func mapSubgraphs(_ transform: (ONNXGraph) throws -> ONNXGraph) rethrows -> ONNXAttribute {
        switch self {
        case .graph(let g): return .graph(try transform(g))
        case .graphs(let gs): return .graphs(try gs.map(transform))
        default: return self
        }
    }
}
