import KiteCore
@testable import KiteRuntime
import XCTest

/// Graphs the planner used to trap on (found by fuzzing): empty fully-connected weights and
/// activations larger than the machine's memory.
final class LimitTests: XCTestCase {
    func fcGraph(weight: Tensor, bias: [Float]?, input: [Int]) throws -> NativeGraph {
        let op = Op.fullyConnected(FullyConnected(weight: weight, bias: bias))
        let out = try op.nativeOperator.inferShapes([input])[0]
        return NativeGraph(inputs: [ValueInfo(name: "x", shape: input)], outputs: [ValueInfo(name: "y", shape: out)],
                           nodes: [NativeNode(name: "fc", op: op, inputs: ["x"], outputs: ["y"])],
                           shapes: ["x": input, "y": out])
    }

    /// K = 0: every output is its bias (what onnxruntime gives for an empty inner dimension).
    func testFullyConnectedWithNoInputsGivesTheBias() throws {
        let graph = try fcGraph(weight: Tensor(shape: [3, 0], floats: []), bias: [1, 2, 3], input: [2, 0])
        let y = try Executor(graph: graph, threads: 1).run(["x": Tensor(shape: [2, 0], floats: [])])["y"]
        XCTAssertEqual(y?.shape, [2, 3])
        XCTAssertEqual(y?.floats, [1, 2, 3, 1, 2, 3])
    }

    func testFullyConnectedWithNoOutputsGivesAnEmptyTensor() throws {
        let graph = try fcGraph(weight: Tensor(shape: [0, 4], floats: []), bias: nil, input: [2, 4])
        let y = try Executor(graph: graph, threads: 1).run(["x": Tensor(shape: [2, 4], floats: [Float](repeating: 1, count: 8))])["y"]
        XCTAssertEqual(y?.shape, [2, 0])
        XCTAssertEqual(y?.floats, [])
    }

    /// 2^40 floats in and out: 8 TiB of arena, more than any machine has; planning throws instead of aborting.
    func testArenaLargerThanPhysicalMemoryThrows() {
        let shape = [1 << 20, 1 << 20]
        let graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: shape)], outputs: [ValueInfo(name: "y", shape: shape)],
                                nodes: [NativeNode(name: "relu", op: .activation(ActivationOp(.relu)), inputs: ["x"], outputs: ["y"])],
                                shapes: ["x": shape, "y": shape])
        XCTAssertThrowsError(try Executor(graph: graph, threads: 1)) { error in
            guard case .tooLarge(_, let m)? = error as? KiteError else { return XCTFail("\(error)") }
            XCTAssertTrue(m.hasPrefix("the model needs 8796.1 GB of activation memory, more than this machine's "), m)
        }
    }
}
