import KiteCore
@testable import KiteONNX
import XCTest

/// Data from a file never crashes lowering: hostile attribute values and
/// integer constants end as a `KiteError` (or a valid graph), never a trap.
final class LoweringRobustnessTests: XCTestCase {
    static let hostile: [Int64] = [.min, .max, -(1 << 40), -7, -3, -2, -1, 0, 1, 2, 3, 5, 1 << 31, 1 << 40]

    func testHostileValuesBecomeErrors() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 4, 6, 6])
        m.ints("starts", [.max])
        m.ints("ends", [.min])
        m.ints("axes", [1])
        m.ints("steps", [.max])
        m.node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"])    // empty along axis 1, no overflow
        m.output("s")
        XCTAssertEqual(try m.lower().outputs.first?.shape, [1, 0, 6, 6])

        let cases: [(String, [String: ONNXAttribute])] = [
            ("MaxPool", ["kernel_shape": ints([2, 2]), "strides": .ints([.max, 1])]),
            ("MaxPool", ["kernel_shape": .ints([1 << 40, 2])]),
            ("AveragePool", ["kernel_shape": ints([2, 2]), "pads": .ints([.min, 0, 0, 0])]),
            ("Flatten", ["axis": .int(.min)]),
            ("Softmax", ["axis": .int(.max)]),
            ("Transpose", ["perm": ints([0, 0, 1, 2])]),
            ("Gather", ["axis": .int(1 << 40)]),
        ]
        for (op, attributes) in cases {
            var n = ModelBuilder(opset: 13)
            n.input("x", [1, 4, 6, 6])
            var inputs = ["x"]
            if op == "Gather" {
                n.ints("i", [0])
                inputs.append("i")
            }
            n.node(op, inputs, ["y"], name: "hostile", attributes)
            n.output("y")
            guard let e = lowerError({ try n.lower() }) else { continue }
            switch e {
            case .invalidNode(let c, _), .shapeMismatch(let c, _): XCTAssertEqual(c.node, "hostile", "\(op): \(e)")
            default: XCTFail("\(op): \(e)")
            }
        }

        var e = ModelBuilder(opset: 13)
        e.input("x", [1, 1])
        e.ints("shape", [1 << 40, 1 << 40])
        e.node("Expand", ["x", "shape"], ["y"])
        e.output("y")
        XCTAssertNotNil(lowerError({ try e.lower() }))

        var r = ModelBuilder(opset: 13)
        r.input("x", [1, 1])
        r.weight("start", [], [0])
        r.weight("limit", [], [1e30])
        r.weight("delta", [], [1e-30])
        r.node("Range", ["start", "limit", "delta"], ["range"])
        r.node("Shape", ["range"], ["s"])
        r.node("Reshape", ["x", "s"], ["y"])
        r.output("y")
        XCTAssertNotNil(lowerError({ try r.lower() }))
    }

    /// Every int attribute and int constant of small shape-chain models replaced in turn by
    /// hostile values: lowering returns a valid graph or throws, and never traps.
    func testPerturbedModelsNeverCrash() throws {
        let models = [LoweringFoldingTests.shuffleModel(opset: 11), LoweringFoldingTests.shuffleModel(opset: 13),
                      LoweringSnapshotTests.stemModel()]
        var lowered = 0, rejected = 0
        for base in models {
            for (n, node) in base.nodes.enumerated() {
                for (key, attribute) in node.attributes {
                    for value in Self.hostile {
                        var m = base
                        switch attribute {
                        case .int: m.nodes[n].attributes[key] = .int(value)
                        case .ints(let list) where !list.isEmpty:
                            var l = list
                            l[Int(value.magnitude % UInt64(l.count))] = value
                            m.nodes[n].attributes[key] = .ints(l)
                        default: continue
                        }
                        check(m, &lowered, &rejected)
                    }
                }
            }
            for (i, initializer) in base.initializers.enumerated() where initializer.tensor.elementType == .int64 {
                for value in Self.hostile {
                    var m = base
                    var values = initializer.tensor.ints
                    guard !values.isEmpty else { continue }
                    values[Int(value.magnitude % UInt64(values.count))] = value
                    m.initializers[i].tensor = Tensor(shape: initializer.tensor.shape, ints: values)
                    check(m, &lowered, &rejected)
                }
            }
        }
        XCTAssertGreaterThan(rejected, 100)
        XCTAssertGreaterThan(lowered, 10)
    }

    func check(_ m: ModelBuilder, _ lowered: inout Int, _ rejected: inout Int) {
        do {
            let graph = try m.lower()
            try graph.validate()
            lowered += 1
        } catch is KiteError {
            rejected += 1
        } catch {
            XCTFail("not a KiteError: \(error)")
        }
    }
}
