// 3x3 stride-1 group convolution with four groups side by side in the vector lanes, for groups
// with few output channels (CondenseNet's 3x3 layers: 4 groups of 8 inputs and 2 outputs, or of
// 16 inputs and 4 outputs).
//
// Vectorised over output channels, such a layer has 2 or 4 outputs per group, so a broadcast
// input value feeds only a quarter of the lanes; vectorised over pixels, NHWC needs a transpose.
// Here each 8-lane vector holds two output channels of each of the four groups (lane l: group
// l % 4, output 2k + l / 4 of vector k), and the input is regathered once per pixel so that the
// four groups' i-th channels sit next to each other, twice (`[x(g0, i), .., x(g3, i)]` in both
// halves of a vector). One load of those eight then feeds every lane of an FMA, so the multiplies
// are exactly the grouped ones, all lanes busy.

/// Weights for `LaneGroupConv`: for tap t, group input i and lane vector k, a vector whose lane l
/// holds the weight from input i of group `l % 4` to its output `2k + l / 4`; then the bias in the
/// same lane order. Group g's input i is input channel `sourceChannels[i * 4 + g]`: each group's
/// channels (read through a folded channel permutation when there is one) in ascending order, so
/// that the common layouts regather from fixed offsets instead of through the table (`gatherRun`).
public struct PackedLaneGroupWeights: @unchecked Sendable {
    /// Input channels per group.
    public let inputsPerGroup: Int
    /// Output channels per group (2 or 4).
    public let outputsPerGroup: Int
    /// When nonzero, `sourceChannels[4i + g] = 4 R (i / R) + R g + i % R` with R this run length:
    /// the input is blocks of 4R channels, R consecutive ones of each group in turn (R = inputs
    /// per group for a plain group conv; 2 or 4 behind CondenseNet's shuffle). Zero: any order.
    let gatherRun: Int
    let storage: AlignedFloatStorage
    let sources: IndexTable

    var taps: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    var bias: UnsafePointer<Float> { UnsafePointer(storage.pointer + 9 * inputsPerGroup * outputsPerGroup * 4) }
    var sourceChannels: UnsafePointer<Int> { UnsafePointer(sources.pointer) }

    /// Packs ONNX group-conv weights `[4 * co][ci][3][3]` (and an optional bias of `4 * co`);
    /// `channelMap[j]`, when given, is where input channel j is read from.
    public init(weights: UnsafePointer<Float>, inputsPerGroup ci: Int, outputsPerGroup co: Int, bias: UnsafePointer<Float>?,
                channelMap: [Int]? = nil) {
        precondition(LaneGroupConv.supports(inputsPerGroup: ci, outputsPerGroup: co), "unsupported lane-group shape")
        inputsPerGroup = ci
        outputsPerGroup = co
        let vectors = co / 2
        // order[g][i]: the group input read as lane input i, by ascending source channel.
        let order = (0..<4).map { g in
            (0..<ci).sorted { (channelMap?[g * ci + $0] ?? g * ci + $0) < (channelMap?[g * ci + $1] ?? g * ci + $1) }
        }
        storage = AlignedFloatStorage(count: (9 * ci + 1) * vectors * 8)
        let dst = storage.pointer
        for t in 0..<9 {
            for i in 0..<ci {
                for k in 0..<vectors {
                    for l in 0..<8 {
                        let output = (l % 4) * co + 2 * k + l / 4
                        dst[((t * ci + i) * vectors + k) * 8 + l] = weights[(output * ci + order[l % 4][i]) * 9 + t]
                    }
                }
            }
        }
        for k in 0..<vectors {
            for l in 0..<8 { dst[(9 * ci * vectors + k) * 8 + l] = bias?[(l % 4) * co + 2 * k + l / 4] ?? 0 }
        }
        let s = (0..<(4 * ci)).map { q in
            let j = (q % 4) * ci + order[q % 4][q / 4]
            return channelMap?[j] ?? j
        }
        sources = IndexTable(s)
        gatherRun = [2, 4, ci].first { r in
            ci % r == 0 && (0..<ci).allSatisfy { i in (0..<4).allSatisfy { g in s[4 * i + g] == 4 * r * (i / r) + r * g + i % r } }
        } ?? 0
    }
}

public enum LaneGroupConv {
    /// Whether the kernel takes a convolution: 4 groups, 3x3, stride 1, padding 1, no dilation,
    /// 4, 8 or 16 inputs and 2 or 4 outputs per group.
    public static func isEligible(geometry g: ConvGeometry, inputChannels: Int, outputChannels: Int, groups: Int) -> Bool {
        groups == 4 && inputChannels % 4 == 0 && outputChannels % 4 == 0
            && supports(inputsPerGroup: inputChannels / 4, outputsPerGroup: outputChannels / 4)
            && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1
            && g.padTop == 1 && g.padLeft == 1 && g.padBottom == 1 && g.padRight == 1
            && g.outputHeight == g.inputHeight && g.outputWidth == g.inputWidth && g.inputWidth > 0
    }

    static func supports(inputsPerGroup ci: Int, outputsPerGroup co: Int) -> Bool {
        (ci == 4 || ci == 8 || ci == 16) && (co == 2 || co == 4)
    }

    /// Floats of scratch one call needs: three regathered input rows and eight pixels' sums.
    public static func scratchSize(geometry g: ConvGeometry, weights: PackedLaneGroupWeights) -> Int {
        3 * (g.inputWidth + 2) * 8 * weights.inputsPerGroup + 64
    }

    /// Computes output rows `outputRows` of `output = act(conv(input))`, NHWC, with
    /// `scratchSize` floats of `scratch`.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int, geometry: ConvGeometry, weights: PackedLaneGroupWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int, activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
    ) {
        let rows = outputRows ?? 0..<geometry.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= geometry.outputHeight, "rows out of range")
        if rows.isEmpty { return }
        activation.visit(LaneGroupArguments(input: input, ips: inputPixelStride, g: geometry, w: weights, output: output,
                                            ops: outputPixelStride, rows: rows, scratch: scratch))
    }
}

struct LaneGroupArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let g: ConvGeometry
    let w: PackedLaneGroupWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let rows: Range<Int>
    let scratch: UnsafeMutablePointer<Float>

    func visit<A: VectorActivation>(_ act: A) {
        switch (w.inputsPerGroup, w.outputsPerGroup) {
        case (4, 2): laneGroupDriver(self, act, Count4.self, Count1.self)
        case (8, 2): laneGroupDriver(self, act, Count8.self, Count1.self)
        case (16, 2): laneGroupDriver(self, act, Count16.self, Count1.self)
        case (4, _): laneGroupDriver(self, act, Count4.self, Count2.self)
        case (8, _): laneGroupDriver(self, act, Count8.self, Count2.self)
        default: laneGroupDriver(self, act, Count16.self, Count2.self)
        }
    }
}

/// Regathers input row `iy` (zeros outside the map) into `row`: pixel x at `row + (x + 1) * 8 CI`,
/// its input i at `+ 8 i` as the four groups' values twice over, and a zero pixel at each end.
/// Duplicated here once per pixel rather than by a 128-bit broadcast per tap: on a Zen 1 the
/// broadcasts competed with the FMAs for their pipes.
@inline(__always)
func laneGroupGatherRow<CI: StaticCount>(_ d: LaneGroupArguments, _: CI.Type, iy: Int, into row: UnsafeMutablePointer<Float>) {
    let width = d.g.inputWidth
    let pixel = 8 * CI.value
    if iy < 0 || iy >= d.g.inputHeight {
        row.update(repeating: 0, count: (width + 2) * pixel)
        return
    }
    row.update(repeating: 0, count: pixel)
    (row + (width + 1) * pixel).update(repeating: 0, count: pixel)
    var src = d.input + iy * width * d.ips
    var dst = row + pixel
    switch d.w.gatherRun {
    case 2: laneGroupGatherRuns(CI.self, Count2.self, src: src, ips: d.ips, to: dst, width: width)
    case 4: laneGroupGatherRuns(CI.self, Count4.self, src: src, ips: d.ips, to: dst, width: width)
    case 8: laneGroupGatherRuns(CI.self, Count8.self, src: src, ips: d.ips, to: dst, width: width)
    case 16: laneGroupGatherRuns(CI.self, Count16.self, src: src, ips: d.ips, to: dst, width: width)
    default:
        let s = d.w.sourceChannels
        for _ in 0..<width {
            for i in 0..<CI.value {
                let quad = SIMD4(src[s[4 * i]], src[s[4 * i + 1]], src[s[4 * i + 2]], src[s[4 * i + 3]])
                store8(SIMD8(lowHalf: quad, highHalf: quad), dst + 8 * i)
            }
            src += d.ips
            dst += pixel
        }
    }
}

/// The regather when each block of 4R input channels holds R consecutive channels of each group
/// in turn (`PackedLaneGroupWeights.gatherRun`): constant offsets, no table.
@inline(__always)
func laneGroupGatherRuns<CI: StaticCount, R: StaticCount>(
    _: CI.Type, _: R.Type, src source: UnsafePointer<Float>, ips: Int, to destination: UnsafeMutablePointer<Float>, width: Int
) {
    let r = R.value
    var src = source
    var dst = destination
    for _ in 0..<width {
        for i in 0..<CI.value {
            let p = src + 4 * r * (i / r) + i % r
            let quad = SIMD4(p[0], p[r], p[2 * r], p[3 * r])
            store8(SIMD8(lowHalf: quad, highHalf: quad), dst + 8 * i)
        }
        src += ips
        dst += 8 * CI.value
    }
}

@inline(never)
func laneGroupDriver<A: VectorActivation, CI: StaticCount, K: StaticCount>(
    _ d: LaneGroupArguments, _ act: A, _: CI.Type, _: K.Type
) {
    let width = d.g.inputWidth
    let rowFloats = (width + 2) * 8 * CI.value
    // A ring of three regathered rows: input row iy lives in slot iy mod 3 (`held`: which row each holds).
    var held = (Int.min, Int.min, Int.min)
    for oy in d.rows {
        var rowPointers = (UnsafePointer<Float>(d.scratch), UnsafePointer<Float>(d.scratch), UnsafePointer<Float>(d.scratch))
        for ky in 0..<3 {
            let iy = oy - 1 + ky
            let slot = ((iy % 3) + 3) % 3
            let row = d.scratch + slot * rowFloats
            let current = slot == 0 ? held.0 : slot == 1 ? held.1 : held.2
            if current != iy {
                laneGroupGatherRow(d, CI.self, iy: iy, into: row)
                switch slot {
                case 0: held.0 = iy
                case 1: held.1 = iy
                default: held.2 = iy
                }
            }
            switch ky {
            case 0: rowPointers.0 = UnsafePointer(row)
            case 1: rowPointers.1 = UnsafePointer(row)
            default: rowPointers.2 = UnsafePointer(row)
            }
        }
        let out = d.output + oy * width * d.ops
        // Eight accumulators: eight pixels of one lane vector, or four of two.
        let step = K.value == 1 ? 8 : 4
        var ox = 0
        while ox + step <= width {
            laneGroupBlock(d, act, CI.self, K.self, rowPointers, ox: ox, out: out)
            ox += step
        }
        while ox < width {
            laneGroupPixel(d, act, CI.self, K.self, rowPointers, ox: ox, out: out)
            ox += 1
        }
    }
}

/// Applies the activation to `count` pixels' accumulators, read from `stage` (one vector per
/// pixel, or two), and stores them in channel order: lane l of vector k holds channel
/// `4 (l % 4) + 2k + l / 4` with two vectors, `2 (l % 4) + l / 4` with one. The accumulators pass
/// through memory into a function that is not inlined, on purpose: inlined, LLVM moved the
/// constant lane shuffles up into the FMA chains (2.5-3 instead of 16-26 GFLOP/s) or turned the
/// activation into a branch per lane; passed as arguments, it split the accumulators in halves.
@inline(never)
func laneGroupEmit<A: VectorActivation>(_ act: A, _ stage: UnsafePointer<Float>, vectors: Int, count: Int,
                                        out: UnsafeMutablePointer<Float>, ops: Int) {
    var o = out
    var a = stage
    for _ in 0..<count {
        if vectors == 1 {
            let v = act(load8(a))
            store8(SIMD8(v[0], v[4], v[1], v[5], v[2], v[6], v[3], v[7]), o)
        } else {
            let v0 = act(load8(a)), v1 = act(load8(a + 8))
            store8(SIMD8(v0[0], v0[4], v1[0], v1[4], v0[1], v0[5], v1[1], v1[5]), o)
            store8(SIMD8(v0[2], v0[6], v1[2], v1[6], v0[3], v0[7], v1[3], v1[7]), o + 8)
        }
        a += 8 * vectors
        o += ops
    }
}

/// Eight output pixels from `ox` (one lane vector each) or four (two each), 9 taps x CI inputs.
@inline(__always)
func laneGroupBlock<A: VectorActivation, CI: StaticCount, K: StaticCount>(
    _ d: LaneGroupArguments, _ act: A, _: CI.Type, _: K.Type,
    _ rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>), ox: Int, out: UnsafeMutablePointer<Float>
) {
    let ci = CI.value, kv = K.value, pixel = 8 * ci
    let b0 = load8(d.w.bias), b1 = kv == 2 ? load8(d.w.bias + 8) : b0
    var a0 = b0, a1 = b1, a2 = b0, a3 = b1, a4 = b0, a5 = b1, a6 = b0, a7 = b1
    for ky in 0..<3 {
        let row = (ky == 0 ? rows.0 : ky == 1 ? rows.1 : rows.2) + ox * pixel
        for kx in 0..<3 {
            let base = row + kx * pixel
            let wt = d.w.taps + (ky * 3 + kx) * ci * kv * 8
            for i in 0..<ci {
                let x = base + i * 8
                let w0 = load8(wt + i * kv * 8)
                if kv == 1 {
                    a0 = a0.addingProduct(load8(x), w0)
                    a1 = a1.addingProduct(load8(x + pixel), w0)
                    a2 = a2.addingProduct(load8(x + 2 * pixel), w0)
                    a3 = a3.addingProduct(load8(x + 3 * pixel), w0)
                    a4 = a4.addingProduct(load8(x + 4 * pixel), w0)
                    a5 = a5.addingProduct(load8(x + 5 * pixel), w0)
                    a6 = a6.addingProduct(load8(x + 6 * pixel), w0)
                    a7 = a7.addingProduct(load8(x + 7 * pixel), w0)
                } else {
                    let w1 = load8(wt + i * 16 + 8)
                    let x0 = load8(x), x1 = load8(x + pixel)
                    let x2 = load8(x + 2 * pixel), x3 = load8(x + 3 * pixel)
                    a0 = a0.addingProduct(x0, w0)
                    a1 = a1.addingProduct(x0, w1)
                    a2 = a2.addingProduct(x1, w0)
                    a3 = a3.addingProduct(x1, w1)
                    a4 = a4.addingProduct(x2, w0)
                    a5 = a5.addingProduct(x2, w1)
                    a6 = a6.addingProduct(x3, w0)
                    a7 = a7.addingProduct(x3, w1)
                }
            }
        }
    }
    let stage = d.scratch + 3 * (d.g.inputWidth + 2) * pixel
    store8(a0, stage)
    store8(a1, stage + 8)
    store8(a2, stage + 16)
    store8(a3, stage + 24)
    store8(a4, stage + 32)
    store8(a5, stage + 40)
    store8(a6, stage + 48)
    store8(a7, stage + 56)
    laneGroupEmit(act, stage, vectors: kv, count: kv == 1 ? 8 : 4, out: out + ox * d.ops, ops: d.ops)
}

/// One output pixel.
@inline(__always)
func laneGroupPixel<A: VectorActivation, CI: StaticCount, K: StaticCount>(
    _ d: LaneGroupArguments, _ act: A, _: CI.Type, _: K.Type,
    _ rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>), ox: Int, out: UnsafeMutablePointer<Float>
) {
    let ci = CI.value, kv = K.value, pixel = 8 * ci
    var a0 = load8(d.w.bias), a1 = kv == 2 ? load8(d.w.bias + 8) : SIMD8<Float>()
    for ky in 0..<3 {
        let row = (ky == 0 ? rows.0 : ky == 1 ? rows.1 : rows.2) + ox * pixel
        for kx in 0..<3 {
            let base = row + kx * pixel
            let wt = d.w.taps + (ky * 3 + kx) * ci * kv * 8
            for i in 0..<ci {
                let x = load8(base + i * 8)
                a0 = a0.addingProduct(x, load8(wt + i * kv * 8))
                if kv == 2 { a1 = a1.addingProduct(x, load8(wt + i * 16 + 8)) }
            }
        }
    }
    let stage = d.scratch + 3 * (d.g.inputWidth + 2) * pixel
    store8(a0, stage)
    store8(a1, stage + 8)
    laneGroupEmit(act, stage, vectors: kv, count: 1, out: out + ox * d.ops, ops: d.ops)
}
