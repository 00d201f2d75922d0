// Fully-connected layer (matrix-vector product per batch row), vectorised over K.

/// `y[m, n] = act(sum_k W[n, k] * x[m, k] + b[n])` for a few batch rows (usually one).
///
/// Memory-bound on W: each block of 4 weight rows (stored as one interleaved run, see
/// `PackedFCWeights`) is streamed once and applied to every batch row while it sits in L1; each
/// row keeps two 8-lane accumulators (8 in flight) and is reduced horizontally at the end. For many rows (M >= ~16) prefer `GEMM.run`.
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
                                   output: output, ops: outputStride, range: range,
                                   prefetchFloats: fcPrefetchFloats, farPrefetchFloats: fcFarPrefetchFloats))
    }
}

/// How far ahead (floats of the packed weights) the blocks ask for weight lines into L1, 0 for not
/// at all: `weightPrefetchFloats` (measured on a Zen 1, see `fcBlock`), none on a Zen 3 or later,
/// whose prefetchers alone did better. There, 1 thread, classifiers from memory (the host's L3
/// shared), medians of seven alternated profiles, 128 floats ahead against requests for the lines
/// being read (as good as none): IGCv2's 1024 x 1000 0.308 -> 0.256 ms, MNASNet's 1280 x 1000
/// 0.340 -> 0.305, MobileNetV1's 0.288 -> 0.230, ShuffleNetV1's 960 x 1000 0.265 -> 0.213
/// (512 floats and L2 requests 1024-2048 floats ahead: level or slower). `KITE_FC_PREFETCH_FLOATS`
/// sets it (A/B runs).
nonisolated(unsafe) var fcPrefetchFloats = Int(environmentValue("KITE_FC_PREFETCH_FLOATS") ?? "").map { max(0, $0) }
    ?? (CPUFeatures.zen3OrLater ? 0 : weightPrefetchFloats)

/// How far ahead the blocks also ask for weight lines into L2 (0: not at all), for weights
/// streamed from memory; `KITE_FC_PREFETCH_FAR` sets it (A/B runs).
nonisolated(unsafe) var fcFarPrefetchFloats = Int(environmentValue("KITE_FC_PREFETCH_FAR") ?? "").map { max(0, $0) } ?? 0

struct FCVisitor: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let rows: Int
    let w: PackedFCWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let range: Range<Int>
    let prefetchFloats: Int
    let farPrefetchFloats: Int

    func visit<A: VectorActivation>(_ act: A) { fcDriver(act, self) }
}

@inline(never)
func fcDriver<A: VectorActivation>(_ act: A, _ d: FCVisitor) {
    let k = d.w.inputCount
    let kpad = d.w.paddedInputCount
    let blocked = d.w.blockedRows
    let kFull = k / 16 * 16
    var n = d.range.lowerBound
    while n < d.range.upperBound {
        if n % 4 == 0 && n + 4 <= min(d.range.upperBound, blocked) {
            fcBlock(act, d, n: n, k: k, kFull: kFull, kpad: kpad)
            n += 4
        } else {
            // A row outside whole blocks of the range (a thread's range may start or end inside
            // a block; the last N % 4 rows are plain).
            let inBlock = n < blocked
            let base = d.w.rows + (inBlock ? (n / 4) * 4 * kpad + (n % 4) * 16 : n * kpad)
            fcRow(act, d, n: n, base: base, chunkStride: inBlock ? 64 : 16, k: k, kFull: kFull)
            n += 1
        }
    }
}

/// Rows n..<n+4 (one interleaved block): chunk j of row r at `block + 64 j + 16 r`.
@inline(__always)
func fcBlock<A: VectorActivation>(_ act: A, _ d: FCVisitor, n: Int, k: Int, kFull: Int, kpad: Int) {
    let block = d.w.rows + n * kpad
    for m in 0..<d.rows {
        let x = d.input + m * d.ips
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var p = block
        var i = 0
        while i < kFull {
            // Every line of the block, `fcPrefetchFloats` ahead. On a Zen 1, standalone, weights evicted
            // before each call: 1280 x 1000 0.42-0.43 -> 0.33-0.34 ms, 1024 x 1000 0.32-0.33 -> 0.24-0.26,
            // 576 x 1024 0.18-0.19 -> 0.14-0.16; one or two prefetches per four lines gained 0-5%.
            if d.prefetchFloats > 0 {
                let near = p + d.prefetchFloats
                prefetchForRead(near)
                prefetchForRead(near + 16)
                prefetchForRead(near + 32)
                prefetchForRead(near + 48)
            }
            if d.farPrefetchFloats > 0 {
                let far = p + d.farPrefetchFloats
                prefetchToLevel2(far)
                prefetchToLevel2(far + 16)
                prefetchToLevel2(far + 32)
                prefetchToLevel2(far + 48)
            }
            let x0 = load8(x + i), x1 = load8(x + i + 8)
            a0 = a0.addingProduct(x0, load8(p)); b0 = b0.addingProduct(x1, load8(p + 8))
            a1 = a1.addingProduct(x0, load8(p + 16)); b1 = b1.addingProduct(x1, load8(p + 24))
            a2 = a2.addingProduct(x0, load8(p + 32)); b2 = b2.addingProduct(x1, load8(p + 40))
            a3 = a3.addingProduct(x0, load8(p + 48)); b3 = b3.addingProduct(x1, load8(p + 56))
            i += 16
            p += 64
        }
        if i < k {
            let (x0, x1) = fcLastChunk(x + i, k - i)
            a0 = a0.addingProduct(x0, load8(p)); b0 = b0.addingProduct(x1, load8(p + 8))
            a1 = a1.addingProduct(x0, load8(p + 16)); b1 = b1.addingProduct(x1, load8(p + 24))
            a2 = a2.addingProduct(x0, load8(p + 32)); b2 = b2.addingProduct(x1, load8(p + 40))
            a3 = a3.addingProduct(x0, load8(p + 48)); b3 = b3.addingProduct(x1, load8(p + 56))
        }
        let o = d.output + m * d.ops + n
        o[0] = act((a0 + b0).sum() + d.w.bias[n])
        o[1] = act((a1 + b1).sum() + d.w.bias[n + 1])
        o[2] = act((a2 + b2).sum() + d.w.bias[n + 2])
        o[3] = act((a3 + b3).sum() + d.w.bias[n + 3])
    }
}

/// One row whose 16-float chunks are `chunkStride` floats apart.
@inline(__always)
func fcRow<A: VectorActivation>(_ act: A, _ d: FCVisitor, n: Int, base: UnsafePointer<Float>, chunkStride: Int, k: Int, kFull: Int) {
    for m in 0..<d.rows {
        let x = d.input + m * d.ips
        var a0 = SIMD8<Float>(), b0 = SIMD8<Float>()
        var p = base
        var i = 0
        while i < kFull {
            a0 = a0.addingProduct(load8(x + i), load8(p))
            b0 = b0.addingProduct(load8(x + i + 8), load8(p + 8))
            i += 16
            p += chunkStride
        }
        if i < k {
            let (x0, x1) = fcLastChunk(x + i, k - i)
            a0 = a0.addingProduct(x0, load8(p))
            b0 = b0.addingProduct(x1, load8(p + 8))
        }
        d.output[m * d.ops + n] = act((a0 + b0).sum() + d.w.bias[n])
    }
}

/// The input's last, partial 16-float chunk (`left` < 16 floats), read only up to K: the weights
/// past K are zero-padded, so the missing lanes are zeros.
@inline(__always)
func fcLastChunk(_ x: UnsafePointer<Float>, _ left: Int) -> (SIMD8<Float>, SIMD8<Float>) {
    (left >= 8 ? load8(x) : loadPartial8(x, left), left > 8 ? loadPartial8(x + 8, left - 8) : SIMD8<Float>())
}
