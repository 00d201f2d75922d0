import Foundation
import KiteCore
@testable import KiteONNX
import XCTest

final class ONNXLoaderTests: XCTestCase {
    var folder: URL!

    override func setUp() { folder = temporaryFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func write(_ bytes: [UInt8], _ name: String = "model.onnx") -> String {
        let path = folder.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Loads and expects a KiteError whose one-line text contains every fragment.
    func expectError(_ path: String, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try ONNXLoader.load(path: path)
            XCTFail("expected an error", file: file, line: line)
        } catch let error as KiteError {
            let text = error.description
            XCTAssertFalse(text.contains("\n"), "error should be one line: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' should contain '\(f)'", file: file, line: line) }
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    /// A model whose main graph holds one If node nested `depth` deep in then-branches
    /// (each branch a graph of one If; the innermost a Relu), written field by field.
    func nestedIfModel(depth: Int) -> [UInt8] {
        var graph = ProtoWriter.build { $0.message(1, ONNXBytes.node("Relu", name: "inner", inputs: ["input"], outputs: ["output"])) }
        for level in 0..<depth {
            let inner = graph
            graph = .build { g in
                g.message(1, .build { n in
                    n.string(1, "cond")
                    n.string(2, "output")
                    n.string(3, "if\(level)")
                    n.string(4, "If")
                    n.message(5, .build { a in
                        a.string(1, "then_branch")
                        a.varint(20, 5)
                        a.message(6, inner)
                    })
                })
            }
        }
        return ProtoWriter.build { m in
            m.varint(1, 8)
            m.message(8, .build { $0.string(1, ""); $0.varint(2, 13) })
            m.message(7, graph)
        }.bytes
    }

    /// A model whose input's type is a sequence of sequences ... `depth` deep.
    func nestedTypeModel(depth: Int) -> [UInt8] {
        var type = ProtoWriter.build { $0.message(1, .build { $0.varint(1, 1) }) }
        for _ in 0..<depth {
            let inner = type
            type = .build { $0.message(4, .build { $0.message(1, inner) }) }
        }
        return ProtoWriter.build { m in
            m.varint(1, 8)
            m.message(8, .build { $0.string(1, ""); $0.varint(2, 13) })
            m.message(7, .build { g in
                g.message(1, ONNXBytes.node("Relu", name: "r", inputs: ["input"], outputs: ["output"]))
                g.message(11, .build { $0.string(1, "input"); $0.message(2, type) })
            })
        }.bytes
    }

    func testDeeplyNestedGraphsAndTypesAreRefusedBeforeDecoding() throws {
        // protobuf-c recurses once per level: tens of thousands of levels would exhaust its stack.
        expectError(write(nestedIfModel(depth: 2_000)), "model.onnx", "nest more than")
        expectError(write(nestedTypeModel(depth: 3_000), "types.onnx"), "types.onnx", "nest more than")
        // Ordinary nesting decodes: 20 Ifs inside one another.
        let model = try ONNXLoader.load(path: write(nestedIfModel(depth: 20), "twenty.onnx"))
        var graph = model.graph
        var levels = 0
        while case .graph(let inner)? = graph.nodes.first?.attributes["then_branch"] {
            graph = inner
            levels += 1
        }
        XCTAssertEqual(levels, 20)
        XCTAssertEqual(graph.nodes.first?.opType, "Relu")
    }

    func testDecodesModelGraphAndTensors() throws {
        let w = ONNXBytes.tensor(name: "w", dims: [2, 3], raw: ONNXBytes.floatsRaw([1, 2, 3, 4, 5, -6]))
        let f = ONNXBytes.tensor(name: "f", dims: [2], floatData: [0.5, -0.25])
        let path = write(ONNXBytes.model(initializers: [w, f]))
        let model = try ONNXLoader.load(path: path)
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.producerName, "kite-tests")
        XCTAssertEqual(model.defaultOpset, 13)
        XCTAssertEqual(model.graph.nodes.map(\.opType), ["Relu"])
        XCTAssertEqual(model.graph.nodes[0].inputs, ["input"])
        XCTAssertEqual(model.graph.initializers.map(\.name), ["w", "f"])
        XCTAssertEqual(model.graph.initializers[0].tensor.shape, [2, 3])
        XCTAssertEqual(model.graph.initializers[0].tensor.floats, [1, 2, 3, 4, 5, -6])
        XCTAssertEqual(model.graph.initializers[1].tensor.floats, [0.5, -0.25])
        XCTAssertEqual(model.graph.inputs[0].dims, [.param("batch"), .value(3), .value(4), .value(4)])
    }

    func testDecodesTypedRawData() throws {
        var int64Raw: [UInt8] = []
        for v: Int64 in [-1, 7, 1 << 40] { withUnsafeBytes(of: v.littleEndian) { int64Raw += $0 } }
        let i64 = ONNXBytes.tensor(name: "i64", dims: [3], type: 7, raw: int64Raw)
        let half = ONNXBytes.tensor(name: "h", dims: [3], type: 10, raw: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]) // 1, -2, 0.5
        let i8 = ONNXBytes.tensor(name: "i8", dims: [2], type: 3, raw: [0xFF, 0x05])
        let u8 = ONNXBytes.tensor(name: "u8", dims: [2], type: 2, raw: [0xFF, 0x05])
        let b = ONNXBytes.tensor(name: "b", dims: [2], type: 9, raw: [0x01, 0x00])
        var dRaw: [UInt8] = []
        for v in [1.5, -2.25] { withUnsafeBytes(of: (v as Double).bitPattern.littleEndian) { dRaw += $0 } }
        let d = ONNXBytes.tensor(name: "d", dims: [2], type: 11, raw: dRaw)
        let model = try ONNXLoader.load(path: write(ONNXBytes.model(initializers: [i64, half, i8, u8, b, d])))
        let t = Dictionary(uniqueKeysWithValues: model.graph.initializers.map { ($0.name, $0.tensor) })
        XCTAssertEqual(t["i64"]?.ints, [-1, 7, 1 << 40])
        XCTAssertEqual(t["h"]?.floats, [1, -2, 0.5])
        XCTAssertEqual(t["i8"]?.ints, [-1, 5])
        XCTAssertEqual(t["u8"]?.ints, [255, 5])
        XCTAssertEqual(t["b"]?.ints, [1, 0])
        XCTAssertEqual(t["d"]?.floats, [1.5, -2.25])
        XCTAssertEqual(t["d"]?.elementType, .double)
    }

    func testDecodesFloat8AndPackedSubByteTypes() throws {
        let f8 = ONNXBytes.tensor(name: "f8", dims: [3], type: 17, raw: [0x7E, 0x38, 0xFF])        // 448, 1, NaN
        let e5 = ONNXBytes.tensor(name: "e5", dims: [2], type: 19, raw: [0xFC, 0x3C])              // -inf, 1
        let i4 = ONNXBytes.tensor(name: "i4", dims: [3], type: 22, raw: [0xF7, 0x08])              // 7, -1, -8 (low nibble first)
        let u4 = ONNXBytes.tensor(name: "u4", dims: [3], type: 21, raw: [0x21, 0x03])              // 1, 2, 3
        let f4 = ONNXBytes.tensor(name: "f4", dims: [2], type: 23, raw: [0x7B])                    // -1.5, 6
        let i2 = ONNXBytes.tensor(name: "i2", dims: [5], type: 26, raw: [0b1110_0100, 0b01])       // 0, 1, -2, -1, 1
        let e8 = ONNXBytes.tensor(name: "e8", dims: [2], type: 24, raw: [127, 130])                // 1, 8
        let short = ONNXBytes.tensor(name: "short", dims: [3], type: 22, raw: [0x11])              // needs 2 bytes
        let model = try ONNXLoader.load(path: write(ONNXBytes.model(initializers: [f8, e5, i4, u4, f4, i2, e8])))
        let t = Dictionary(uniqueKeysWithValues: model.graph.initializers.map { ($0.name, $0.tensor) })
        XCTAssertEqual(t["f8"]?.floats.prefix(2), [448, 1])
        XCTAssertTrue(t["f8"]?.floats[2].isNaN ?? false)
        XCTAssertEqual(t["f8"]?.elementType, .float8e4m3fn)
        XCTAssertEqual(t["e5"]?.floats, [-.infinity, 1])
        XCTAssertEqual(t["i4"]?.ints, [7, -1, -8])
        XCTAssertEqual(t["u4"]?.ints, [1, 2, 3])
        XCTAssertEqual(t["f4"]?.floats, [-1.5, 6])
        XCTAssertEqual(t["i2"]?.ints, [0, 1, -2, -1, 1])
        XCTAssertEqual(t["e8"]?.floats, [1, 8])
        XCTAssertThrowsError(try ONNXLoader.load(path: write(ONNXBytes.model(initializers: [short])))) { error in
            XCTAssertTrue("\(error)".contains("raw_data has 1 bytes"), "\(error)")
        }
    }

    func testReadsExternalData() throws {
        var payload: [UInt8] = [9, 9, 9, 9]
        payload += ONNXBytes.floatsRaw([3, 4])
        FileManager.default.createFile(atPath: folder.appendingPathComponent("weights.bin").path, contents: Data(payload))
        let t = ONNXBytes.tensor(name: "ext", dims: [2], external: [("location", "weights.bin"), ("offset", "4"), ("length", "8")])
        let model = try ONNXLoader.load(path: write(ONNXBytes.model(initializers: [t])))
        XCTAssertEqual(model.graph.initializers[0].tensor.floats, [3, 4])
    }

    func testMissingFile() { expectError(folder.appendingPathComponent("nope.onnx").path, "nope.onnx", "no such file") }
    func testDirectory() { expectError(folder.path, folder.lastPathComponent, "directory") }
    func testEmptyFile() { expectError(write([]), "model.onnx", "empty") }
    func testNotProtobuf() { expectError(write(Array("this is not a model at all\n".utf8) + [0xFF, 0xFF, 0xFF]), "model.onnx", "not a valid ONNX model") }

    func testTruncatedModel() {
        let w = ONNXBytes.tensor(name: "w", dims: [64], raw: ONNXBytes.floatsRaw([Float](repeating: 1, count: 64)))
        let bytes = ONNXBytes.model(initializers: [w])
        expectError(write(Array(bytes.prefix(bytes.count - 40))), "model.onnx", "corrupt or truncated")
    }

    func testModelWithoutGraph() { expectError(write(ONNXBytes.model(withGraph: false)), "model.onnx", "no graph") }

    func testRawDataLengthMismatch() {
        let w = ONNXBytes.tensor(name: "conv.weight", dims: [2, 3], raw: ONNXBytes.floatsRaw([1, 2, 3]))
        expectError(write(ONNXBytes.model(initializers: [w])), "model.onnx", "conv.weight", "raw_data has 12 bytes", "need 24")
    }

    func testTypedDataCountMismatch() {
        let w = ONNXBytes.tensor(name: "w", dims: [4], floatData: [1, 2])
        expectError(write(ONNXBytes.model(initializers: [w])), "'w'", "float_data has 2 values")
    }

    func testNegativeDims() {
        let w = ONNXBytes.tensor(name: "neg", dims: [2, -3], raw: [])
        expectError(write(ONNXBytes.model(initializers: [w])), "'neg'", "negative dimension -3")
    }

    /// onnxruntime rejects these; Kite used to run them as float.
    func testGraphInputWithUndefinedOrUnknownElementType() {
        expectError(write(ONNXBytes.model(inputElemType: 0)), "model.onnx", "tensor 'input'", "element type 0, which is UNDEFINED")
        expectError(write(ONNXBytes.model(inputElemType: 99)), "model.onnx", "tensor 'input'", "element type 99, which is not an ONNX type")
        XCTAssertNoThrow(try ONNXLoader.load(path: write(ONNXBytes.model(inputElemType: 1))))
    }

    func testDuplicateGraphInput() {
        let bytes = ProtoWriter.build { m in
            m.varint(1, 8)
            m.message(8, .build { $0.string(1, ""); $0.varint(2, 13) })
            m.message(7, .build { g in
                g.message(1, ONNXBytes.node("Relu", name: "relu0", inputs: ["x"], outputs: ["y"]))
                g.message(11, ONNXBytes.valueInfo("x", dims: [1, 2]))
                g.message(11, ONNXBytes.valueInfo("x", dims: [1, 2]))
                g.message(12, ONNXBytes.valueInfo("y", dims: [1, 2]))
            })
        }.bytes
        expectError(write(bytes), "model.onnx: tensor 'x': the graph declares this input more than once")
    }

    func testOverflowingDims() {
        let w = ONNXBytes.tensor(name: "huge", dims: [1 << 40, 1 << 40], raw: [])
        expectError(write(ONNXBytes.model(initializers: [w])), "'huge'", "overflow")
    }

    func testUnknownDataType() {
        let w = ONNXBytes.tensor(name: "odd", dims: [1], type: 99, raw: [0, 0, 0, 0])
        expectError(write(ONNXBytes.model(initializers: [w])), "'odd'", "unknown data type 99")
    }

    func testExternalDataMissing() {
        let t = ONNXBytes.tensor(name: "ext", dims: [2], external: [("location", "absent.bin")])
        expectError(write(ONNXBytes.model(initializers: [t])), "'ext'", "absent.bin", "missing")
    }

    func testExternalDataTooShort() {
        FileManager.default.createFile(atPath: folder.appendingPathComponent("short.bin").path, contents: Data([1, 2, 3]))
        let t = ONNXBytes.tensor(name: "ext", dims: [2], external: [("location", "short.bin")])
        expectError(write(ONNXBytes.model(initializers: [t])), "'ext'", "short.bin", "too short")
    }

    func testExternalDataOutsideFolder() {
        let t = ONNXBytes.tensor(name: "ext", dims: [2], external: [("location", "../../etc/passwd")])
        expectError(write(ONNXBytes.model(initializers: [t])), "'ext'", "outside the model's folder")
        let abs = ONNXBytes.tensor(name: "abs", dims: [2], external: [("location", "/etc/passwd")])
        expectError(write(ONNXBytes.model(initializers: [abs]), "b.onnx"), "'abs'", "outside the model's folder")
    }
}
