import KiteCore
import KiteFormat
import XCTest

/// The reference-only ops and element types survive a `.kite` round trip.
final class TypedRoundTripTests: XCTestCase {
    func testNewOpsAndElementTypesRoundTrip() throws {
        var nodes: [NativeNode] = []
        var shapes: [String: [Int]] = ["x": [1, 2, 3], "c": [1, 2, 3], "m": [3, 2]]
        func add(_ op: Op, _ inputs: [String], _ outputs: [String]) throws {
            let out = try op.nativeOperator.inferShapes(inputs.map { shapes[$0] ?? [] })
            for (name, shape) in zip(outputs, out) { shapes[name] = shape }
            nodes.append(NativeNode(name: outputs[0], op: op, inputs: inputs, outputs: outputs, origin: ["n_" + outputs[0]]))
        }
        try add(.cast(Cast(to: .float8e5m2, saturate: false, rounding: .nearest)), ["x"], ["f8"])
        try add(.cast(Cast(to: .int32)), ["x"], ["xi"])
        try add(.elementwiseBinary(ElementwiseBinary(.lessOrEqual)), ["x", "x"], ["le"])
        try add(.whereSelect(Where()), ["c", "x", "x"], ["w"])
        try add(.unary(Unary(.erf)), ["w"], ["e"])
        try add(.reduce(Reduce(kind: .prod, axes: [2], keepDims: false)), ["e"], ["r"])
        try add(.matMul(MatMul()), ["x", "m"], ["mm"])
        try add(.dropout(Dropout(ratio: 0.25, training: true, seed: 7, withMask: true)), ["x"], ["d", "dm"])
        try add(.pad(Pad(pads: [0, 0, 1, 0, 0, 2], value: 0, mode: .wrap)), ["x"], ["p"])
        try add(.pool(Pooling(kind: .max, kernel: [2], strides: [1], pads: [0, 0], withIndices: true, columnMajorIndices: true)),
                ["x"], ["pool", "idx"])
        let types: [String: ElementType] = ["c": .bool, "f8": .float8e5m2, "xi": .int32, "le": .bool, "dm": .bool, "idx": .int64]
        let graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: [1, 2, 3]), ValueInfo(name: "c", shape: [1, 2, 3]),
                                         ValueInfo(name: "m", shape: [3, 2])],
                                outputs: ["f8", "xi", "le", "r", "mm", "d", "dm", "p", "pool", "idx"].map { ValueInfo(name: $0, shape: shapes[$0]!) },
                                nodes: nodes, shapes: shapes, elementTypes: types)
        let bytes = KiteFormat.encode(KiteModelFile(producer: "test", source: "test.onnx", graph: graph))
        let decoded = try KiteFormat.decode(bytes, file: "test.kite")
        XCTAssertEqual(decoded.graph, graph)
        XCTAssertEqual(decoded.graph.elementType(of: "idx"), .int64)
        XCTAssertEqual(decoded.graph.elementType(of: "mm"), .float)
    }
}
