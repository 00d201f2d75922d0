// Direct NHWC convolution for groups of 2, 4 or 8 channels (cin/group == cout/group), e.g.
// ResNeXt 32x4d and interleaved group convolutions, where im2col + a GEMM per group would run
// 4-column GEMMs.

/// Weights for the direct small-group kernel: `[KH * KW][c][Cpad]`, where entry
/// `(tap, r, co)` is the weight from input channel `group(co) * c + (co % c + r) % c` of the
/// same group, followed by the bias (Cpad floats). Rotation r of a loaded 8-channel input vector
/// (a constant in-register shuffle) then lines every input channel up with its output lanes.
struct RotatedGroupWeights: @unchecked Sendable {
    let channels: Int
    let groupSize: Int
    let paddedChannels: Int
    let taps: Int
    let storage: AlignedFloatStorage

    var weights: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    var bias: UnsafePointer<Float> { UnsafePointer(storage.pointer + taps * groupSize * paddedChannels) }

    /// Whether the direct kernel handles this convolution.
    static func isEligible(inputChannels: Int, outputChannels: Int, groups: Int) -> Bool {
        let c = inputChannels / groups
        return groups > 1 && inputChannels == outputChannels && (c == 2 || c == 4 || c == 8) && inputChannels >= 8
    }

    init(weights: UnsafePointer<Float>, channels: Int, groupSize c: Int, kernelHeight: Int, kernelWidth: Int,
         bias: UnsafePointer<Float>?) {
        self.channels = channels
        groupSize = c
        taps = kernelHeight * kernelWidth
        paddedChannels = (channels + 7) / 8 * 8
        storage = AlignedFloatStorage(count: (taps * c + 1) * paddedChannels)
        let dst = storage.pointer
        for co in 0..<channels {
            for r in 0..<c {
                let ci = (co % c + r) % c
                for t in 0..<taps {
                    dst[(t * c + r) * paddedChannels + co] = weights[(co * c + ci) * taps + t]
                }
            }
            if let bias { dst[taps * c * paddedChannels + co] = bias[co] }
        }
    }
}

/// Rotates each group of `c` lanes left by `r` (both constants after inlining and unrolling, so
/// this folds into one `vshufps` / `vpermps`).
@inline(__always)
func rotateGroups(_ x: SIMD8<Float>, _ c: Int, _ r: Int) -> SIMD8<Float> {
    var out = SIMD8<Float>()
    for l in 0..<8 { out[l] = x[(l / c) * c + (l % c + r) % c] }
    return out
}

struct GroupedConvArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let g: ConvGeometry
    let w: RotatedGroupWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let residual: UnsafePointer<Float>?
    let rps: Int
    let rows: Range<Int>

    func visit<A: VectorActivation>(_ act: A) {
        switch w.groupSize {
        case 2: groupedConvDriver(self, act, Count2.self)
        case 4: groupedConvDriver(self, act, Count4.self)
        default: groupedConvDriver(self, act, Count8.self)
        }
    }
}

@inline(never)
func groupedConvDriver<A: VectorActivation, C: StaticCount>(_ d: GroupedConvArguments, _ act: A, _: C.Type) {
    let g = d.g
    let channels = d.w.channels
    let cols = g.interiorColumns
    let interiorRows = g.interiorRows
    let tailStore = channels % 8 == 0 ? 8 : 8 - channels % 8
    for oy in d.rows {
        let interior = interiorRows.contains(oy)
        var ox = 0
        while ox < g.outputWidth {
            // Runs of interior pixels go through the unchecked span; others one by one.
            let spanEnd = interior && cols.contains(ox) ? min(cols.upperBound, ox + depthwiseChunk) : ox + 1
            let checked = !(interior && cols.contains(ox))
            var c = 0
            while c < channels {
                let cb = min(c, channels - 8)
                let storeFrom = c == cb ? 0 : tailStore
                if checked {
                    groupedConvSpan(d, act, C.self, cb: cb, storeFrom: storeFrom, oy: oy, x0: ox, x1: spanEnd, checked: true)
                } else {
                    groupedConvInterior(d, act, C.self, cb: cb, storeFrom: storeFrom, oy: oy, x0: ox, x1: spanEnd)
                }
                c += 8
            }
            ox = spanEnd
        }
    }
}

/// Output pixels `[x0, x1)` of row `oy`, 8 output channels starting at `cb`; lanes below
/// `storeFrom` are not stored (the overlapping last block). `checked` clips the window.
@inline(__always)
func groupedConvSpan<A: VectorActivation, C: StaticCount>(
    _ d: GroupedConvArguments, _ act: A, _: C.Type, cb: Int, storeFrom: Int, oy: Int, x0: Int, x1: Int, checked: Bool
) {
    let g = d.g
    let c = C.value
    let cpad = d.w.paddedChannels
    let bias = load8(d.w.bias + cb)
    let iy0 = oy * g.strideHeight - g.padTop
    let kys = checked ? validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
                      : 0..<g.kernelHeight
    for ox in x0..<x1 {
        let ix0 = ox * g.strideWidth - g.padLeft
        let kxs = checked ? validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
                          : 0..<g.kernelWidth
        var acc = bias
        var acc2 = SIMD8<Float>()
        for ky in kys {
            let iy = iy0 + ky * g.dilationHeight
            let row = d.input + iy * g.inputWidth * d.ips + cb
            for kx in kxs {
                let x = load8(row + (ix0 + kx * g.dilationWidth) * d.ips)
                let wt = d.w.weights + (ky * g.kernelWidth + kx) * c * cpad + cb
                // Rotations spelled out with literal amounts so each folds into one shuffle.
                acc = acc.addingProduct(x, load8(wt))
                if c == 2 {
                    acc2 = acc2.addingProduct(rotateGroups(x, 2, 1), load8(wt + cpad))
                } else if c == 4 {
                    acc2 = acc2.addingProduct(rotateGroups(x, 4, 1), load8(wt + cpad))
                    acc = acc.addingProduct(rotateGroups(x, 4, 2), load8(wt + 2 * cpad))
                    acc2 = acc2.addingProduct(rotateGroups(x, 4, 3), load8(wt + 3 * cpad))
                } else {
                    acc2 = acc2.addingProduct(rotateGroups(x, 8, 1), load8(wt + cpad))
                    acc = acc.addingProduct(rotateGroups(x, 8, 2), load8(wt + 2 * cpad))
                    acc2 = acc2.addingProduct(rotateGroups(x, 8, 3), load8(wt + 3 * cpad))
                    acc = acc.addingProduct(rotateGroups(x, 8, 4), load8(wt + 4 * cpad))
                    acc2 = acc2.addingProduct(rotateGroups(x, 8, 5), load8(wt + 5 * cpad))
                    acc = acc.addingProduct(rotateGroups(x, 8, 6), load8(wt + 6 * cpad))
                    acc2 = acc2.addingProduct(rotateGroups(x, 8, 7), load8(wt + 7 * cpad))
                }
            }
        }
        var v = acc + acc2
        let p = (oy * g.outputWidth + ox)
        if let res = d.residual { v += load8(res + p * d.rps + cb) }
        v = act(v)
        let out = d.output + p * d.ops + cb
        if storeFrom == 0 {
            store8(v, out)
        } else {
            for l in storeFrom..<8 { out[l] = v[l] }
        }
    }
}

/// One tap of the rotated-lane product for one pixel: `c` FMAs split over two accumulators.
@inline(__always)
func groupedTap<C: StaticCount>(_: C.Type, _ x: SIMD8<Float>, _ wt: UnsafePointer<Float>, _ cpad: Int,
                                _ acc: inout SIMD8<Float>, _ acc2: inout SIMD8<Float>) {
    let c = C.value
    acc = acc.addingProduct(x, load8(wt))
    if c == 2 {
        acc2 = acc2.addingProduct(rotateGroups(x, 2, 1), load8(wt + cpad))
    } else if c == 4 {
        acc2 = acc2.addingProduct(rotateGroups(x, 4, 1), load8(wt + cpad))
        acc = acc.addingProduct(rotateGroups(x, 4, 2), load8(wt + (2 &* cpad)))
        acc2 = acc2.addingProduct(rotateGroups(x, 4, 3), load8(wt + (3 &* cpad)))
    } else {
        acc2 = acc2.addingProduct(rotateGroups(x, 8, 1), load8(wt + cpad))
        acc = acc.addingProduct(rotateGroups(x, 8, 2), load8(wt + (2 &* cpad)))
        acc2 = acc2.addingProduct(rotateGroups(x, 8, 3), load8(wt + (3 &* cpad)))
        acc = acc.addingProduct(rotateGroups(x, 8, 4), load8(wt + (4 &* cpad)))
        acc2 = acc2.addingProduct(rotateGroups(x, 8, 5), load8(wt + (5 &* cpad)))
        acc = acc.addingProduct(rotateGroups(x, 8, 6), load8(wt + (6 &* cpad)))
        acc2 = acc2.addingProduct(rotateGroups(x, 8, 7), load8(wt + (7 &* cpad)))
    }
}

/// Stores one output vector (residual, activation; lanes below `storeFrom` skipped).
@inline(__always)
func groupedStore<A: VectorActivation>(_ d: GroupedConvArguments, _ act: A, _ v: SIMD8<Float>, pixel p: Int,
                                       cb: Int, storeFrom: Int) {
    var v = v
    if let res = d.residual { v += load8(res + (p &* d.rps &+ cb)) }
    v = act(v)
    let out = d.output + (p &* d.ops &+ cb)
    if storeFrom == 0 {
        store8(v, out)
    } else {
        for l in storeFrom..<8 { out[l] = v[l] }
    }
}

/// Interior pixels `[x0, x1)` (no clipping), 4 pixels per iteration with two accumulators each
/// so that eight FMA chains are in flight and each weight load feeds four pixels.
@inline(__always)
func groupedConvInterior<A: VectorActivation, C: StaticCount>(
    _ d: GroupedConvArguments, _ act: A, _: C.Type, cb: Int, storeFrom: Int, oy: Int, x0: Int, x1: Int
) {
    let g = d.g
    let c = C.value
    let cpad = d.w.paddedChannels
    let bias = load8(d.w.bias + cb)
    let kh = g.kernelHeight, kw = g.kernelWidth
    let dy = g.dilationHeight &* g.inputWidth &* d.ips
    let dx = g.dilationWidth &* d.ips
    let step = g.strideWidth &* d.ips
    let iy0 = oy &* g.strideHeight &- g.padTop
    var x = x0
    while x &+ 4 <= x1 {
        let ix = x &* g.strideWidth &- g.padLeft
        let p = d.input + ((iy0 &* g.inputWidth &+ ix) &* d.ips &+ cb)
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var wt = d.w.weights + cb
        for ky in 0..<kh {
            var q = p + (ky &* dy)
            for _ in 0..<kw {
                groupedTap(C.self, load8(q), wt, cpad, &a0, &b0)
                groupedTap(C.self, load8(q + step), wt, cpad, &a1, &b1)
                groupedTap(C.self, load8(q + (2 &* step)), wt, cpad, &a2, &b2)
                groupedTap(C.self, load8(q + (3 &* step)), wt, cpad, &a3, &b3)
                q += dx
                wt += (c &* cpad)
            }
        }
        let pix = oy &* g.outputWidth &+ x
        groupedStore(d, act, a0 + b0, pixel: pix, cb: cb, storeFrom: storeFrom)
        groupedStore(d, act, a1 + b1, pixel: pix &+ 1, cb: cb, storeFrom: storeFrom)
        groupedStore(d, act, a2 + b2, pixel: pix &+ 2, cb: cb, storeFrom: storeFrom)
        groupedStore(d, act, a3 + b3, pixel: pix &+ 3, cb: cb, storeFrom: storeFrom)
        x &+= 4
    }
    while x < x1 {
        let ix = x &* g.strideWidth &- g.padLeft
        let p = d.input + ((iy0 &* g.inputWidth &+ ix) &* d.ips &+ cb)
        var a0 = bias, b0 = SIMD8<Float>()
        var wt = d.w.weights + cb
        for ky in 0..<kh {
            var q = p + (ky &* dy)
            for _ in 0..<kw {
                groupedTap(C.self, load8(q), wt, cpad, &a0, &b0)
                q += dx
                wt += (c &* cpad)
            }
        }
        groupedStore(d, act, a0 + b0, pixel: oy &* g.outputWidth &+ x, cb: cb, storeFrom: storeFrom)
        x &+= 1
    }
}
