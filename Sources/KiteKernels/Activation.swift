// Activations fused into kernel epilogues, plus a fast vectorised exp.

/// An activation applied element-wise, usually fused into a kernel's epilogue.
public enum KernelActivation: Equatable, Sendable {
    /// Identity.
    case none
    /// `max(x, 0)`.
    case relu
    /// `min(max(x, min), max)`; ReLU6 is `clip(min: 0, max: 6)`.
    case clip(min: Float, max: Float)
    /// `x >= 0 ? x : alpha * x`.
    case leakyRelu(alpha: Float)
    /// `1 / (1 + exp(-x))`, with a polynomial exp accurate to about 2e-7 relative.
    case sigmoid
    /// `max(0, min(1, alpha * x + beta))` (ONNX HardSigmoid; defaults are alpha 0.2, beta 0.5).
    case hardSigmoid(alpha: Float, beta: Float)
    /// `x * max(0, min(1, x / 6 + 0.5))` (ONNX HardSwish).
    case hardSwish

    /// ReLU6, `clip(min: 0, max: 6)`.
    public static let relu6 = KernelActivation.clip(min: 0, max: 6)

    /// Applies the activation to one value.
    @inlinable
    public func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return ReLUActivation()(x)
        case let .clip(lo, hi): return ClipActivation(lo: lo, hi: hi)(x)
        case let .leakyRelu(alpha): return LeakyReLUActivation(alpha: alpha)(x)
        case .sigmoid: return SigmoidActivation()(x)
        case let .hardSigmoid(alpha, beta): return HardSigmoidActivation(alpha: alpha, beta: beta)(x)
        case .hardSwish: return HardSwishActivation()(x)
        }
    }

    /// Applies the activation to 8 lanes.
    @inlinable
    public func apply(_ v: SIMD8<Float>) -> SIMD8<Float> {
        switch self {
        case .none: return v
        case .relu: return ReLUActivation()(v)
        case let .clip(lo, hi): return ClipActivation(lo: lo, hi: hi)(v)
        case let .leakyRelu(alpha): return LeakyReLUActivation(alpha: alpha)(v)
        case .sigmoid: return SigmoidActivation()(v)
        case let .hardSigmoid(alpha, beta): return HardSigmoidActivation(alpha: alpha, beta: beta)(v)
        case .hardSwish: return HardSwishActivation()(v)
        }
    }

    /// Applies the activation to 16 lanes.
    @inlinable
    public func apply(_ v: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(lowHalf: apply(v.lowHalf), highHalf: apply(v.highHalf))
    }

    /// Applies the activation in place to `count` contiguous floats (vectorised; the switch is hoisted).
    public func apply(to p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .none: return
        case .relu: applyActivation(ReLUActivation(), p, count)
        case let .clip(lo, hi): applyActivation(ClipActivation(lo: lo, hi: hi), p, count)
        case let .leakyRelu(alpha): applyActivation(LeakyReLUActivation(alpha: alpha), p, count)
        case .sigmoid: applyActivation(SigmoidActivation(), p, count)
        case let .hardSigmoid(alpha, beta): applyActivation(HardSigmoidActivation(alpha: alpha, beta: beta), p, count)
        case .hardSwish: applyActivation(HardSwishActivation(), p, count)
        }
    }

    /// True for `.none`.
    @inlinable
    public var isIdentity: Bool { self == .none }
}

/// Runs `body` with the activation as a concrete `VectorActivation` type, so that generic
/// kernels are specialised per activation and the switch happens once per call.
@usableFromInline
protocol ActivationVisitor {
    func visit<A: VectorActivation>(_ activation: A)
}

extension KernelActivation {
    @inline(__always) @usableFromInline
    func visit<V: ActivationVisitor>(_ visitor: V) {
        switch self {
        case .none: visitor.visit(IdentityActivation())
        case .relu: visitor.visit(ReLUActivation())
        case let .clip(lo, hi): visitor.visit(ClipActivation(lo: lo, hi: hi))
        case let .leakyRelu(alpha): visitor.visit(LeakyReLUActivation(alpha: alpha))
        case .sigmoid: visitor.visit(SigmoidActivation())
        case let .hardSigmoid(alpha, beta): visitor.visit(HardSigmoidActivation(alpha: alpha, beta: beta))
        case .hardSwish: visitor.visit(HardSwishActivation())
        }
    }
}

/// A concrete activation usable as a generic parameter of a kernel (specialised, inlined).
@usableFromInline
protocol VectorActivation {
    /// True when the activation is the identity (lets kernels skip work).
    static var isIdentity: Bool { get }
    func callAsFunction(_ x: Float) -> Float
    func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float>
    /// 16 lanes. The default applies the 8-lane form to each half, which the compiler does not
    /// fuse back into one 16-lane operation (a ReLU6 epilogue then cost about 11 cycles a
    /// vector); the cheap activations implement it with 16-lane operations.
    func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float>
}

extension VectorActivation {
    @usableFromInline static var isIdentity: Bool { false }

    @inline(__always) @usableFromInline
    func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(lowHalf: self(v.lowHalf), highHalf: self(v.highHalf))
    }
}

@usableFromInline
struct IdentityActivation: VectorActivation {
    @usableFromInline init() {}
    @usableFromInline static var isIdentity: Bool { true }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> { v }
}

@usableFromInline
struct ReLUActivation: VectorActivation {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        vmax(v, SIMD8())
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        vmax(v, SIMD16())
    }
}

@usableFromInline
struct ClipActivation: VectorActivation {
    @usableFromInline let lo: Float
    @usableFromInline let hi: Float
    @usableFromInline init(lo: Float, hi: Float) { self.lo = lo; self.hi = hi }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float {
        let y = x > lo ? x : lo
        return y < hi ? y : hi
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        vmin(vmax(v, SIMD8(repeating: lo)), SIMD8(repeating: hi))
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        vmin(vmax(v, SIMD16(repeating: lo)), SIMD16(repeating: hi))
    }
}

@usableFromInline
struct LeakyReLUActivation: VectorActivation {
    @usableFromInline let alpha: Float
    @usableFromInline init(alpha: Float) { self.alpha = alpha }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x >= 0 ? x : alpha * x }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        v.replacing(with: v * alpha, where: v .< 0)
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        v.replacing(with: v * alpha, where: v .< 0)
    }
}

@usableFromInline
struct SigmoidActivation: VectorActivation {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float {
        1 / (1 + fastExp(-x))
    }
    @inline(__always) @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        1 / (1 + fastExp(-v))
    }
}

@usableFromInline
struct HardSigmoidActivation: VectorActivation {
    @usableFromInline let alpha: Float
    @usableFromInline let beta: Float
    @usableFromInline init(alpha: Float, beta: Float) { self.alpha = alpha; self.beta = beta }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float {
        let y = alpha * x + beta
        return y < 0 ? 0 : (y > 1 ? 1 : y)
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let y = v * alpha + beta
        return vmax(vmin(y, SIMD8(repeating: 1)), SIMD8())
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        let y = v * alpha + beta
        return vmax(vmin(y, SIMD16(repeating: 1)), SIMD16())
    }
}

@usableFromInline
struct HardSwishActivation: VectorActivation {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float {
        let y = x * (1 / 6 as Float) + 0.5
        return x * (y < 0 ? 0 : (y > 1 ? 1 : y))
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let y = v * (1 / 6 as Float) + 0.5
        return v * vmax(vmin(y, SIMD8(repeating: 1)), SIMD8())
    }
    @_transparent @usableFromInline func callAsFunction(_ v: SIMD16<Float>) -> SIMD16<Float> {
        let y = v * (1 / 6 as Float) + 0.5
        return v * vmax(vmin(y, SIMD16(repeating: 1)), SIMD16())
    }
}

@inline(never)
func applyActivation<A: VectorActivation>(_ act: A, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 16 <= count {
        store8(act(load8(p + i)), p + i)
        store8(act(load8(p + i + 8)), p + i + 8)
        i += 16
    }
    if i + 8 <= count {
        store8(act(load8(p + i)), p + i)
        i += 8
    }
    while i < count {
        p[i] = act(p[i])
        i += 1
    }
}

// MARK: - exp

/// `exp(x)` for 8 lanes: range reduction `x = n ln2 + r`, |r| <= ln2/2, then a degree-6
/// polynomial (Cephes expf coefficients). Relative error about 2e-7 for x in [-87, 88];
/// inputs are clamped to that range (so `exp(-100)` returns about 1.6e-38 rather than 3.7e-44).
@inlinable
public func fastExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xc = vmax(vmin(x, SIMD8(repeating: 88.0)), SIMD8(repeating: -87.0))
    // Round x * log2(e) to nearest with the 1.5 * 2^23 trick; the low bits of t hold n.
    let magic: Float = 12_582_912
    let t = SIMD8(repeating: magic).addingProduct(xc, SIMD8(repeating: 1.442_695_04))
    let n = t - magic
    var r = xc.addingProduct(n, SIMD8(repeating: -0.693_359_375))
    r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
    var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
    p = SIMD8(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
    p = SIMD8(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
    p = SIMD8(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
    p = SIMD8(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
    p = SIMD8(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
    let r2 = r * r
    let e = (r + 1).addingProduct(p, r2)
    let bits = unsafeBitCast(t, to: SIMD8<UInt32>.self)
    let scale = unsafeBitCast((bits &+ 127) &<< 23, to: SIMD8<Float>.self)
    return e * scale
}

/// `exp(x)` for one value with the same algorithm (and accuracy) as the vector version.
@inlinable
public func fastExp(_ x: Float) -> Float {
    fastExp(SIMD8(repeating: x))[0]
}
