import KiteCore

/// Translates a decoded ONNX model into Kite's native op set.
///
/// Lowering walks the nodes in topological order. Every ONNX value becomes
/// either a known constant (initializers, `Constant` nodes and anything
/// computed from constants only, evaluated here on `Tensor`s) or a runtime
/// value with a fully known shape. Runtime nodes become `NativeNode`s named
/// after their ONNX node, whose outputs keep the ONNX value names. Lowering
/// translates; it does not optimise (fusion is the optimizer's job).
///
/// ```swift
/// let model = try ONNXLoader.load(path: "mobilenetv2.onnx")
/// let lowered = try Lowering.lowerWithNotes(model, inputShapes: ["input": [1, 3, 224, 224]])
/// lowered.notes.forEach { print("note:", $0) }
/// ```
///
/// Nodes that cannot be lowered are all collected and thrown at once as
/// `KiteError.unsupported`; a malformed model throws `invalidNode` or
/// `shapeMismatch` naming the node and file.
public enum Lowering {
    /// How a model is lowered.
    public struct Options: Sendable {
        /// Concrete shapes for graph inputs, by input name. They must agree with
        /// every fixed dimension the model declares.
        public var inputShapes: [String: [Int]]
        /// The value given to symbolic or unknown input dimensions not set by `inputShapes`.
        public var defaultDimension: Int

        public init(inputShapes: [String: [Int]] = [:], defaultDimension: Int = 1) {
            self.inputShapes = inputShapes
            self.defaultDimension = defaultDimension
        }
    }

    /// A lowered graph and what the caller should tell the user about it.
    public struct Result: Sendable {
        /// The native graph, every shape resolved.
        public var graph: NativeGraph
        /// Things decided on the user's behalf ("input 'input': dim 'batch' set to 1").
        public var notes: [String]

        public init(graph: NativeGraph, notes: [String]) {
            self.graph = graph
            self.notes = notes
        }
    }

    /// Lowers `model` into a native graph.
    public static func lower(_ model: ONNXModel, inputShapes: [String: [Int]] = [:]) throws -> NativeGraph {
        try lower(model, options: Options(inputShapes: inputShapes)).graph
    }

    /// Lowers `model` and returns the notes alongside the graph.
    public static func lowerWithNotes(_ model: ONNXModel, inputShapes: [String: [Int]] = [:]) throws -> Result {
        try lower(model, options: Options(inputShapes: inputShapes))
    }

    /// Lowers `model` with explicit options.
    public static func lower(_ model: ONNXModel, options: Options) throws -> Result {
        let model = try FunctionInlining.inline(model)
        var notes: [String] = []
        let opset: Int
        if let declared = model.defaultOpset {
            opset = declared
            if declared > OpTable.newestKnownOpset {
                notes.append("the model imports opset \(declared); its ops are read as opset \(OpTable.newestKnownOpset) "
                             + "defines them, the newest Kite knows")
            }
        } else {
            opset = OpTable.newestKnownOpset
            notes.append("the model imports no default-domain opset; assuming opset \(opset)")
        }
        let state = LoweringState(model: model, opset: opset)
        try state.bindInputs(options, notes: &notes)
        let order = try TopologicalOrder.sort(model.graph, file: model.path)
        for index in order {
            let node = model.graph.nodes[index]
            try state.lowerNode(node, display: TopologicalOrder.displayName(node, index))
        }
        try state.bindOutputs()
        if !state.unsupported.isEmpty {
            throw KiteError.unsupported(state.unsupported)
        }
        var graph = state.makeGraph()
        if let promoted = graph.computingFloat16InFloat32() {
            graph = promoted
            notes.append("float16 values are computed in float32 (inputs and outputs are float32)")
        }
        return Result(graph: graph, notes: notes + state.notes)
    }
}
