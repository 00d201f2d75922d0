import KiteCore

/// Where a value lives during a run.
///
/// 4-D activations are stored NHWC ([N][H][W][pixelStride]) so pointwise
/// convolutions are plain GEMMs and depthwise ones vectorise over channels; a
/// value may be a channel slice [channelOffset, channelOffset + C) of a wider
/// buffer, which makes channel split and concat free. Other ranks are stored
/// row-major as the op set defines them.
struct Placement {
    /// The arena buffer holding the value (index into the executor's buffers), or -1 for a constant.
    var buffer: Int
    /// The value's shape as the op set sees it (NCHW for 4-D).
    var shape: [Int]
    /// Whether the value is stored NHWC (4-D values only).
    var nhwc: Bool
    /// First channel of the value inside its buffer (NHWC only).
    var channelOffset: Int
    /// Elements between consecutive pixels (NHWC only; equals C when not a slice).
    var pixelStride: Int
    /// When set, logical channel j is stored at channel `channelOffset + channelMap[j]` of each
    /// pixel: a channel shuffle or index select folded into how the readers read (NHWC only).
    var channelMap: [Int]? = nil

    var count: Int { shape.reduce(1, *) }
    var channels: Int { shape.count == 4 ? shape[1] : 0 }
    var height: Int { shape.count == 4 ? shape[2] : 1 }
    var width: Int { shape.count == 4 ? shape[3] : 1 }
    var batch: Int { shape.first ?? 1 }
    /// Whether the value covers its whole buffer contiguously.
    var isDense: Bool { !nhwc || (channelOffset == 0 && pixelStride == channels && channelMap == nil) }

    /// Elements the value's buffer must hold.
    var bufferElements: Int { nhwc ? batch * height * width * pixelStride : count }

    static func dense(buffer: Int, shape: [Int]) -> Placement {
        let four = shape.count == 4
        return Placement(buffer: buffer, shape: shape, nhwc: four, channelOffset: 0, pixelStride: four ? shape[1] : 0)
    }
}
