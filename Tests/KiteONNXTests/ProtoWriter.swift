import Foundation

/// A tiny protobuf encoder for building ONNX files byte by byte in tests,
/// including broken ones no well-behaved writer would produce.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ value: Int64) {
        rawVarint(UInt64(field << 3 | 0))
        rawVarint(UInt64(bitPattern: value))
    }

    mutating func data(_ field: Int, _ payload: [UInt8]) {
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: ProtoWriter) { data(field, m.bytes) }

    mutating func float32(_ field: Int, _ f: Float) {
        rawVarint(UInt64(field << 3 | 5))
        withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 }
    }

    static func build(_ body: (inout ProtoWriter) -> Void) -> ProtoWriter {
        var w = ProtoWriter()
        body(&w)
        return w
    }
}

/// Builders for ONNX messages (field numbers from Schemas/onnx.proto).
enum ONNXBytes {
    static func floatsRaw(_ v: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    static func tensor(name: String, dims: [Int64], type: Int64 = 1, raw: [UInt8]? = nil,
                       floatData: [Float]? = nil, external: [(String, String)]? = nil) -> ProtoWriter {
        .build { t in
            for d in dims { t.varint(1, d) }
            t.varint(2, type)
            t.string(8, name)
            if let raw { t.data(9, raw) }
            if let floatData {
                var packed = ProtoWriter()
                for f in floatData { withUnsafeBytes(of: f.bitPattern.littleEndian) { packed.bytes += $0 } }
                t.data(4, packed.bytes)
            }
            if let external {
                for (k, v) in external { t.message(13, .build { $0.string(1, k); $0.string(2, v) }) }
                t.varint(14, 1)
            }
        }
    }

    static func valueInfo(_ name: String, dims: [Any], elemType: Int64 = 1) -> ProtoWriter {
        .build { v in
            v.string(1, name)
            v.message(2, .build { type in
                type.message(1, .build { tt in
                    tt.varint(1, elemType)
                    tt.message(2, .build { shape in
                        for d in dims {
                            shape.message(1, .build { dim in
                                if let i = d as? Int { dim.varint(1, Int64(i)) } else if let s = d as? String { dim.string(2, s) }
                            })
                        }
                    })
                })
            })
        }
    }

    static func node(_ op: String, name: String, inputs: [String], outputs: [String], ints: [(String, [Int64])] = []) -> ProtoWriter {
        .build { n in
            for i in inputs { n.string(1, i) }
            for o in outputs { n.string(2, o) }
            n.string(3, name)
            n.string(4, op)
            for (attr, values) in ints {
                n.message(5, .build { a in
                    a.string(1, attr)
                    a.varint(20, 7)
                    for v in values { a.varint(8, v) }
                })
            }
        }
    }

    /// A model: Relu(input) + one initializer `w` added to it.
    static func model(initializers: [ProtoWriter] = [], nodes: [ProtoWriter]? = nil, withGraph: Bool = true, opset: Int64 = 13,
                      inputElemType: Int64 = 1) -> [UInt8] {
        ProtoWriter.build { m in
            m.varint(1, 8)
            m.string(2, "kite-tests")
            m.string(3, "1.0")
            m.message(8, .build { $0.string(1, ""); $0.varint(2, opset) })
            if withGraph {
                m.message(7, .build { g in
                    for n in nodes ?? [node("Relu", name: "relu0", inputs: ["input"], outputs: ["output"])] { g.message(1, n) }
                    g.string(2, "test")
                    for t in initializers { g.message(5, t) }
                    g.message(11, valueInfo("input", dims: ["batch", 3, 4, 4], elemType: inputElemType))
                    g.message(12, valueInfo("output", dims: ["batch", 3, 4, 4]))
                })
            }
        }.bytes
    }
}

/// A fresh temporary folder per test.
func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kite-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
