import Foundation
import KiteCore

/// The committed sample models and their onnxruntime outputs (Samples/manifest.json).
struct SampleCase {
    var name: String
    var network: String
    var opset: Int
    var folder: String
    var inputs: [String: [Int]]
    var outputs: [String: [Int]]
    var nodes: Int
    var ops: [String: Int]
    var parameters: Int

    var modelPath: String { folder + "/model.onnx" }

    func input(_ name: String) throws -> Tensor { try NPY.read(path: "\(folder)/inputs/\(name).npy").tensor }
    func expected(_ name: String) throws -> Tensor { try NPY.read(path: "\(folder)/outputs/\(name).npy").tensor }
}

enum Samples {
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Samples").path
    }

    static func all() throws -> [SampleCase] {
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/manifest.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = object["samples"] as? [[String: Any]] else { return [] }
        return list.compactMap { s in
            guard let name = s["name"] as? String else { return nil }
            func shapes(_ key: String) -> [String: [Int]] {
                (s[key] as? [String: [Int]]) ?? [:]
            }
            return SampleCase(name: name, network: s["network"] as? String ?? "", opset: s["opset"] as? Int ?? 0,
                              folder: root + "/" + name, inputs: shapes("inputs"), outputs: shapes("outputs"),
                              nodes: s["nodes"] as? Int ?? -1, ops: s["ops"] as? [String: Int] ?? [:],
                              parameters: s["parameters"] as? Int ?? -1)
        }
    }
}

/// max |a - b| / max(1, max |b|): the project's accuracy measure against onnxruntime.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.floats
    let y = b.floats
    guard x.count == y.count else { return .infinity }
    var worst: Float = 0
    var scale: Float = 1
    for i in 0..<x.count {
        let d = abs(x[i] - y[i])
        worst = d.isNaN ? .infinity : max(worst, d)
        scale = max(scale, abs(y[i]))
    }
    return worst / scale
}
