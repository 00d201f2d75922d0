import ArgumentParser
import Foundation
import Kite
import KiteCore
import KiteProfiler

/// Report formats for standard output.
enum ProfileFormat: String, CaseIterable, ExpressibleByArgument {
    case table, json, csv
}

extension GroupBy: ExpressibleByArgument {}

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Show where each millisecond goes: per-op time, FLOPs, bytes, roofline bound, and the seed's G1-G4.",
        discussion: """
        Runs the model --warmup times untimed, then --runs times with per-op timers interleaved with as many \
        untimed runs (their median is the end-to-end time the per-op sum is reconciled with). Peak compute \
        and memory bandwidth are measured on the spot. --group-by onnx-node splits a fused op's time across \
        the ONNX nodes it came from in proportion to their FLOPs (evenly when they have none, or for .kite \
        files, whose ONNX nodes are not available). JSON always holds ops, by_type and by_onnx_node.
        """
    )

    @Argument(help: "An .onnx or .kite model file.")
    var model: String

    @Option(help: "Timed runs.")
    var runs: Int = 20

    @Option(help: "Untimed warm-up runs.")
    var warmup: Int = 3

    @Option(help: "Threads (default: one per core).")
    var threads: Int = 0

    @Option(help: "Report on standard output: table, json or csv.")
    var format: ProfileFormat = .table

    @Option(help: "Write a Chrome trace (Perfetto, chrome://tracing) of every timed run to FILE.json.")
    var trace: String?

    @Option(help: "Write a self-contained HTML report to FILE.html.")
    var html: String?

    @Option(name: .customLong("group-by"), help: "Rows per op, type or onnx-node (table and csv).")
    var groupBy: GroupBy = .op

    @Option(name: .customLong("shape"), help: "NAME=DIMS for symbolic input dims, e.g. input=1x3x224x224.")
    var shapes: [String] = []

    @Option(help: "Seed of the random input.")
    var seed: UInt64 = 0

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard threads >= 0 else { throw ValidationError("--threads must not be negative (0: one per core)") }
    }

    func run() throws {
        let inputShapes = try parseShapes(shapes)
        let session = try Session(path: model, options: SessionOptions(inputShapes: inputShapes, threads: threads))
        for note in session.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        guard let executor = session.executor else {
            let typed = session.graph.elementTypes.min { $0.key < $1.key }.map { " ('\($0.key)' is \($0.value))" } ?? ""
            throw KiteError.invalidArgument("\(model): the model has values of types other than float32\(typed), which run on the reference executor; profile needs the fast executor")
        }
        var random = SeededRandom(seed: seed)
        var inputs: [String: Tensor] = [:]
        for v in session.inputs { inputs[v.name] = try random.tensor(v.shape, name: v.name) }
        // A batch through a graph made for one item runs item by item: each run profiles every item.
        let items = session.itemBatch.map { n in (0..<n).map { i in inputs.mapValues { $0.batchItem(i) } } } ?? [inputs]
        let originFLOPs = needsOriginFLOPs ? unfusedOriginFLOPs(inputShapes) : nil
        let profile = try Profiler.profile(executor: executor, graph: session.graph, batchItems: items, runs: runs, warmup: warmup,
                                           model: model, onnxNodeFLOPs: originFLOPs)
        switch format {
        case .table: print(profile.table(groupBy: groupBy))
        case .json: print(profile.json())
        case .csv: print(profile.csv(groupBy: groupBy), terminator: "")
        }
        fflush(nil) // the report before the notes on stderr
        if let trace {
            try write(profile.chromeTrace(), to: trace)
            FileHandle.standardError.write(Data("wrote \(trace): \(profile.ops.count * profile.runs) op slices (open in ui.perfetto.dev or chrome://tracing)\n".utf8))
        }
        if let html {
            try write(profile.html(), to: html)
            FileHandle.standardError.write(Data("wrote \(html)\n".utf8))
        }
    }

    /// Only the ONNX-node grouping (table, csv) and JSON's by_onnx_node use the split weights.
    var needsOriginFLOPs: Bool { groupBy == .onnxNode || format == .json }

    /// Each ONNX node's FLOPs from the model lowered without fusion (nil for .kite files or when that fails).
    func unfusedOriginFLOPs(_ inputShapes: [String: [Int]]) -> [String: Int]? {
        guard !model.lowercased().hasSuffix(".kite"),
              let unfused = try? Session(path: model, options: SessionOptions(inputShapes: inputShapes, optimize: false, threads: 1,
                                                                               useReferenceExecutor: true)) else { return nil }
        return Profiler.originFLOPs(of: unfused.graph)
    }

    func write(_ text: String, to path: String) throws {
        try FileAccess.write(Data(text.utf8), to: path)
    }
}
