import KiteCore
import KiteKernels

extension Planner {
    /// Plans a node on a fast kernel, or returns nil to use the reference path.
    mutating func planFast(index: Int, node: NativeNode, inputs: [Placement]) throws -> [Placement]? {
        nil
    }
}
