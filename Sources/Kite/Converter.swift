import Foundation
import KiteCore
import KiteFormat
import KiteONNX
import KiteOptimizer

/// How `kite convert` converts.
public struct ConversionOptions: Sendable {
    public var inputShapes: [String: [Int]]
    /// Skip fusion passes (cleanup still runs).
    public var noFuse: Bool
    /// Run only these passes, by name (nil: all).
    public var passes: [String]?
    /// Run the graph before and after each pass on a seeded input and name the first pass that drifts.
    public var verify: Bool
    public var fp16Weights: Bool
    /// Stop after the N-th pass run that changed the graph (to bisect a wrong answer).
    public var stopAfter: Int?

    public init(inputShapes: [String: [Int]] = [:], noFuse: Bool = false, passes: [String]? = nil, verify: Bool = false,
                fp16Weights: Bool = false, stopAfter: Int? = nil) {
        self.stopAfter = stopAfter
        self.inputShapes = inputShapes
        self.noFuse = noFuse
        self.passes = passes
        self.verify = verify
        self.fp16Weights = fp16Weights
    }
}

/// What a conversion did.
public struct ConversionReport: Sendable {
    public var source: String
    public var destination: String
    public var onnxNodes: Int
    public var nodesBefore: Int
    public var nodesAfter: Int
    /// Pass name -> rewrites, in pass order.
    public var passes: [(name: String, rewrites: Int)]
    /// Readable lines ("folded 52 BatchNormalization into Conv").
    public var summaryLines: [String]
    public var bytesBefore: Int
    public var bytesAfter: Int
    /// With --verify: the first pass whose outputs drifted, and by how much (nil: none drifted).
    public var verification: String?
    public var notes: [String]
    /// Whether the converted graph runs a batch of any size item by item (`NativeGraph.runsPerBatchItem`).
    public var runsAnyBatch = false

    public var text: String {
        var lines = ["converted \(source) -> \(destination)",
                     "nodes:  \(onnxNodes) ONNX -> \(nodesBefore) native -> \(nodesAfter) after passes"]
        lines += summaryLines.map { "  " + $0 }
        lines.append("size:   \(formatBytes(bytesBefore)) -> \(formatBytes(bytesAfter))")
        if runsAnyBatch { lines.append("batch:  any, item by item (the graph keeps the items of a batch apart)") }
        if let verification { lines.append("verify: \(verification)") }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        var passObject: [String: Int] = [:]
        for p in passes { passObject[p.name] = p.rewrites }
        var o: [String: Any] = [
            "schema_version": 1, "source": source, "destination": destination, "onnx_nodes": onnxNodes,
            "nodes_before": nodesBefore, "nodes_after": nodesAfter, "passes": passObject,
            "bytes_before": bytesBefore, "bytes_after": bytesAfter, "summary": summaryLines,
        ]
        if let verification { o["verification"] = verification }
        o["runs_any_batch"] = runsAnyBatch
        return jsonString(o)
    }
}

/// ONNX file -> optimised native graph -> `.kite` file.
public enum Converter {
    @discardableResult
    public static func convert(path: String, to destination: String, options: ConversionOptions = ConversionOptions()) throws -> ConversionReport {
        // A .kite file parses as a protobuf too; ONNX would only say "model has no graph".
        if KiteFormat.looksLikeKite(path: path) {
            throw KiteError.invalidArgument("\(path): is already a .kite file; convert takes an ONNX model")
        }
        let model = try ONNXLoader.load(path: path)
        let lowered = try Lowering.lowerWithNotes(model, inputShapes: options.inputShapes)
        var graph = lowered.graph
        let before = graph.nodes.count
        var passOptions = PassOptions()
        passOptions.fuse = !options.noFuse
        passOptions.only = options.passes
        passOptions.stopAfter = options.stopAfter
        var notes = lowered.notes
        if !graph.isFloatOnly {
            // The passes rewrite float32 graphs; one with other element types is stored as lowered.
            passOptions.only = []
            notes.append("the model has values of types other than float32: optimisation passes skipped")
        }
        var verification: String?
        let report: OptimizationReport
        if options.verify {
            var random = SeededRandom(seed: 0)
            var inputs: [String: Tensor] = [:]
            for v in graph.inputs { inputs[v.name] = try random.tensor(v.shape, name: v.name) }
            let result = try PassManager(options: passOptions).runVerifying(&graph, inputs: inputs, tolerance: 1e-5)
            report = result.report
            verification = result.firstDrift.map { "pass '\($0.pass)' changed the outputs by \($0.error) (> 1e-5)" } ?? "no pass changed the outputs by more than 1e-5"
        } else {
            report = try PassManager(options: passOptions).run(&graph)
        }
        let file = KiteModelFile(producer: "kite \(kiteVersion)", source: URL(fileURLWithPath: path).lastPathComponent, graph: graph)
        try KiteFormat.write(file, to: destination, options: KiteWriteOptions(fp16Weights: options.fp16Weights))
        let sizeBefore = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) + model.externalDataBytes
        let sizeAfter = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
        return ConversionReport(source: path, destination: destination, onnxNodes: model.graph.nodes.count,
                                nodesBefore: before, nodesAfter: graph.nodes.count,
                                passes: report.rewrites, summaryLines: report.summaryLines,
                                bytesBefore: sizeBefore, bytesAfter: sizeAfter, verification: verification, notes: notes,
                                runsAnyBatch: graph.runsPerBatchItem)
    }
}

/// Kite's version, written into converted files.
public let kiteVersion = "0.1.0"
