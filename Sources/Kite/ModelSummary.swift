import Foundation
import KiteCore
import KiteONNX

/// A declared graph input or output: name, shape (symbolic dims by name) and element type.
public struct TensorSummary: Sendable, Equatable {
    public var name: String
    /// Each dim is a number or a symbolic name ("batch"); "?" when unknown.
    public var shape: [String]
    public var type: String
}

/// What `kite inspect` shows about a model file.
public struct ModelSummary: Sendable {
    public var file: String
    public var format: String
    public var producer: String
    public var irVersion: Int64?
    public var opsets: [(domain: String, version: Int)]
    public var inputs: [TensorSummary]
    public var outputs: [TensorSummary]
    public var nodeCount: Int
    /// Op type -> count, in order of first appearance.
    public var ops: [(op: String, count: Int)]
    public var initializerCount: Int
    public var parameterCount: Int
    public var parameterBytes: Int
    /// Native models: one line per op with what it was fused from.
    public var nativeOps: [String]
    /// Model-local functions an ONNX file defines (the ops list counts calls to them).
    public var functionCount = 0
    /// Native models: whether the graph, converted at batch 1, runs a batch of any size item by
    /// item (`NativeGraph.runsPerBatchItem`).
    public var runsAnyBatch: Bool?

    /// Summarises a decoded ONNX model. Parameters are the elements of all initializers.
    public init(onnx model: ONNXModel) {
        let g = model.graph
        file = model.path
        format = "onnx"
        producer = model.producerVersion.isEmpty ? model.producerName : "\(model.producerName) \(model.producerVersion)"
        irVersion = model.irVersion
        opsets = model.opsetImports.map { (domain: $0.domain.isEmpty ? "ai.onnx" : $0.domain, version: $0.version) }
        func summary(_ v: ONNXValueInfo) -> TensorSummary {
            TensorSummary(name: v.name, shape: (v.dims ?? []).map(\.description), type: v.elementType.description)
        }
        inputs = g.dataInputs.map(summary)
        outputs = g.outputs.map(summary)
        nodeCount = g.nodes.count
        ops = histogram(g.nodes.map { $0.domain.isEmpty || $0.domain == "ai.onnx" ? $0.opType : "\($0.domain).\($0.opType)" })
        initializerCount = g.initializers.count
        parameterCount = g.initializers.reduce(0) { $0 + $1.tensor.count }
        parameterBytes = g.initializers.reduce(0) { $0 + $1.tensor.byteCount }
        nativeOps = []
        functionCount = model.functions.count
    }

    public init(file: String, format: String, producer: String, irVersion: Int64?, opsets: [(domain: String, version: Int)],
                inputs: [TensorSummary], outputs: [TensorSummary], nodeCount: Int, ops: [(op: String, count: Int)],
                initializerCount: Int, parameterCount: Int, parameterBytes: Int, nativeOps: [String]) {
        self.file = file
        self.format = format
        self.producer = producer
        self.irVersion = irVersion
        self.opsets = opsets
        self.inputs = inputs
        self.outputs = outputs
        self.nodeCount = nodeCount
        self.ops = ops
        self.initializerCount = initializerCount
        self.parameterCount = parameterCount
        self.parameterBytes = parameterBytes
        self.nativeOps = nativeOps
    }

    /// The human-readable report.
    public var text: String {
        var lines: [String] = []
        lines.append("model:        \(file) (\(format))")
        lines.append("producer:     \(producer.isEmpty ? "-" : producer)")
        if let irVersion { lines.append("IR version:   \(irVersion)") }
        if !opsets.isEmpty {
            lines.append("opsets:       " + opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", "))
        }
        func row(_ t: TensorSummary) -> String { "  \(t.name)  \(t.type)[\(t.shape.joined(separator: ", "))]" }
        lines.append("inputs:")
        lines += inputs.map(row)
        lines.append("outputs:")
        lines += outputs.map(row)
        if runsAnyBatch == true { lines.append("batch:        any (converted at 1; a batch of N runs item by item)") }
        lines.append("nodes:        \(nodeCount)")
        if functionCount > 0 {
            lines.append("functions:    \(functionCount) model-local (converting inlines every call)")
        }
        lines.append("initializers: \(initializerCount)")
        lines.append("parameters:   \(parameterCount) (\(formatBytes(parameterBytes)))")
        lines.append("ops:")
        let width = ops.map(\.op.count).max() ?? 0
        for (op, count) in ops.sorted(by: { $0.count != $1.count ? $0.count > $1.count : $0.op < $1.op }) {
            lines.append("  " + op.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(count)")
        }
        if !nativeOps.isEmpty {
            lines.append("graph:")
            lines += nativeOps.map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    /// The report as one JSON object (keys sorted; `schema_version` marks its layout).
    public var json: String {
        func tensor(_ t: TensorSummary) -> [String: Any] {
            ["name": t.name, "type": t.type, "shape": t.shape.map { Int($0).map { $0 as Any } ?? $0 as Any }]
        }
        var opsObject: [String: Int] = [:]
        for (op, count) in ops { opsObject[op] = count }
        var object: [String: Any] = [
            "schema_version": 1,
            "file": file,
            "format": format,
            "producer": producer,
            "opsets": Dictionary(opsets.map { ($0.domain, $0.version) }, uniquingKeysWith: { a, _ in a }),
            "inputs": inputs.map(tensor),
            "outputs": outputs.map(tensor),
            "nodes": nodeCount,
            "ops": opsObject,
            "initializers": initializerCount,
            "parameters": parameterCount,
            "parameter_bytes": parameterBytes,
        ]
        if let irVersion { object["ir_version"] = irVersion }
        if functionCount > 0 { object["functions"] = functionCount }
        if let runsAnyBatch { object["runs_any_batch"] = runsAnyBatch }
        return jsonString(object)
    }
}

/// Counts in order of first appearance.
func histogram(_ items: [String]) -> [(op: String, count: Int)] {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for item in items {
        if counts[item] == nil { order.append(item) }
        counts[item, default: 0] += 1
    }
    return order.map { (op: $0, count: counts[$0]!) }
}

/// Bytes as B, KB, MB.
public func formatBytes(_ n: Int) -> String {
    if n < 1024 { return "\(n) B" }
    if n < 1024 * 1024 { return String(format: "%.1f KB", Double(n) / 1024) }
    return String(format: "%.2f MB", Double(n) / 1024 / 1024)
}

/// Serialises a JSON object with sorted keys, pretty-printed.
public func jsonString(_ object: Any) -> String {
    guard JSONSerialization.isValidJSONObject(object),
          let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else {
        return "{}"
    }
    return String(decoding: data, as: UTF8.self)
}
