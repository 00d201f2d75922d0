import Foundation
import KiteCore
import KiteONNX
import XCTest

/// Every sample model (Samples/manifest.json), as a real exporter wrote it,
/// lowers and runs on the reference executor within 1e-4 (relative to the
/// largest output) of onnxruntime.
final class LoweringSamplesTests: XCTestCase {
    static var samplesRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Samples")
    }

    struct Sample {
        var name: String
        var inputs: [String: [Int]]
        var outputs: [String]
    }

    static func manifest() throws -> [Sample]? {
        let url = samplesRoot.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = object["samples"] as? [[String: Any]] else { return nil }
        return list.compactMap { s in
            guard let name = s["name"] as? String else { return nil }
            let inputs = (s["inputs"] as? [String: [Int]]) ?? [:]
            let outputs = ((s["outputs"] as? [String: Any]) ?? [:]).keys.sorted()
            return Sample(name: name, inputs: inputs, outputs: outputs)
        }
    }

    func testEverySampleMatchesOnnxruntime() throws {
        guard let samples = try Self.manifest(), !samples.isEmpty else {
            throw XCTSkip("no Samples/manifest.json yet")
        }
        var passed: [String] = []
        var failures: [String] = []
        for sample in samples {
            let folder = Self.samplesRoot.appendingPathComponent(sample.name)
            do {
                let model = try ONNXLoader.load(path: folder.appendingPathComponent("model.onnx").path)
                let graph = try Lowering.lower(model, inputShapes: sample.inputs)
                try graph.validate()
                var inputs: [String: Tensor] = [:]
                for name in sample.inputs.keys {
                    inputs[name] = try NPY.read(path: folder.appendingPathComponent("inputs/\(name).npy").path).tensor
                }
                let outputs = try ReferenceExecutor.run(graph, inputs: inputs)
                var worst: Float = 0
                var problems: [String] = []
                for name in sample.outputs {
                    let want = try NPY.read(path: folder.appendingPathComponent("outputs/\(name).npy").path).tensor
                    guard let got = outputs[name] else { problems.append("no output '\(name)'"); continue }
                    guard got.shape == want.shape else {
                        problems.append("output '\(name)' has shape \(got.shape), onnxruntime \(want.shape)")
                        continue
                    }
                    let error = Self.relativeError(got.floats, want.floats)
                    worst = max(worst, error)
                    if !(error <= 1e-4) { problems.append("output '\(name)' differs by \(error) (relative)") }
                }
                if problems.isEmpty {
                    passed.append("\(sample.name) (\(worst))")
                } else {
                    failures.append("\(sample.name): " + problems.joined(separator: "; "))
                }
            } catch {
                failures.append("\(sample.name): \(error)")
            }
        }
        print("lowering samples passed (\(passed.count)/\(samples.count)): \(passed.joined(separator: ", "))")
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    /// max|a - b| / max(1, max|b|).
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        var worst: Float = 0, scale: Float = 1
        for (x, y) in zip(a, b) {
            let d = abs(x - y)
            worst = d.isNaN ? .infinity : max(worst, d)
            scale = max(scale, abs(y))
        }
        return worst / scale
    }
}
