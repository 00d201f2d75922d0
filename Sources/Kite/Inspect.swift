import KiteCore
import KiteONNX

/// Entry points of the Kite library.
public enum Kite {
    /// Summarises a model file (`.onnx` today; `.kite` once converted models exist).
    public static func inspect(path: String) throws -> ModelSummary {
        ModelSummary(onnx: try ONNXLoader.load(path: path))
    }
}
