import KiteCore
import XCTest

/// A float32 tensor from a shape and values.
func T(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, floats: values) }

/// 0, 1, 2, ... shaped as `shape`.
func iota(_ shape: [Int], from start: Float = 0) -> Tensor {
    T(shape, (0..<shape.reduce(1, *)).map { start + Float($0) })
}

/// A small deterministic generator (SplitMix64) for random shapes and values.
struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        T(shape, (0..<shape.reduce(1, *)).map { _ in float() })
    }
}

/// Asserts equal shapes and values within `tolerance` (absolute).
func assertClose(_ got: Tensor, _ want: Tensor, tolerance: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.shape, want.shape, "shape " + message, file: file, line: line)
    let a = got.floats, b = want.floats
    XCTAssertEqual(a.count, b.count, "count " + message, file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where !(abs(x - y) <= tolerance) {
        XCTFail("element \(i): got \(x), want \(y) \(message)", file: file, line: line)
        return
    }
}

/// Asserts the values (shape given) within `tolerance`.
func assertClose(_ got: Tensor, _ shape: [Int], _ values: [Float], tolerance: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    assertClose(got, T(shape, values), tolerance: tolerance, message, file: file, line: line)
}

/// Runs one op's reference on `inputs` and returns its single output.
func eval(_ op: Op, _ inputs: Tensor...) throws -> Tensor {
    let out = try op.nativeOperator.reference(inputs)
    guard out.count == 1 else { throw KiteError.invalidArgument("expected one output, got \(out.count)") }
    return out[0]
}

/// Asserts that `body` throws a `KiteError.shapeMismatch` or `.invalidNode` (never a crash).
func assertShapeError<R>(_ body: @autoclosure () throws -> R, _ message: String = "",
                         file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a shape error: \(message)", file: file, line: line)
    } catch let e as KiteError {
        switch e {
        case .shapeMismatch, .invalidNode, .invalidTensor: break
        default: XCTFail("unexpected error kind \(e) \(message)", file: file, line: line)
        }
        XCTAssertFalse(e.description.isEmpty, file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// A convolution with the given weight and parameters (defaults: stride 1, no pad, dilation 1, groups 1).
func conv(_ weight: Tensor, bias: [Float]? = nil, groups: Int = 1, strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
          dilations: [Int] = [1, 1], activation: Activation? = nil, residual: Bool = false) -> Convolution {
    Convolution(weight: weight, bias: bias, groups: groups, strides: strides, pads: pads, dilations: dilations,
                activation: activation, residual: residual)
}

/// Element-wise slice of channels [lo, hi) of an NCHW tensor (built without the ops under test).
func channels(_ t: Tensor, _ range: Range<Int>) -> Tensor {
    let (n, c) = (t.shape[0], t.shape[1])
    let inner = t.shape.dropFirst(2).reduce(1, *)
    var out: [Float] = []
    for b in 0..<n {
        for ch in range { out += t.floats[((b * c + ch) * inner)..<((b * c + ch + 1) * inner)] }
    }
    var shape = t.shape
    shape[1] = range.count
    return T(shape, out)
}
