// Layout conversions, channel copies and shuffles, softmax.

/// Layout conversion and data-movement kernels.
public enum Layout {
    /// NCHW (dense planes, `input[c * pixels + p]`) to NHWC with an output pixel stride, for pixels `pixelRange`.
    public static func nchwToNHWC(
        input: UnsafePointer<Float>, channels: Int, pixels: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int, pixelRange: Range<Int>? = nil
    ) {
        let range = pixelRange ?? 0..<pixels
        // 8 x 8 tiles: read 8 pixels of 8 planes, write 8 pixels of 8 channels.
        var p = range.lowerBound
        while p < range.upperBound {
            let pe = min(p + 8, range.upperBound)
            var c = 0
            while c + 8 <= channels && pe - p == 8 {
                let t0 = load8(input + c * pixels + p), t1 = load8(input + (c + 1) * pixels + p)
                let t2 = load8(input + (c + 2) * pixels + p), t3 = load8(input + (c + 3) * pixels + p)
                let t4 = load8(input + (c + 4) * pixels + p), t5 = load8(input + (c + 5) * pixels + p)
                let t6 = load8(input + (c + 6) * pixels + p), t7 = load8(input + (c + 7) * pixels + p)
                for i in 0..<8 {
                    store8(SIMD8(t0[i], t1[i], t2[i], t3[i], t4[i], t5[i], t6[i], t7[i]),
                           output + (p + i) * outputPixelStride + c)
                }
                c += 8
            }
            for q in p..<pe {
                let o = output + q * outputPixelStride
                for cc in c..<channels { o[cc] = input[cc * pixels + q] }
            }
            p = pe
        }
    }

    /// NHWC with an input pixel stride to NCHW (dense planes, `output[c * pixels + p]`), for pixels `pixelRange`.
    public static func nhwcToNCHW(
        input: UnsafePointer<Float>, inputPixelStride: Int, channels: Int, pixels: Int,
        output: UnsafeMutablePointer<Float>, pixelRange: Range<Int>? = nil
    ) {
        let range = pixelRange ?? 0..<pixels
        var p = range.lowerBound
        while p < range.upperBound {
            let pe = min(p + 8, range.upperBound)
            var c = 0
            while c + 8 <= channels && pe - p == 8 {
                let s = input + p * inputPixelStride + c
                let t0 = load8(s), t1 = load8(s + inputPixelStride)
                let t2 = load8(s + 2 * inputPixelStride), t3 = load8(s + 3 * inputPixelStride)
                let t4 = load8(s + 4 * inputPixelStride), t5 = load8(s + 5 * inputPixelStride)
                let t6 = load8(s + 6 * inputPixelStride), t7 = load8(s + 7 * inputPixelStride)
                for i in 0..<8 {
                    store8(SIMD8(t0[i], t1[i], t2[i], t3[i], t4[i], t5[i], t6[i], t7[i]),
                           output + (c + i) * pixels + p)
                }
                c += 8
            }
            for q in p..<pe {
                let s = input + q * inputPixelStride
                for cc in c..<channels { output[cc * pixels + q] = s[cc] }
            }
            p = pe
        }
    }

    /// Copies `channels` channels of pixels `pixels` between strided NHWC tensors (a concat slot
    /// filled by copy, or a slice made dense).
    public static func copyChannels(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>
    ) {
        if pixels.isEmpty || channels <= 0 { return }
        if inputPixelStride == channels && outputPixelStride == channels {
            copyFloats(input + pixels.lowerBound * channels, output + pixels.lowerBound * channels,
                       channels * pixels.count)
            return
        }
        for p in pixels {
            copyFloats(input + p * inputPixelStride, output + p * outputPixelStride, channels)
        }
    }

    /// ShuffleNet channel shuffle as a copy: channels viewed as `[groups][C / groups]` are
    /// transposed to `[C / groups][groups]`, i.e. `output[i * groups + j] = input[j * (C / groups) + i]`.
    public static func channelShuffle(
        input: UnsafePointer<Float>, inputPixelStride: Int, groups: Int,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>
    ) {
        precondition(groups > 0 && channels % groups == 0, "groups must divide channels")
        let per = channels / groups
        if groups == 2 {
            for p in pixels {
                let a = input + p * inputPixelStride, b = a + per
                let o = output + p * outputPixelStride
                var i = 0
                while i + 8 <= per {
                    let lo = load8(a + i), hi = load8(b + i)
                    let z = SIMD16<Float>(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], lo[3], hi[3],
                                          lo[4], hi[4], lo[5], hi[5], lo[6], hi[6], lo[7], hi[7])
                    store16(z, o + 2 * i)
                    i += 8
                }
                while i < per {
                    o[2 * i] = a[i]
                    o[2 * i + 1] = b[i]
                    i += 1
                }
            }
            return
        }
        for p in pixels {
            let a = input + p * inputPixelStride
            let o = output + p * outputPixelStride
            for i in 0..<per {
                for j in 0..<groups { o[i * groups + j] = a[j * per + i] }
            }
        }
    }

    /// General channel permutation as a copy: `output[p, c] = input[p, permutation[c]]`.
    public static func permuteChannels(
        input: UnsafePointer<Float>, inputPixelStride: Int, permutation: UnsafePointer<Int32>,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        channels: Int, pixels: Range<Int>
    ) {
        for p in pixels {
            let a = input + p * inputPixelStride
            let o = output + p * outputPixelStride
            for c in 0..<channels { o[c] = a[Int(permutation[c])] }
        }
    }

    /// Numerically stable softmax over `count` contiguous floats: `exp(x - max) / sum`.
    /// `output` may equal `input`.
    public static func softmax(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
        if count <= 0 { return }
        var mx = -Float.infinity
        var i = 0
        if count >= 8 {
            var m = SIMD8<Float>(repeating: -.infinity)
            while i + 8 <= count {
                m = vmax(m, load8(input + i))
                i += 8
            }
            mx = m.max()
        }
        while i < count {
            mx = Swift.max(mx, input[i])
            i += 1
        }
        let mv = SIMD8<Float>(repeating: mx)
        var sumv = SIMD8<Float>()
        var sum: Float = 0
        i = 0
        while i + 8 <= count {
            let e = fastExp(load8(input + i) - mv)
            store8(e, output + i)
            sumv += e
            i += 8
        }
        while i < count {
            let e = fastExp(input[i] - mx)
            output[i] = e
            sum += e
            i += 1
        }
        sum += sumv.sum()
        let inv = 1 / sum
        let iv = SIMD8<Float>(repeating: inv)
        i = 0
        while i + 8 <= count {
            store8(load8(output + i) * iv, output + i)
            i += 8
        }
        while i < count {
            output[i] *= inv
            i += 1
        }
    }
}
