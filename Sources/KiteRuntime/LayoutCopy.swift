import KiteCore

/// Moves values between the op set's layout (NCHW, row-major) and their placement.
enum LayoutCopy {
    /// Reads a placed value into a row-major (NCHW) float array.
    static func read(_ p: Placement, from base: UnsafeMutablePointer<Float>) -> [Float] {
        if !p.nhwc { return Array(UnsafeBufferPointer(start: base, count: p.count)) }
        let (n, c, h, w) = (p.batch, p.channels, p.height, p.width)
        var out = [Float](repeating: 0, count: p.count)
        let map = p.channelMap ?? Array(0..<c)
        out.withUnsafeMutableBufferPointer { dst in
            for b in 0..<n {
                for y in 0..<h {
                    for x in 0..<w {
                        let src = base + ((b * h + y) * w + x) * p.pixelStride + p.channelOffset
                        var d = ((b * c) * h + y) * w + x
                        for ch in 0..<c {
                            dst[d] = src[map[ch]]
                            d += h * w
                        }
                    }
                }
            }
        }
        return out
    }

    /// Writes row-major (NCHW) floats into a placed value.
    static func write(_ values: UnsafeBufferPointer<Float>, to p: Placement, base: UnsafeMutablePointer<Float>) {
        if !p.nhwc {
            base.update(from: values.baseAddress!, count: p.count)
            return
        }
        let (n, c, h, w) = (p.batch, p.channels, p.height, p.width)
        let map = p.channelMap ?? Array(0..<c)
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    let dst = base + ((b * h + y) * w + x) * p.pixelStride + p.channelOffset
                    var s = ((b * c) * h + y) * w + x
                    for ch in 0..<c {
                        dst[map[ch]] = values[s]
                        s += h * w
                    }
                }
            }
        }
    }
}
