import Foundation
import KiteCore
import KiteFormat
import KiteONNX
import KiteOptimizer
import KiteRuntime

/// How a model is opened.
public struct SessionOptions: Sendable {
    /// Concrete shapes for graph inputs whose dims are symbolic (`--shape NAME=1x3x224x224`).
    public var inputShapes: [String: [Int]]
    /// Run the optimisation passes when opening an ONNX file.
    public var optimize: Bool
    /// Worker threads for the fast executor; 0 means one per core.
    public var threads: Int
    /// Execute with the plain reference implementations instead of the fast kernels.
    public var useReferenceExecutor: Bool

    public init(inputShapes: [String: [Int]] = [:], optimize: Bool = true, threads: Int = 0, useReferenceExecutor: Bool = false) {
        self.inputShapes = inputShapes
        self.optimize = optimize
        self.threads = threads
        self.useReferenceExecutor = useReferenceExecutor
    }
}

/// An opened model, ready to run: a `.kite` file or an ONNX file lowered and optimised on the fly.
///
/// ```swift
/// let session = try Session(path: "mobilenetv2.kite")
/// let outputs = try session.run(["input": image])
/// ```
public final class Session: @unchecked Sendable {
    public let path: String
    /// The native graph being run.
    public let graph: NativeGraph
    /// Things the user should know (symbolic dims fixed to a value, ...).
    public let notes: [String]
    /// Milliseconds spent opening the model (decode, lower, optimise, plan).
    public let loadMilliseconds: Double
    /// The planned fast executor (nil when running the reference implementations).
    public let executor: Executor?
    /// The batch asked for when opening (`SessionOptions.inputShapes`) that the graph, made for
    /// one item, runs item by item; nil when the inputs have the graph's own shapes.
    public let itemBatch: Int?
    /// The inputs `run` takes by default: the graph's, with `itemBatch` as their batch.
    public let inputs: [ValueInfo]
    /// Whether `run` takes a batch of any size where the graph has a batch of 1, and runs it item
    /// by item (`NativeGraph.runsPerBatchItem`).
    public let runsAnyBatch: Bool
    let options: SessionOptions

    public convenience init(path: String, options: SessionOptions = SessionOptions()) throws {
        let start = DispatchTime.now()
        let loaded = try loadNativeGraph(path: path, inputShapes: options.inputShapes, optimize: options.optimize)
        try self.init(path: path, loaded: loaded, options: options, start: start)
    }

    /// Opens an ONNX model already decoded (e.g. one whose inputs were bound to constants).
    public convenience init(model: ONNXModel, options: SessionOptions = SessionOptions()) throws {
        let start = DispatchTime.now()
        let lowered = try Lowering.lowerWithNotes(model, inputShapes: options.inputShapes)
        var graph = lowered.graph
        // The passes rewrite float32 graphs; a graph with other element types runs as lowered.
        if options.optimize && graph.isFloatOnly { _ = try PassManager(options: PassOptions()).run(&graph) }
        try self.init(path: model.path, loaded: LoadedGraph(graph: graph, notes: lowered.notes, report: nil, onnxNodes: model.graph.nodes.count),
                      options: options, start: start)
    }

    init(path: String, loaded: LoadedGraph, options: SessionOptions, start: DispatchTime) throws {
        self.path = path
        self.options = options
        graph = loaded.graph
        notes = loaded.notes
        runsAnyBatch = loaded.graph.runsPerBatchItem
        itemBatch = loaded.batch
        inputs = loaded.graph.inputs.map { v in
            guard let batch = loaded.batch else { return v }
            return ValueInfo(name: v.name, shape: [batch] + v.shape.dropFirst())
        }
        // The fast executor runs float32 graphs; other element types run on the reference implementations.
        do {
            executor = options.useReferenceExecutor || !loaded.graph.isFloatOnly ? nil : try Executor(graph: loaded.graph, threads: options.threads)
        } catch let e as KiteError {
            throw e.adding(ErrorContext(file: path))
        }
        loadMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    }

    public var outputs: [ValueInfo] { graph.outputs }

    /// Runs the model on named inputs and returns every graph output by name. When the graph
    /// runs any batch (`runsAnyBatch`), inputs may carry N items where the graph has 1: each
    /// item runs on its own and the outputs stack them.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        guard let items = try checkInputs(inputs) else { return try runGraph(inputs) }
        var stacked: [String: [Tensor]] = [:]
        for i in 0..<items {
            for (name, tensor) in try runGraph(inputs.mapValues { $0.batchItem(i) }) { stacked[name, default: []].append(tensor) }
        }
        return stacked.mapValues { Tensor(stackingBatchItems: $0) }
    }

    func runGraph(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        if let executor { return try executor.run(inputs) }
        return try ReferenceExecutor.run(graph, inputs: inputs)
    }

    /// Rejects unknown names, missing inputs and wrong shapes with one-line errors. Returns the
    /// number of items when the inputs carry a batch the graph runs item by item, nil when
    /// their shapes are the graph's.
    @discardableResult
    public func checkInputs(_ inputs: [String: Tensor]) throws -> Int? {
        // Not uniqueKeysWithValues: loading rejects duplicate input names, but a trap is no way to say so.
        let expected = Dictionary(graph.inputs.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        var batch: (items: Int, input: String)?
        for (name, tensor) in inputs.sorted(by: { $0.key < $1.key }) {
            guard let shape = expected[name] else {
                throw KiteError.invalidArgument("unknown input '\(name)'; the model's inputs are: \(graph.inputs.map(\.name).joined(separator: ", "))")
            }
            let items = tensor.shape.first ?? 0
            if runsAnyBatch && tensor.rank == shape.count && items >= 1 && tensor.shape.dropFirst() == shape.dropFirst() {
                if let batch, batch.items != items {
                    throw KiteError.invalidArgument("input '\(name)' has a batch of \(items) but input '\(batch.input)' has \(batch.items)")
                }
                batch = (items, name)
                continue
            }
            guard tensor.shape == shape else {
                let any = runsAnyBatch ? " (any batch: [N, \(shape.dropFirst().map(String.init).joined(separator: ", "))])" : ""
                throw KiteError.invalidArgument("input '\(name)' has shape \(tensor.shape) but the model expects \(shape)" + any +
                    (tensor.rank != shape.count ? " (rank \(tensor.rank) vs \(shape.count))" : ""))
            }
        }
        for v in graph.inputs where inputs[v.name] == nil {
            throw KiteError.invalidArgument("missing input '\(v.name)' of shape \(v.shape)")
        }
        guard let batch, batch.items != 1 else { return nil }
        return batch.items
    }
}

/// A graph ready to run and what was noted while making it.
struct LoadedGraph {
    var graph: NativeGraph
    var notes: [String]
    var report: OptimizationReport?
    var onnxNodes: Int?
    /// The batch asked for a `.kite` graph that runs item by item, when not its own.
    var batch: Int?
}

/// Opens a `.kite` file as is, or decodes, lowers and (optionally) optimises an ONNX file.
func loadNativeGraph(path: String, inputShapes: [String: [Int]], optimize: Bool, passOptions: PassOptions = PassOptions()) throws -> LoadedGraph {
    if KiteFormat.looksLikeKite(path: path) {
        let file = try KiteFormat.read(path: path)
        // Shapes are fixed at conversion, but for the batch of a graph that runs item by item.
        var batch: Int?
        for v in file.graph.inputs {
            guard let s = inputShapes[v.name], s != v.shape else { continue }
            if s.count == v.shape.count, s.dropFirst() == v.shape.dropFirst(), s[0] >= 1, batch == nil || batch == s[0],
               file.graph.runsPerBatchItem {
                batch = s[0]
                continue
            }
            throw KiteError.invalidArgument("\(path): input '\(v.name)' was converted with shape \(v.shape); reconvert with --shape to use \(s)")
        }
        return LoadedGraph(graph: file.graph, notes: [], report: nil, onnxNodes: nil, batch: batch)
    }
    let model = try ONNXLoader.load(path: path)
    // A batch asked of a model whose batch is fixed at 1 (exported without a dynamic batch) runs
    // item by item, as in a converted graph, if the graph keeps items apart.
    var batch: Int?
    var shapes = inputShapes
    for v in model.graph.dataInputs {
        guard let s = inputShapes[v.name], let dims = v.dims, dims.first == .value(1), s.count == dims.count,
              s[0] > 1, batch == nil || batch == s[0],
              zip(dims.dropFirst(), s.dropFirst()).allSatisfy({ dim, given in
                  if case .value(let fixed) = dim { return fixed == given } else { return true }
              }) else { continue }
        batch = s[0]
        shapes[v.name] = [1] + s.dropFirst()
    }
    let lowered = try Lowering.lowerWithNotes(model, inputShapes: shapes)
    var graph = lowered.graph
    var report: OptimizationReport?
    if optimize && graph.isFloatOnly { report = try PassManager(options: passOptions).run(&graph) }
    if batch != nil && !graph.runsPerBatchItem {
        _ = try Lowering.lowerWithNotes(model, inputShapes: inputShapes)  // throws the declared batch's error
        throw KiteError.invalidArgument("\(path): the model's batch is fixed at 1")
    }
    return LoadedGraph(graph: graph, notes: lowered.notes, report: report, onnxNodes: model.graph.nodes.count, batch: batch)
}
