import Foundation
import KiteCore
@testable import KiteONNX
import XCTest

/// Builds small ONNX models as Swift values (no protobuf) for lowering tests.
struct ModelBuilder {
    var opset: Int
    var path = "test.onnx"
    var nodes: [ONNXNode] = []
    var initializers: [(name: String, tensor: Tensor)] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    /// Extra opset imports (domain, version); the default domain is imported at `opset` unless `importsDefault` is false.
    var otherImports: [(domain: String, version: Int)] = []
    var importsDefault = true

    init(opset: Int) { self.opset = opset }

    /// A float input with declared dims (ints are fixed, strings symbolic).
    mutating func input(_ name: String, _ dims: [Any]?) {
        let declared: [ONNXDim]? = dims?.map { d in
            if let v = d as? Int { return .value(v) }
            if let p = d as? String { return p.isEmpty ? .unknown : .param(p) }
            return .unknown
        }
        inputs.append(ONNXValueInfo(name: name, elementType: .float, dims: declared))
    }

    mutating func output(_ name: String, _ dims: [ONNXDim]? = nil) {
        outputs.append(ONNXValueInfo(name: name, elementType: .float, dims: dims))
    }

    mutating func weight(_ name: String, _ shape: [Int], _ values: [Float]) {
        initializers.append((name: name, tensor: Tensor(shape: shape, floats: values)))
    }

    mutating func ints(_ name: String, _ values: [Int64], shape: [Int]? = nil) {
        initializers.append((name: name, tensor: Tensor(shape: shape ?? [values.count], ints: values)))
    }

    mutating func node(_ opType: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       domain: String = "", _ attributes: [String: ONNXAttribute] = [:]) {
        let n = name ?? "\(opType)_\(nodes.count)"
        nodes.append(ONNXNode(name: n, opType: opType, domain: domain, inputs: inputs, outputs: outputs,
                              attributes: attributes, attributeOrder: attributes.keys.sorted()))
    }

    var model: ONNXModel {
        ONNXModel(path: path, irVersion: 8, opsetImports: (importsDefault ? [(domain: "", version: opset)] : []) + otherImports,
                  producerName: "test",
                  producerVersion: "", domain: "", modelVersion: 1, docString: "", metadata: [],
                  graph: ONNXGraph(name: "g", nodes: nodes, initializers: initializers, inputs: inputs,
                                   outputs: outputs, valueInfo: []))
    }

    func lower(_ shapes: [String: [Int]] = [:]) throws -> NativeGraph {
        try Lowering.lower(model, inputShapes: shapes)
    }
}

/// A float tensor 0, 1, 2, ... (or any values) with a shape.
func ramp(_ shape: [Int], start: Float = 0, step: Float = 1) -> Tensor {
    Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { start + Float($0) * step })
}

/// Checks a lowered graph's consistency, then runs it with the reference executor.
func runReference(_ graph: NativeGraph, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
    try graph.validate()
    return try ReferenceExecutor.run(graph, inputs: inputs)
}

/// Asserts that `tensor` has `shape` and values within `accuracy` of `expected`.
func assertTensor(_ tensor: Tensor?, _ shape: [Int], _ expected: [Float], accuracy: Float = 1e-5,
                  file: StaticString = #filePath, line: UInt = #line) {
    guard let tensor else { return XCTFail("missing output", file: file, line: line) }
    XCTAssertEqual(tensor.shape, shape, file: file, line: line)
    let got = tensor.floats
    guard got.count == expected.count else {
        return XCTFail("\(got.count) values, expected \(expected.count)", file: file, line: line)
    }
    for (i, (g, e)) in zip(got, expected).enumerated() where abs(g - e) > accuracy {
        return XCTFail("value \(i): \(g) != \(e); got \(got)", file: file, line: line)
    }
}

/// The ops of a lowered graph, in order, by `Op` case name ("conv", "reshape", ...).
func kinds(_ graph: NativeGraph) -> [String] {
    graph.nodes.map { String(String(describing: $0.op).prefix { $0 != "(" }) }
}

/// The payloads of one op kind.
extension NativeGraph {
    var reshapes: [Reshape] { nodes.compactMap { if case .reshape(let r) = $0.op { return r } else { return nil } } }
    var slices: [Slice] { nodes.compactMap { if case .slice(let s) = $0.op { return s } else { return nil } } }
    var convs: [Convolution] { nodes.compactMap { if case .conv(let c) = $0.op { return c } else { return nil } } }
    var activations: [Activation] { nodes.compactMap { if case .activation(let a) = $0.op { return a.activation } else { return nil } } }
    var splits: [Split] { nodes.compactMap { if case .split(let s) = $0.op { return s } else { return nil } } }
    var constants: [Constant] { nodes.compactMap { if case .constant(let c) = $0.op { return c } else { return nil } } }
}

/// A scalar int64 attribute helper.
func int(_ v: Int) -> ONNXAttribute { .int(Int64(v)) }
func ints(_ v: [Int]) -> ONNXAttribute { .ints(v.map { Int64($0) }) }

/// The KiteError thrown by `body`, or a failure.
func lowerError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> KiteError? {
    do {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
    } catch let e as KiteError {
        return e
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
    return nil
}
