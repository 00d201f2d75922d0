// Fully-connected layer (matrix-vector product per batch row), vectorised over K.

/// `y[m, n] = act(sum_k W[n, k] * x[m, k] + b[n])` for a few batch rows (usually one).
///
/// Memory-bound on W: each block of 4 weight rows is streamed once and applied to every batch
/// row while it sits in L1; each row keeps two 8-lane accumulators (8 in flight) and is reduced
/// horizontally at the end. For many rows (M >= ~16) prefer `GEMM.run`.
public enum FullyConnected {
    /// Computes outputs `outputs` (a range of n; threads split N) for batch rows `0..<rows`.
    ///
    /// - Parameters:
    ///   - input: row m at `input + m * inputStride`, K floats (need not be padded).
    ///   - inputStride: floats between batch rows of the input.
    ///   - rows: batch rows M.
    ///   - weights: packed W and bias.
    ///   - output: row m at `output + m * outputStride`, N floats.
    ///   - outputStride: floats between batch rows of the output.
    ///   - activation: fused activation.
    ///   - outputs: the output range `[n0, n1)` to compute; defaults to all.
    public static func run(
        input: UnsafePointer<Float>, inputStride: Int, rows: Int = 1,
        weights: PackedFCWeights,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        activation: KernelActivation = .none,
        outputs: Range<Int>? = nil
    ) {
        let range = outputs ?? 0..<weights.outputCount
        precondition(range.lowerBound >= 0 && range.upperBound <= weights.outputCount, "outputs out of range")
        if range.isEmpty || rows <= 0 { return }
        activation.visit(FCVisitor(input: input, ips: inputStride, rows: rows, w: weights,
                                   output: output, ops: outputStride, range: range))
    }
}

struct FCVisitor: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let rows: Int
    let w: PackedFCWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let range: Range<Int>

    func visit<A: VectorActivation>(_ act: A) { fcDriver(act, self) }
}

@inline(never)
func fcDriver<A: VectorActivation>(_ act: A, _ d: FCVisitor) {
    let k = d.w.inputCount
    let kpad = d.w.paddedInputCount
    let kFull = k / 8 * 8
    let tail = k - kFull
    var n = d.range.lowerBound
    while n + 4 <= d.range.upperBound {
        let w0 = d.w.rows + n * kpad, w1 = w0 + kpad, w2 = w1 + kpad, w3 = w2 + kpad
        for m in 0..<d.rows {
            let x = d.input + m * d.ips
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var i = 0
            while i + 16 <= kFull {
                let x0 = load8(x + i), x1 = load8(x + i + 8)
                a0 = a0.addingProduct(x0, load8(w0 + i)); b0 = b0.addingProduct(x1, load8(w0 + i + 8))
                a1 = a1.addingProduct(x0, load8(w1 + i)); b1 = b1.addingProduct(x1, load8(w1 + i + 8))
                a2 = a2.addingProduct(x0, load8(w2 + i)); b2 = b2.addingProduct(x1, load8(w2 + i + 8))
                a3 = a3.addingProduct(x0, load8(w3 + i)); b3 = b3.addingProduct(x1, load8(w3 + i + 8))
                i += 16
            }
            if i < kFull {
                let x0 = load8(x + i)
                a0 = a0.addingProduct(x0, load8(w0 + i))
                a1 = a1.addingProduct(x0, load8(w1 + i))
                a2 = a2.addingProduct(x0, load8(w2 + i))
                a3 = a3.addingProduct(x0, load8(w3 + i))
                i += 8
            }
            if tail > 0 {
                let x0 = loadPartial8(x + i, tail)
                b0 = b0.addingProduct(x0, load8(w0 + i))
                b1 = b1.addingProduct(x0, load8(w1 + i))
                b2 = b2.addingProduct(x0, load8(w2 + i))
                b3 = b3.addingProduct(x0, load8(w3 + i))
            }
            let o = d.output + m * d.ops + n
            o[0] = act((a0 + b0).sum() + d.w.bias[n])
            o[1] = act((a1 + b1).sum() + d.w.bias[n + 1])
            o[2] = act((a2 + b2).sum() + d.w.bias[n + 2])
            o[3] = act((a3 + b3).sum() + d.w.bias[n + 3])
        }
        n += 4
    }
    while n < d.range.upperBound {
        let w0 = d.w.rows + n * kpad
        for m in 0..<d.rows {
            let x = d.input + m * d.ips
            var a0 = SIMD8<Float>(), b0 = SIMD8<Float>()
            var i = 0
            while i + 16 <= kFull {
                a0 = a0.addingProduct(load8(x + i), load8(w0 + i))
                b0 = b0.addingProduct(load8(x + i + 8), load8(w0 + i + 8))
                i += 16
            }
            if i < kFull {
                a0 = a0.addingProduct(load8(x + i), load8(w0 + i))
                i += 8
            }
            if tail > 0 { b0 = b0.addingProduct(loadPartial8(x + i, tail), load8(w0 + i)) }
            d.output[m * d.ops + n] = act((a0 + b0).sum() + d.w.bias[n])
        }
        n += 1
    }
}
