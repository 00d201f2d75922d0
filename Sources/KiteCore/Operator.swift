/// FLOPs and memory traffic of one op execution.
///
/// FLOPs count a multiply-add as two. Bytes are float32 activations read and
/// written plus weights read (MAC in the ShuffleNetV2 sense, in bytes).
public struct OpCost: Sendable, Equatable {
    public var flops: Int
    public var activationBytesRead: Int
    public var weightBytesRead: Int
    public var bytesWritten: Int

    public init(flops: Int, activationBytesRead: Int, weightBytesRead: Int, bytesWritten: Int) {
        self.flops = flops
        self.activationBytesRead = activationBytesRead
        self.weightBytesRead = weightBytesRead
        self.bytesWritten = bytesWritten
    }

    public var bytesRead: Int { activationBytesRead + weightBytesRead }
    public var totalBytes: Int { bytesRead + bytesWritten }
    public static let zero = OpCost(flops: 0, activationBytesRead: 0, weightBytesRead: 0, bytesWritten: 0)
}

/// What every native op answers about itself: its shape inference, its cost,
/// and a plain reference implementation (NCHW, float32) that fast kernels are
/// tested against.
public protocol NativeOperator: Sendable, Equatable {
    /// The op's native name as shown by `inspect` and `profile` ("Conv", "ChannelShuffle", ...).
    var typeName: String { get }
    /// Output shapes for the given input shapes; throws `KiteError.shapeMismatch` when they do not fit.
    func inferShapes(_ inputs: [[Int]]) throws -> [[Int]]
    /// FLOPs and bytes moved for these input and output shapes.
    func cost(inputs: [[Int]], outputs: [[Int]]) -> OpCost
    /// The plain reference implementation.
    func reference(_ inputs: [Tensor]) throws -> [Tensor]
    /// Element types of the `count` outputs for these input types (default: every output
    /// has the first input's type, float32 when there is none).
    func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType]
    /// Whether each item along axis 0 of the outputs comes from the same item of the inputs
    /// flagged `batched` (and from the other inputs whole), so that a batch may run item by item
    /// (`NativeGraph.runsPerBatchItem`, which also checks that every shape keeps axis 0 at 1).
    /// Default: true for one input; with more, each batched input has the outputs' rank, so that
    /// broadcasting lines its axis 0 up with theirs.
    func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool
}

extension NativeOperator {
    public func outputTypes(_ inputs: [ElementType], count: Int) -> [ElementType] {
        [ElementType](repeating: inputs.first ?? .float, count: count)
    }

    public func keepsBatchItemsApart(inputs: [[Int]], batched: [Bool], outputs: [[Int]]) -> Bool {
        inputs.count <= 1 || zip(inputs, batched).allSatisfy { shape, isBatched in
            !isBatched || outputs.allSatisfy { $0.count == shape.count }
        }
    }
}

/// Activations that stand alone or are fused into a producer's epilogue.
public enum Activation: Sendable, Equatable, CustomStringConvertible {
    case relu
    /// Clip to [min, max]; ReLU6 is clip(0, 6).
    case clip(min: Float, max: Float)
    case leakyRelu(alpha: Float)
    case sigmoid
    /// max(0, min(1, alpha * x + beta)).
    case hardSigmoid(alpha: Float, beta: Float)
    /// x * max(0, min(1, x / 6 + 1/2)).
    case hardSwish

    public var description: String {
        switch self {
        case .relu: return "ReLU"
        case .clip(let lo, let hi): return (lo == 0 && hi == 6) ? "ReLU6" : "Clip(\(lo),\(hi))"
        case .leakyRelu(let a): return "LeakyReLU(\(a))"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid(let a, let b): return "HardSigmoid(\(a),\(b))"
        case .hardSwish: return "HardSwish"
        }
    }

    /// Applies the activation to one value.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return x > 0 ? x : 0
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, lo), hi)
        case .leakyRelu(let a): return x >= 0 ? x : a * x
        case .sigmoid: return 1 / (1 + _expf(-x))
        case .hardSigmoid(let a, let b): return Swift.max(0, Swift.min(1, a * x + b))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        }
    }

    /// FLOPs per element (for cost accounting).
    public var flopsPerElement: Int {
        switch self {
        case .relu, .clip, .leakyRelu: return 1
        case .sigmoid: return 4
        case .hardSigmoid: return 3
        case .hardSwish: return 5
        }
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _expf(_ x: Float) -> Float { Glibc.expf(x) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline func _expf(_ x: Float) -> Float { Darwin.expf(x) }
#else
import Foundation
@usableFromInline func _expf(_ x: Float) -> Float { Float(Foundation.exp(Double(x))) }
#endif
