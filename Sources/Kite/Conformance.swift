import Foundation
import KiteCore
import KiteONNX

/// One ONNX backend node test case run through Kite.
public struct ConformanceResult: Sendable {
    public var name: String
    public var opType: String
    public var passed: Bool
    /// Why it failed (error text or the largest difference).
    public var reason: String
}

/// Runs the ONNX project's backend node test cases (model.onnx + test_data_set_0/*.pb).
public enum Conformance {
    /// Runs every case folder under `root`; `cases.tsv` (name, op) names the op of each case when present.
    public static func run(root: String) throws -> [ConformanceResult] {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: root) else {
            throw KiteError.io(ErrorContext(file: root), "cannot list the conformance folder")
        }
        var ops: [String: String] = [:]
        if let tsv = try? String(contentsOfFile: (root as NSString).appendingPathComponent("cases.tsv"), encoding: .utf8) {
            for line in tsv.split(separator: "\n") {
                let cols = line.split(separator: "\t").map(String.init)
                if cols.count >= 2 { ops[cols[0]] = cols[1] }
            }
        }
        var results: [ConformanceResult] = []
        for name in entries.sorted() {
            let folder = (root as NSString).appendingPathComponent(name)
            let modelPath = (folder as NSString).appendingPathComponent("model.onnx")
            guard fm.fileExists(atPath: modelPath) else { continue }
            var op = ops[name] ?? ""
            if op.isEmpty, let model = try? ONNXLoader.load(path: modelPath) { op = model.graph.nodes.first?.opType ?? "?" }
            do {
                let (passed, reason) = try runCase(folder: folder, modelPath: modelPath)
                results.append(ConformanceResult(name: name, opType: op, passed: passed, reason: reason))
            } catch {
                results.append(ConformanceResult(name: name, opType: op, passed: false, reason: "\(error)"))
            }
        }
        return results
    }

    static func runCase(folder: String, modelPath: String) throws -> (Bool, String) {
        let model = try ONNXLoader.load(path: modelPath)
        // Sequence, map and optional values are not tensors: their data files are not TensorProtos.
        if let v = (model.graph.dataInputs + model.graph.outputs).first(where: { $0.kind != .tensor && $0.kind != .undeclared }) {
            throw KiteError.unsupported([UnsupportedNode(context: ErrorContext(file: modelPath, tensor: v.name),
                                                         reason: "graph \(model.graph.outputs.contains(v) ? "output" : "input") of kind \(v.kind.rawValue): Kite runs tensors only")])
        }
        let dataDir = (folder as NSString).appendingPathComponent("test_data_set_0")
        func tensors(_ prefix: String) throws -> [Tensor] {
            var list: [Tensor] = []
            var i = 0
            while true {
                let p = (dataDir as NSString).appendingPathComponent("\(prefix)_\(i).pb")
                guard FileManager.default.fileExists(atPath: p) else { break }
                list.append(try ONNXLoader.loadTensor(path: p).tensor)
                i += 1
            }
            return list
        }
        let inputValues = try tensors("input")
        let expected = try tensors("output")
        let dataInputs = model.graph.dataInputs
        var inputs: [String: Tensor] = [:]
        var shapes: [String: [Int]] = [:]
        // Kite runs float activations with constant weights: the first input stays a runtime
        // input, the others (weights, shapes, indices in these cases) are bound as constants.
        var bound = model
        for (i, (info, value)) in zip(dataInputs, inputValues).enumerated() {
            if i == 0 {
                inputs[info.name] = value
                shapes[info.name] = value.shape
            } else {
                bound.graph.initializers.append((name: info.name, tensor: value))
            }
        }
        let session = try Session(model: bound, options: SessionOptions(inputShapes: shapes, threads: 1))
        let outputs = try session.run(inputs)
        for (info, want) in zip(model.graph.outputs, expected) {
            guard let got = outputs[info.name] else { return (false, "output '\(info.name)' missing") }
            guard got.shape == want.shape || (got.count == want.count && want.count <= 1) else {
                return (false, "output '\(info.name)' shape \(got.shape), expected \(want.shape)")
            }
            let a = got.floats
            let b = want.floats
            for i in 0..<min(a.count, b.count) {
                // ONNX's backend tests compare with rtol 1e-3, atol 1e-7.
                let tolerance = 1e-7 + 1e-3 * abs(b[i])
                if abs(a[i] - b[i]) > tolerance && !(a[i].isNaN && b[i].isNaN) && a[i] != b[i] {
                    return (false, "output '\(info.name)'[\(i)] = \(a[i]), expected \(b[i])")
                }
            }
        }
        return (true, "")
    }
}
