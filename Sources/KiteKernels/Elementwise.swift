// Element-wise kernels over NHWC tensors with pixel strides.

/// A binary element-wise operation.
public enum BinaryOperation: Equatable, Sendable {
    /// `a + b`
    case add
    /// `a - b`
    case subtract
    /// `a * b`
    case multiply
    /// `a / b`
    case divide
    /// `max(a, b)`
    case maximum
    /// `min(a, b)`
    case minimum
}

/// Element-wise kernels over `pixels` x `channels` NHWC tensors where every operand has its own
/// pixel stride (so operands and results may be channel slices of wider buffers).
///
/// All functions take a pixel range so threads can split the work; pixel p of an operand with
/// stride s starts at `base + p * s`. Outputs may alias an input exactly (same pointer and stride)
/// for in-place updates. When every stride equals `channels` the tensor is processed as one flat
/// vector.
public enum Elementwise {
    /// `output = act(a op b)`; `b` is a tensor, or a per-channel vector broadcast over pixels
    /// when `bPixelStride` is 0 (e.g. a bias, or the squeeze-excite scale for `.multiply`).
    public static func binary(
        _ op: BinaryOperation,
        a: UnsafePointer<Float>, aPixelStride: Int,
        b: UnsafePointer<Float>, bPixelStride: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        var a = a, b = b, output = output
        var channels = channels, pixels = pixels
        var aps = aPixelStride, bps = bPixelStride, ops = outputPixelStride
        if aps == channels && ops == channels && (bps == channels || (bps == 0 && pixels.count == 1)) {
            // Dense: one flat row.
            a += pixels.lowerBound * aps
            b += pixels.lowerBound * bps
            output += pixels.lowerBound * ops
            channels *= pixels.count
            pixels = 0..<1
            aps = 0; bps = 0; ops = 0
        }
        let args = BinaryArguments(a: a, aps: aps, b: b, bps: bps, out: output, ops: ops,
                                   channels: channels, pixels: pixels)
        switch op {
        case .add: activation.visit(BinaryVisitor(op: AddOp(), args: args))
        case .subtract: activation.visit(BinaryVisitor(op: SubtractOp(), args: args))
        case .multiply: activation.visit(BinaryVisitor(op: MultiplyOp(), args: args))
        case .divide: activation.visit(BinaryVisitor(op: DivideOp(), args: args))
        case .maximum: activation.visit(BinaryVisitor(op: MaximumOp(), args: args))
        case .minimum: activation.visit(BinaryVisitor(op: MinimumOp(), args: args))
        }
    }

    /// `output = act(a + b)` for two same-shape tensors (residual add).
    public static func add(
        a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        binary(.add, a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride,
               output: output, outputPixelStride: outputPixelStride, channels: channels, pixels: pixels,
               activation: activation)
    }

    /// `output = act(a * b)` for two same-shape tensors.
    public static func multiply(
        a: UnsafePointer<Float>, aPixelStride: Int, b: UnsafePointer<Float>, bPixelStride: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        binary(.multiply, a: a, aPixelStride: aPixelStride, b: b, bPixelStride: bPixelStride,
               output: output, outputPixelStride: outputPixelStride, channels: channels, pixels: pixels,
               activation: activation)
    }

    /// `output[p, c] = act(input[p, c] * scale[c])`: per-channel scale broadcast over pixels
    /// (the squeeze-excite multiply).
    public static func multiplyByChannel(
        input: UnsafePointer<Float>, inputPixelStride: Int, scale: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        binary(.multiply, a: input, aPixelStride: inputPixelStride, b: scale, bPixelStride: 0,
               output: output, outputPixelStride: outputPixelStride, channels: channels, pixels: pixels,
               activation: activation)
    }

    /// `output[p, c] = act(input[p, c] * scale[c] + shift[c])` (batch-norm style; either vector may be nil).
    public static func scaleShift(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        activation.visit(ScaleShiftVisitor(input: input, ips: inputPixelStride, scale: scale, shift: shift,
                                           out: output, ops: outputPixelStride, channels: channels, pixels: pixels))
    }

    /// `output[p][j] = act(input[p][source[j]] * scale[j] + shift[j])`: a per-channel scale and
    /// shift (BatchNorm) of channels read through an index table (a folded index select), in one
    /// pass; eight gathered elements form a vector. Output must not overlap the input.
    public static func gatherScaleShift(
        input: UnsafePointer<Float>, inputPixelStride: Int, source: UnsafePointer<Int>,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        activation.visit(GatherScaleShiftVisitor(input: input, ips: inputPixelStride, source: source, scale: scale, shift: shift,
                                                 out: output, ops: outputPixelStride, channels: channels, pixels: pixels))
    }

    /// `output = act(input op scalar)` (e.g. `.add` / `.multiply` by a constant).
    public static func scalar(
        _ op: BinaryOperation, input: UnsafePointer<Float>, inputPixelStride: Int, scalar: Float,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation = .none
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        let args = ScalarArguments(input: input, ips: inputPixelStride, scalar: scalar,
                                   out: output, ops: outputPixelStride, channels: channels, pixels: pixels)
        switch op {
        case .add: activation.visit(ScalarVisitor(op: AddOp(), args: args))
        case .subtract: activation.visit(ScalarVisitor(op: SubtractOp(), args: args))
        case .multiply: activation.visit(ScalarVisitor(op: MultiplyOp(), args: args))
        case .divide: activation.visit(ScalarVisitor(op: DivideOp(), args: args))
        case .maximum: activation.visit(ScalarVisitor(op: MaximumOp(), args: args))
        case .minimum: activation.visit(ScalarVisitor(op: MinimumOp(), args: args))
        }
    }

    /// `output = act(input)`; in place when `output == input` with the same stride.
    public static func activate(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>, activation: KernelActivation
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        if activation == .none && UnsafePointer(output) == input && inputPixelStride == outputPixelStride { return }
        activation.visit(ScaleShiftVisitor(input: input, ips: inputPixelStride, scale: nil, shift: nil,
                                           out: output, ops: outputPixelStride, channels: channels, pixels: pixels))
    }
}

// MARK: - Operations

protocol BinaryKernelOp {
    func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

struct AddOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}

struct SubtractOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
}

struct MultiplyOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}

struct DivideOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a / b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
}

struct MaximumOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { vmax(a, b) }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { Swift.max(a, b) }
}

struct MinimumOp: BinaryKernelOp {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { vmin(a, b) }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { Swift.min(a, b) }
}

// MARK: - Drivers

struct BinaryArguments {
    let a: UnsafePointer<Float>
    let aps: Int
    let b: UnsafePointer<Float>
    let bps: Int
    let out: UnsafeMutablePointer<Float>
    let ops: Int
    let channels: Int
    let pixels: Range<Int>
}

struct BinaryVisitor<Op: BinaryKernelOp>: ActivationVisitor {
    let op: Op
    let args: BinaryArguments
    func visit<A: VectorActivation>(_ act: A) { binaryDriver(op, act, args) }
}

@inline(never)
func binaryDriver<Op: BinaryKernelOp, A: VectorActivation>(_ op: Op, _ act: A, _ d: BinaryArguments) {
    let n = d.channels
    for p in d.pixels {
        let a = d.a + p * d.aps, b = d.b + p * d.bps, o = d.out + p * d.ops
        var i = 0
        while i + 16 <= n {
            let r0 = act(op(load8(a + i), load8(b + i)))
            let r1 = act(op(load8(a + i + 8), load8(b + i + 8)))
            store8(r0, o + i)
            store8(r1, o + i + 8)
            i += 16
        }
        if i + 8 <= n {
            store8(act(op(load8(a + i), load8(b + i))), o + i)
            i += 8
        }
        while i < n {
            o[i] = act(op(a[i], b[i]))
            i += 1
        }
    }
}

struct ScalarArguments {
    let input: UnsafePointer<Float>
    let ips: Int
    let scalar: Float
    let out: UnsafeMutablePointer<Float>
    let ops: Int
    let channels: Int
    let pixels: Range<Int>
}

struct ScalarVisitor<Op: BinaryKernelOp>: ActivationVisitor {
    let op: Op
    let args: ScalarArguments
    func visit<A: VectorActivation>(_ act: A) { scalarDriver(op, act, args) }
}

@inline(never)
func scalarDriver<Op: BinaryKernelOp, A: VectorActivation>(_ op: Op, _ act: A, _ d: ScalarArguments) {
    var n = d.channels
    var pixels = d.pixels
    var ips = d.ips, ops = d.ops
    var input = d.input, out = d.out
    if ips == n && ops == n {
        input += pixels.lowerBound * n
        out += pixels.lowerBound * n
        n *= pixels.count
        pixels = 0..<1
        ips = 0; ops = 0
    }
    let s = SIMD8<Float>(repeating: d.scalar)
    for p in pixels {
        let x = input + p * ips, o = out + p * ops
        var i = 0
        while i + 16 <= n {
            let r0 = act(op(load8(x + i), s))
            let r1 = act(op(load8(x + i + 8), s))
            store8(r0, o + i)
            store8(r1, o + i + 8)
            i += 16
        }
        if i + 8 <= n {
            store8(act(op(load8(x + i), s)), o + i)
            i += 8
        }
        while i < n {
            o[i] = act(op(x[i], d.scalar))
            i += 1
        }
    }
}

struct ScaleShiftVisitor: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let scale: UnsafePointer<Float>?
    let shift: UnsafePointer<Float>?
    let out: UnsafeMutablePointer<Float>
    let ops: Int
    let channels: Int
    let pixels: Range<Int>

    func visit<A: VectorActivation>(_ act: A) {
        switch (scale, shift) {
        case let (scale?, shift?): scaleShiftDriver(act, self, scale: scale, shift: shift)
        case let (scale?, nil): scaleShiftDriver(act, self, scale: scale, shift: nil)
        case let (nil, shift?): scaleShiftDriver(act, self, scale: nil, shift: shift)
        case (nil, nil): scaleShiftDriver(act, self, scale: nil, shift: nil)
        }
    }
}

@inline(never)
func scaleShiftDriver<A: VectorActivation>(_ act: A, _ d: ScaleShiftVisitor,
                                           scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?) {
    var n = d.channels
    var pixels = d.pixels
    var ips = d.ips, ops = d.ops
    var input = d.input, out = d.out
    if scale == nil && shift == nil && ips == n && ops == n {
        input += pixels.lowerBound * n
        out += pixels.lowerBound * n
        n *= pixels.count
        pixels = 0..<1
        ips = 0; ops = 0
    }
    @inline(__always) func vec(_ x: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        var v = load8(x + i)
        if let scale, let shift { return act(load8(shift + i).addingProduct(v, load8(scale + i))) }
        if let scale { v *= load8(scale + i) }
        if let shift { v += load8(shift + i) }
        return act(v)
    }
    for p in pixels {
        let x = input + p * ips, o = out + p * ops
        var i = 0
        while i + 16 <= n {
            let r0 = vec(x, i)
            let r1 = vec(x, i + 8)
            store8(r0, o + i)
            store8(r1, o + i + 8)
            i += 16
        }
        if i + 8 <= n {
            store8(vec(x, i), o + i)
            i += 8
        }
        while i < n {
            var v = x[i]
            if let scale, let shift { v = shift[i].addingProduct(v, scale[i]) } else {
                if let scale { v *= scale[i] }
                if let shift { v += shift[i] }
            }
            o[i] = act(v)
            i += 1
        }
    }
}

struct GatherScaleShiftVisitor: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let source: UnsafePointer<Int>
    let scale: UnsafePointer<Float>
    let shift: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let ops: Int
    let channels: Int
    let pixels: Range<Int>

    func visit<A: VectorActivation>(_ act: A) { gatherScaleShiftDriver(act, self) }
}

@inline(never)
func gatherScaleShiftDriver<A: VectorActivation>(_ act: A, _ d: GatherScaleShiftVisitor) {
    let n = d.channels, src = d.source, scale = d.scale, shift = d.shift
    for p in d.pixels {
        let x = d.input + p * d.ips, o = d.out + p * d.ops
        var j = 0
        while j + 8 <= n {
            let s = src + j
            let v = SIMD8<Float>(x[s[0]], x[s[1]], x[s[2]], x[s[3]], x[s[4]], x[s[5]], x[s[6]], x[s[7]])
            store8(act(load8(shift + j).addingProduct(v, load8(scale + j))), o + j)
            j += 8
        }
        while j < n {
            o[j] = act(shift[j].addingProduct(x[src[j]], scale[j]))
            j += 1
        }
    }
}
