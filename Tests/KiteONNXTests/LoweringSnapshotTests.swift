import Foundation
import KiteCore
@testable import KiteONNX
import XCTest

/// The text dump of a lowered graph, compared with a recorded snapshot so any
/// change in what lowering emits shows up in review. To re-record, run with
/// KITE_RECORD_SNAPSHOTS=1 and paste the printed dump.
final class LoweringSnapshotTests: XCTestCase {
    /// A MobileNet-like stem as an opset-11 TorchScript export writes it: Conv, BatchNorm,
    /// Clip with Constant-node bounds, a Shape-chain channel shuffle, pool, Flatten, Gemm, Softmax.
    static func stemModel() -> ModelBuilder {
        var m = ModelBuilder(opset: 11)
        m.input("input", ["batch", 3, 8, 8])
        m.weight("conv.weight", [4, 3, 3, 3], (0..<108).map { Float($0 % 7) / 7 - 0.4 })
        m.weight("conv.bias", [4], [0.1, -0.1, 0.2, 0])
        m.node("Conv", ["input", "conv.weight", "conv.bias"], ["c1"], name: "Conv_0",
               ["kernel_shape": ints([3, 3]), "pads": ints([1, 1, 1, 1]), "strides": ints([2, 2])])
        for (name, values) in [("bn.scale", [1, 2, 0.5, 1]), ("bn.B", [0, 0.1, 0.2, 0.3]),
                               ("bn.mean", [0, 0.5, -0.5, 1]), ("bn.var", [1, 4, 0.25, 1])] as [(String, [Float])] {
            m.weight(name, [4], values)
        }
        m.node("BatchNormalization", ["c1", "bn.scale", "bn.B", "bn.mean", "bn.var"], ["b1"], name: "BatchNormalization_1")
        m.node("Constant", [], ["zero"], name: "Constant_2", ["value": .tensor(Tensor(shape: [], floats: [0]))])
        m.node("Constant", [], ["six"], name: "Constant_3", ["value": .tensor(Tensor(shape: [], floats: [6]))])
        m.node("Clip", ["b1", "zero", "six"], ["r1"], name: "Clip_4")
        m.node("Shape", ["r1"], ["s"], name: "Shape_5")
        m.ints("i0", [0], shape: [])
        m.node("Gather", ["s", "i0"], ["n"], name: "Gather_6", ["axis": int(0)])
        m.node("Unsqueeze", ["n"], ["n1"], name: "Unsqueeze_7", ["axes": ints([0])])
        m.ints("rest", [2, 2, 4, 4])
        m.node("Concat", ["n1", "rest"], ["shape5"], name: "Concat_8", ["axis": int(0)])
        m.node("Reshape", ["r1", "shape5"], ["v5"], name: "Reshape_9")
        m.node("Transpose", ["v5"], ["t5"], name: "Transpose_10", ["perm": ints([0, 2, 1, 3, 4])])
        m.ints("back", [-1, 4, 4, 4])
        m.node("Reshape", ["t5", "back"], ["shuffled"], name: "Reshape_11")
        m.node("GlobalAveragePool", ["shuffled"], ["pooled"], name: "GlobalAveragePool_12")
        m.node("Flatten", ["pooled"], ["flat"], name: "Flatten_13")
        m.weight("fc.weight", [3, 4], (0..<12).map { Float($0) / 10 - 0.5 })
        m.weight("fc.bias", [3], [0, 0.5, -0.5])
        m.node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name: "Gemm_14", ["transB": int(1)])
        m.node("Softmax", ["logits"], ["output"], name: "Softmax_15", ["axis": int(1)])
        m.output("output", [.param("batch"), .value(3)])
        return m
    }

    static let expected = """
    input input [1,3,8,8]
    Conv_0 Conv (input) -> (c1 [1,4,4,4]) k=3x3 s=2,2 p=1,1,1,1 d=1,1 g=1 cout=4 bias <- Conv_0
    BatchNormalization_1 ScaleShift (c1) -> (b1 [1,4,4,4]) c=4 <- BatchNormalization_1
    Clip_4 Activation/ReLU6 (b1) -> (r1 [1,4,4,4]) <- Clip_4
    Reshape_9 Reshape (r1) -> (v5 [1,2,2,4,4]) shape=[1,2,2,4,4] <- Reshape_9
    Transpose_10 Transpose (v5) -> (t5 [1,2,2,4,4]) perm=[0,2,1,3,4] <- Transpose_10
    Reshape_11 Reshape (t5) -> (shuffled [1,4,4,4]) shape=[1,4,4,4] <- Reshape_11
    GlobalAveragePool_12 GlobalAveragePool (shuffled) -> (pooled [1,4,1,1]) <- GlobalAveragePool_12
    Flatten_13 Reshape (pooled) -> (flat [1,4]) shape=[1,4] <- Flatten_13
    Gemm_14 FullyConnected (flat) -> (logits [1,3]) n=3 k=4 bias <- Gemm_14
    Softmax_15 Softmax (logits) -> (output [1,3]) axis=1 <- Softmax_15
    output output [1,3]

    """

    func testStemDumpMatchesSnapshot() throws {
        let result = try Lowering.lowerWithNotes(Self.stemModel().model)
        let dump = result.graph.dump(origins: true)
        if ProcessInfo.processInfo.environment["KITE_RECORD_SNAPSHOTS"] != nil { print(dump) }
        XCTAssertEqual(dump, Self.expected, "lowered dump changed; actual:\n\(dump)")
        XCTAssertEqual(result.notes, ["input 'input': dim 'batch' set to 1"])
        try result.graph.validate()
    }
}
