import KiteCore

/// Moves values between the op set's layout (NCHW, row-major) and their placement.
enum LayoutCopy {
    /// Reads a placed value into a row-major (NCHW) float array.
    static func read(_ p: Placement, from base: UnsafeMutablePointer<Float>) -> [Float] {
        if !p.nhwc { return Array(UnsafeBufferPointer(start: base, count: p.count)) }
        if p.count == 0 { return [] }
        let (n, c, hw) = (p.batch, p.channels, p.height * p.width)
        let map = p.channelMap
        return [Float](unsafeUninitializedCapacity: p.count) { dst, initialized in
            // Channel by channel: each NCHW plane is written sequentially.
            for b in 0..<n {
                let image = UnsafePointer(base) + b * hw * p.pixelStride + p.channelOffset
                for ch in 0..<c {
                    let src = image + (map?[ch] ?? ch)
                    let plane = dst.baseAddress! + (b * c + ch) * hw
                    for i in 0..<hw { plane[i] = src[i * p.pixelStride] }
                }
            }
            initialized = p.count
        }
    }

    /// Writes row-major (NCHW) floats into a placed value.
    static func write(_ values: UnsafeBufferPointer<Float>, to p: Placement, base: UnsafeMutablePointer<Float>) {
        guard let values = values.baseAddress else { return }
        if !p.nhwc {
            base.update(from: values, count: p.count)
            return
        }
        let (n, c, hw) = (p.batch, p.channels, p.height * p.width)
        let map = p.channelMap
        let stride = p.pixelStride
        for b in 0..<n {
            let image = base + b * hw * stride + p.channelOffset
            if map == nil && c <= 4 {
                // An image input (3 channels): pixel by pixel, so each pixel's channels are written
                // together and the destination is swept once, not once per channel at a stride.
                // Still about 0.1 ms for a 224x224 image (a few percent of MobileNetV3-Small).
                let plane = values + b * c * hw
                var dst = image
                if c == 3 {
                    let (r, g, bl) = (plane, plane + hw, plane + 2 * hw)
                    for i in 0..<hw {
                        dst[0] = r[i]
                        dst[1] = g[i]
                        dst[2] = bl[i]
                        dst += stride
                    }
                    continue
                }
                for i in 0..<hw {
                    for ch in 0..<c { dst[ch] = plane[ch &* hw &+ i] }
                    dst += stride
                }
                continue
            }
            for ch in 0..<c {
                let dst = image + (map?[ch] ?? ch)
                let plane = values + (b * c + ch) * hw
                for i in 0..<hw { dst[i * stride] = plane[i] }
            }
        }
    }
}
