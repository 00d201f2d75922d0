/// Float16 models (PyTorch's `model.half()` exported) computed in float32.
extension NativeGraph {
    /// The same graph with every float16 value computed as float32: float16 constants
    /// become float32 ones and Casts between the two become no-ops, so the fast float32
    /// executor and the optimisation passes take it. Nil unless the graph's inputs are all
    /// float16 and every value that is not float32 is float16: a float32 graph that casts
    /// to float16 on purpose, or one with integer values, is left as it is.
    ///
    /// Float32 arithmetic is at least as exact as float16's, so outputs differ from a
    /// float16 runtime's by that runtime's rounding, not by Kite's.
    public func computingFloat16InFloat32() -> NativeGraph? {
        guard !inputs.isEmpty, inputs.allSatisfy({ elementType(of: $0.name) == .float16 }),
              elementTypes.values.allSatisfy({ $0 == .float16 }) else { return nil }
        var promoted = nodes
        for i in promoted.indices {
            switch promoted[i].op {
            case .cast(let cast):
                guard cast.to == .float16 || cast.to == .float, promoted[i].outputs.count == 1,
                      let shape = shapes[promoted[i].outputs[0]] else { return nil }
                promoted[i].op = .reshape(Reshape(shape: shape))
            case .constant(let constant) where constant.value.elementType == .float16:
                promoted[i].op = .constant(Constant(Tensor(elementType: .float, shape: constant.value.shape, storage: constant.value.storage)))
            default:
                break
            }
        }
        return NativeGraph(inputs: inputs, outputs: outputs, nodes: promoted, shapes: shapes, elementTypes: [:])
    }
}
