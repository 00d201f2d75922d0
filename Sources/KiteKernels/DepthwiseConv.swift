// Depthwise convolution over NHWC, vectorised over channels.

/// Depthwise 2-D convolution (groups = C, one filter per channel) over NHWC tensors.
///
/// Vectorised over channels, 8 lanes per block; when C is not a multiple of 8 the last block
/// overlaps the previous one (it starts at C - 8), so every load and store stays inside the
/// channel range and no scalar tail is needed (C < 8 takes a slower partial-vector path).
/// Undilated 3x3 and 5x5 filters with horizontal stride 1 or 2 run over zero-bordered,
/// channel-blocked tiles (`depthwiseTiledDriver`), except where reading the input in place is
/// faster (`readsInPlace`: stride 2, or stride 1 with few channels or, with 8-lane kernels, C not
/// a multiple of 32); other filters run interior pixels without bounds checks (4 output pixels
/// per tap load) and clip the window at border pixels.
public enum DepthwiseConv {
    /// Computes output rows `outputRows` of `output = act(depthwise(input, weights) + bias)`.
    ///
    /// - Parameters:
    ///   - input: NHWC input; pixel (y, x) channel c at `input[(y * W + x) * inputPixelStride + c]`.
    ///   - inputPixelStride: floats between consecutive input pixels (>= C).
    ///   - geometry: spatial geometry (kernel size must match the packed weights).
    ///   - weights: packed taps and bias.
    ///   - output: NHWC output, pixel (y, x) at `output + (y * OW + x) * outputPixelStride`; must not alias the input.
    ///   - outputPixelStride: floats between consecutive output pixels (>= C).
    ///   - activation: fused activation.
    ///   - outputRows: output rows to compute (threads split by rows); defaults to all.
    ///   - channelBlocks: 8-channel blocks to compute (threads split small maps by channels, see
    ///     `splitsByChannels`); block b covers channels `min(8 b, C - 8) ..< +8`. Defaults to all.
    ///   - fromMemory: the input is larger than L2 and comes from L3 or memory, and so does the
    ///     output's previous content: 3x3 filters then read in place at stride 1 too and ask for
    ///     the lines of their next step ahead (`DepthwiseRowPrefetch`). False for inputs in cache
    ///     (the bands of a streamed block), where the requests only cost.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        geometry: ConvGeometry, weights: PackedDepthwiseWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil, channelBlocks: Range<Int>? = nil, fromMemory: Bool = false
    ) {
        precondition(geometry.kernelHeight == weights.kernelHeight && geometry.kernelWidth == weights.kernelWidth,
                     "geometry kernel does not match the packed weights")
        let rows = outputRows ?? 0..<geometry.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= geometry.outputHeight, "rows out of range")
        let allBlocks = 0..<blockCount(channels: weights.channels)
        let blocks = channelBlocks ?? allBlocks
        precondition(blocks.lowerBound >= 0 && blocks.upperBound <= allBlocks.upperBound, "channel blocks out of range")
        let prefetch = fromMemory && depthwisePrefetch && (geometry.strideHeight == 1 || depthwiseStride2Prefetch)
        precondition(blocks == allBlocks || splitsByChannels(geometry, channels: weights.channels),
                     "only the tiled kernel computes a subset of channel blocks")
        if rows.isEmpty || blocks.isEmpty { return }
        activation.visit(DepthwiseArguments(input: input, ips: inputPixelStride, g: geometry, w: weights,
                                            output: output, ops: outputPixelStride, rows: rows, blocks: blocks,
                                            prefetch: prefetch))
    }

    /// Output rows the tiled kernel computes from one tile: row ranges that are multiples of it
    /// waste no tile.
    public static let tileRows = depthwiseTileRows

    /// 8-channel blocks of `channels` channels (the last one overlaps its neighbour when C is not
    /// a multiple of 8).
    public static func blockCount(channels: Int) -> Int { (channels + 7) / 8 }

    /// Whether threads may split this convolution by channel blocks instead of output rows: the
    /// tiled kernel on maps of fewer rows than two bands of four (7x7 maps). A row split would give
    /// each thread one band, whose halo rows are copied by both. (The runtime splits such layers by
    /// channels at stride 1 and by rows at stride 2, whose input rows the GEMM before them split
    /// by rows.) On 14x14 maps, whose GEMMs split by rows, channel splits measured slower
    /// (MobileNetV2 and MNASNet at 2 threads, alternated runs). `channelBlockRanges` gives the ranges.
    public static func splitsByChannels(_ g: ConvGeometry, channels: Int) -> Bool {
        channels >= 8 && padsInKernel(g) && g.outputHeight < 2 * depthwiseTileRows
    }

    /// `parts` contiguous block ranges of nearly equal size; the last two blocks stay in one
    /// range when they overlap (C not a multiple of 8), so no channel is written by two threads.
    public static func channelBlockRanges(channels: Int, parts: Int) -> [Range<Int>] {
        let blocks = blockCount(channels: channels)
        let overlapping = channels % 8 != 0 && blocks >= 2
        let units = overlapping ? blocks - 1 : blocks
        let n = max(1, min(parts, units))
        return (0..<n).map { p in
            let lo = units * p / n, hi = units * (p + 1) / n
            return lo..<(hi == units ? blocks : hi)
        }
    }
}

extension DepthwiseConv {
    /// Whether `run` takes the tiled path for this geometry (undilated 3x3 or 5x5, horizontal
    /// stride 1 or 2), which zero-fills borders itself: a zero-padded copy of the input gains nothing.
    public static func padsInKernel(_ g: ConvGeometry) -> Bool {
        g.kernelHeight == g.kernelWidth && (g.kernelHeight == 3 || g.kernelHeight == 5)
            && g.dilationHeight == 1 && g.dilationWidth == 1 && (g.strideWidth == 1 || g.strideWidth == 2)
    }
}

extension DepthwiseConv {
    /// Whether `run` reads the NHWC input in place (`depthwiseDirectDriver`) instead of copying it
    /// into zero-bordered tiles: 3x3 filters on maps of at least two tile bands, at stride 2, or
    /// at stride 1 with at most 160 channels other than 128 (8-lane kernels: also C not a multiple of 32).
    ///
    /// In place, the rows are read in order and the prefetchers keep up; the tile copy waits on
    /// each line when its input comes from L3 or memory. Measured at 1 thread on a Zen 4 (best of
    /// repeated calls, input rewritten before each as its producer would leave it):
    /// - stride 2: 0.55-0.70 of the tiled time in networks (MobileNetV1/V2/V3, MNASNet, ShuffleNetV2);
    /// - stride 1, 16-144 channels on 28x28 to 147x147 maps: 0.55-0.9 (147x147x64 0.51 ms against
    ///   0.81, 56x56x72 0.10 against 0.14, 56x56x144 0.20 against 0.22);
    /// - stride 1, 128 channels: slower (56x56: 0.20 against 0.16). A 512-byte pixel stride puts a
    ///   span's 34 pixels of a row into 8 of L1's 64 sets, so the rows evict each other; 256 and 512
    ///   channels were 1.3-2x slower;
    /// - stride 1, 184-576 channels: 1.05-1.2 on 14x14 and 28x28 maps, which sit in L2 and gain
    ///   nothing from the prefetchers.
    /// 5x5 filters read five rows of eleven pixels per four outputs and measured level or slower
    /// in place, so they keep the tiles.
    ///
    /// With 8-lane kernels, stride 1 also reads in place when C is not a multiple of 32, so that
    /// the pixel stride spreads a span's pixels over all of L1's sets. Measured on a Zen 2 (AVX2),
    /// 1 thread: Xception's 19x19x728 0.21 ms against 0.25-0.31 tiled with warm caches, 0.39-0.49
    /// against 0.58-0.65 from memory; 37x37x728 1.2-1.3 against 2.3 from memory; 28x28x240 level.
    ///
    /// An input `fromMemory` (larger than L2, see `run`) is read in place at stride 1 with any
    /// channel count, its lines asked for ahead: the tiles were slower there, their output lines
    /// each fetched when first stored to. On a Zen 1, 1 thread, in Xception: 74x74x128 0.92 ms
    /// against 1.17-1.25, 37x37x256 0.59 against 0.63-0.64, 10x10x1536 0.29 against 0.37-0.42; in
    /// MobileNetV1 28x28x256 level (0.35 against 0.34).
    public static func readsInPlace(_ g: ConvGeometry, channels: Int, fromMemory: Bool = false) -> Bool {
        padsInKernel(g) && g.kernelHeight == 3 && g.strideHeight == g.strideWidth
            && g.outputHeight >= 2 * depthwiseTileRows
            && (fromMemory || g.strideWidth == 2 || (channels <= 160 && channels % 128 != 0) || (!wideVectorKernels && channels % 32 != 0))
    }
}

extension DepthwiseConv {
    /// Whether `run` reads the input in place channel block by channel block
    /// (`depthwiseBlockOuterDriver`): undilated 3x3 filters at stride 1 with 16-lane kernels, maps
    /// of at least two tile bands whose input is in cache (not `fromMemory`), and either input and
    /// output fit L2 together or the layer would otherwise take the tiles (`readsInPlace` false).
    /// A map larger than L2 that `readsInPlace` takes keeps the row order, which reads each line
    /// once: block by block, every block swept the input from L3 (56x56x144: 0.31 ms against 0.22).
    ///
    /// On a Xeon (48 KiB L1, 2 MiB L2), 1 thread, warm caches, against the tiles or row order:
    /// 28x28x240 0.064 ms against 0.106, 14x14x384 0.030 against 0.041, 28x28x256 0.091 against
    /// 0.107, 14x14x512 0.048 against 0.055, 56x56x128 0.223 against 0.281, 56x56x72 0.081-0.090
    /// against 0.093-0.096, 19x19x728 0.131 against 0.142. At stride 2 level or slower (112x112x48
    /// 0.165-0.194 against 0.131); 5x5 filters in place took twice the tiles' time.
    /// `depthwiseBlockOuterMode` 2 takes every 3x3 layer (both strides) in cache this way.
    public static func readsInPlaceByBlocks(_ g: ConvGeometry, channels: Int, inputPixelStride: Int, outputPixelStride: Int,
                                            fromMemory: Bool = false) -> Bool {
        guard wideVectorKernels, depthwiseBlockOuterMode > 0, !fromMemory, channels >= 16, padsInKernel(g),
              g.kernelHeight == 3, g.strideHeight == g.strideWidth, g.outputHeight >= 2 * depthwiseTileRows else { return false }
        if depthwiseBlockOuterMode >= 2 { return true }
        let bytes = 4 * (g.inputHeight * g.inputWidth * inputPixelStride + g.outputHeight * g.outputWidth * outputPixelStride)
        return g.strideWidth == 1 && (bytes <= CacheSizes.level2OrDefault || !readsInPlace(g, channels: channels))
    }
}

/// Which layers read their input in place block by block (`DepthwiseConv.readsInPlaceByBlocks`):
/// 0 none, 1 (default) 3x3 at stride 1 as measured best, 2 every 3x3 layer in cache.
/// `KITE_DW_BLOCK_OUTER` sets it (A/B runs); tests set it directly.
nonisolated(unsafe) var depthwiseBlockOuterMode = Int(environmentValue("KITE_DW_BLOCK_OUTER") ?? "").map { max(0, $0) } ?? 1

struct DepthwiseArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let g: ConvGeometry
    let w: PackedDepthwiseWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let rows: Range<Int>
    /// 8-channel blocks to compute (a subset only on the tiled path).
    let blocks: Range<Int>
    /// Whether the input and output come from L3 or memory (`DepthwiseConv.run`'s `fromMemory`).
    let prefetch: Bool

    func visit<A: VectorActivation>(_ act: A) {
        if w.channels < 8 {
            depthwiseSmallChannels(self, act)
        } else if DepthwiseConv.readsInPlaceByBlocks(g, channels: w.channels, inputPixelStride: ips, outputPixelStride: ops,
                                                     fromMemory: prefetch) {
            if g.strideWidth == 1 {
                depthwiseBlockOuterDriver(self, act, Count1.self)
            } else {
                depthwiseBlockOuterDriver(self, act, Count2.self)
            }
        } else if DepthwiseConv.readsInPlace(g, channels: w.channels, fromMemory: prefetch) {
            if g.strideWidth == 1 {
                depthwiseDirectDriver(self, act, Count1.self)
            } else {
                depthwiseDirectDriver(self, act, Count2.self)
            }
        } else if DepthwiseConv.padsInKernel(g) {
            switch (g.kernelHeight, g.strideWidth) {
            case (3, 1): depthwiseTiledDriver(self, act, Count3.self, Count1.self)
            case (3, _): depthwiseTiledDriver(self, act, Count3.self, Count2.self)
            case (5, 1): depthwiseTiledDriver(self, act, Count5.self, Count1.self)
            default: depthwiseTiledDriver(self, act, Count5.self, Count2.self)
            }
        } else if g.kernelHeight == 3 && g.kernelWidth == 3 {
            depthwiseDriver(self, act, FixedKernel3x3())
        } else if g.kernelHeight == 5 && g.kernelWidth == 5 {
            depthwiseDriver(self, act, FixedKernel5x5())
        } else {
            depthwiseDriver(self, act, DynamicKernel(height: g.kernelHeight, width: g.kernelWidth))
        }
    }
}

/// Kernel window size, constant for the fast paths so that tap loops unroll.
protocol KernelSize {
    var height: Int { get }
    var width: Int { get }
    static var isThreeByThree: Bool { get }
}

struct FixedKernel3x3: KernelSize {
    var height: Int { 3 }
    var width: Int { 3 }
    static var isThreeByThree: Bool { true }
}

struct FixedKernel5x5: KernelSize {
    var height: Int { 5 }
    var width: Int { 5 }
    static var isThreeByThree: Bool { false }
}

struct DynamicKernel: KernelSize {
    let height: Int
    let width: Int
    static var isThreeByThree: Bool { false }
}

/// Output columns per chunk: the chunk's input footprint (rows x columns x C) stays in L1
/// while every channel block sweeps it.
let depthwiseChunk = 16

@inline(never)
func depthwiseDriver<A: VectorActivation, K: KernelSize>(_ d: DepthwiseArguments, _ act: A, _ k: K) {
    let g = d.g
    let channels = d.w.channels
    let cols = g.interiorColumns
    let interiorRows = g.interiorRows
    let lastBlock = channels - 8
    for oy in d.rows {
        if interiorRows.contains(oy) && !cols.isEmpty {
            for ox in 0..<cols.lowerBound { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
            var x0 = cols.lowerBound
            while x0 < cols.upperBound {
                let x1 = min(cols.upperBound, x0 + depthwiseChunk)
                var c = 0
                while c <= lastBlock {
                    if K.isThreeByThree {
                        depthwiseSpan3x3(d, act, c: c, oy: oy, x0: x0, x1: x1)
                    } else {
                        depthwiseSpan(d, act, k, c: c, oy: oy, x0: x0, x1: x1)
                    }
                    c += 8
                }
                if c < channels {
                    if K.isThreeByThree {
                        depthwiseSpan3x3(d, act, c: lastBlock, oy: oy, x0: x0, x1: x1)
                    } else {
                        depthwiseSpan(d, act, k, c: lastBlock, oy: oy, x0: x0, x1: x1)
                    }
                }
                x0 = x1
            }
            for ox in cols.upperBound..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        } else {
            for ox in 0..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        }
    }
}

/// Interior span of one output row for one 8-channel block, 3x3 taps held in registers.
@inline(__always)
func depthwiseSpan3x3<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A, c: Int, oy: Int, x0: Int, x1: Int) {
    let g = d.g
    let rowStride = g.inputWidth * d.ips
    let cpad = d.w.paddedChannels
    let wp = d.w.taps + c
    let w00 = load8(wp), w01 = load8(wp + cpad), w02 = load8(wp + 2 * cpad)
    let w10 = load8(wp + 3 * cpad), w11 = load8(wp + 4 * cpad), w12 = load8(wp + 5 * cpad)
    let w20 = load8(wp + 6 * cpad), w21 = load8(wp + 7 * cpad), w22 = load8(wp + 8 * cpad)
    let bias = load8(d.w.bias + c)
    let iy = oy * g.strideHeight - g.padTop
    let ix = x0 * g.strideWidth - g.padLeft
    var p0 = d.input + iy * rowStride + ix * d.ips + c
    var p1 = p0 + g.dilationHeight * rowStride
    var p2 = p1 + g.dilationHeight * rowStride
    let dx = g.dilationWidth * d.ips
    let step = g.strideWidth * d.ips
    var out = d.output + (oy * g.outputWidth + x0) * d.ops + c
    for _ in x0..<x1 {
        var s0 = bias.addingProduct(load8(p0), w00)
        var s1 = load8(p1) * w10
        var s2 = load8(p2) * w20
        s0 = s0.addingProduct(load8(p0 + dx), w01)
        s1 = s1.addingProduct(load8(p1 + dx), w11)
        s2 = s2.addingProduct(load8(p2 + dx), w21)
        s0 = s0.addingProduct(load8(p0 + 2 * dx), w02)
        s1 = s1.addingProduct(load8(p1 + 2 * dx), w12)
        s2 = s2.addingProduct(load8(p2 + 2 * dx), w22)
        store8(act(s0 + s1 + s2), out)
        p0 += step
        p1 += step
        p2 += step
        out += d.ops
    }
}

/// Interior span for any kernel size: 4 output pixels per tap so each weight load feeds 4 FMAs.
@inline(__always)
func depthwiseSpan<A: VectorActivation, K: KernelSize>(
    _ d: DepthwiseArguments, _ act: A, _ k: K, c: Int, oy: Int, x0: Int, x1: Int
) {
    let g = d.g
    let rowStride = g.inputWidth * d.ips
    let cpad = d.w.paddedChannels
    let wp = d.w.taps + c
    let bias = load8(d.w.bias + c)
    let iy = oy * g.strideHeight - g.padTop
    let ix = x0 * g.strideWidth - g.padLeft
    var p = d.input + iy * rowStride + ix * d.ips + c
    let dy = g.dilationHeight * rowStride
    let dx = g.dilationWidth * d.ips
    let step = g.strideWidth * d.ips
    var out = d.output + (oy * g.outputWidth + x0) * d.ops + c
    var x = x0
    while x + 4 <= x1 {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        for ky in 0..<k.height {
            let row = p + ky * dy
            let wrow = wp + ky * k.width * cpad
            for kx in 0..<k.width {
                let wv = load8(wrow + kx * cpad)
                let q = row + kx * dx
                a0 = a0.addingProduct(load8(q), wv)
                a1 = a1.addingProduct(load8(q + step), wv)
                a2 = a2.addingProduct(load8(q + 2 * step), wv)
                a3 = a3.addingProduct(load8(q + 3 * step), wv)
            }
        }
        store8(act(a0), out)
        store8(act(a1), out + d.ops)
        store8(act(a2), out + 2 * d.ops)
        store8(act(a3), out + 3 * d.ops)
        p += 4 * step
        out += 4 * d.ops
        x += 4
    }
    while x < x1 {
        var a0 = bias
        for ky in 0..<k.height {
            let row = p + ky * dy
            let wrow = wp + ky * k.width * cpad
            for kx in 0..<k.width {
                a0 = a0.addingProduct(load8(row + kx * dx), load8(wrow + kx * cpad))
            }
        }
        store8(act(a0), out)
        p += step
        out += d.ops
        x += 1
    }
}

/// Row granularity of the tiled kernel: callers that cut maps into bands of rows use multiples of
/// it, and maps of fewer than two such bands split across threads by channels.
let depthwiseTileRows = 4
/// Output rows computed from one packed tile (at most; a multiple of `depthwiseTileRows`).
let depthwiseBandRows = 8
/// The same at vertical stride 2 on maps of more than eight output rows: a 5x5 band of eight rows
/// packs 19 input rows, and with a span's 19 columns one 16-lane block's tile (23 KB) and the
/// lines its copy reads outgrew L1; the copy then waited on its stores. Four rows pack 11. On a
/// Xeon (48 KiB L1), 1 thread: alone with warm caches, 56x56x72 0.094-0.095 -> 0.083-0.085 ms,
/// 28x28x240 0.067-0.073 -> 0.059, 14x14x576 (7 output rows) 0.031-0.035 against 0.031-0.033 in
/// bands of four; in networks (alternated profiles, medians of 7), MNASNet's and MobileNetV3-Large's
/// 56x56x72 0.086 -> 0.077-0.079, MobileNetV3-Small's 28x28x96 0.027 -> 0.024, MNASNet's 28x28x240
/// 0.054 -> 0.055 (at 2 threads 0.039 -> 0.035). `KITE_DW_S2_BAND_ROWS` (4 or 8) sets it for A/B
/// runs; benchmarks set it directly.
nonisolated(unsafe) var depthwiseStride2BandRows: Int = {
    guard let text = environmentValue("KITE_DW_S2_BAND_ROWS"), let rows = Int(text), [4, 8].contains(rows) else { return 4 }
    return rows
}()
/// Bytes of packed input one tile may take when the input is larger than L2: a group then holds
/// all (or most) channel blocks, so each input row is read in order, once per band of output rows.
/// An input that fits L2 is packed in L1-sized groups (`depthwiseSmallTileBytes`) instead. (The
/// line was 512 KiB, a Zen 1's L2; on a Xeon with 2 MiB of L2, 1 thread, warm caches, L1-sized
/// groups took 19x19x728 3x3 0.142 ms against 0.209, 28x28x192 3x3 0.071 against 0.099,
/// 28x28x240 5x5 stride 2 0.069 against 0.090.)
/// On a Zen 3 (32 KiB L1, 512 KiB L2, fast L3), 1 thread, warm L3, the L1-sized budget took
/// 56x56x72 5x5 stride 2 0.088 ms against 0.110, 28x28x72 0.024 against 0.030, 56x56x128 3x3
/// 0.252 against 0.313, so there the large budget is L1-sized too; in networks (alternated
/// profiles, medians of five) MNASNet's and MobileNetV3-Large's 5x5 layers from L3 took
/// 0.082-0.095 ms against 0.106-0.113, 0.058 against 0.088.
/// `KITE_DW_TILE_BYTES` sets it (A/B runs).
/// Variables so that benchmarks can compare budgets; nothing else writes them.
nonisolated(unsafe) var depthwiseTileBytes: Int = {
    if let text = environmentValue("KITE_DW_TILE_BYTES"), let bytes = Int(text), bytes >= 0 { return bytes }
    return CPUFeatures.zen3OrLater ? 16 * 1024 : 256 * 1024
}()
nonisolated(unsafe) var depthwiseSmallTileBytes = 16 * 1024

/// Tile groups of at most this many channel blocks are copied block by block, a row of one block
/// at a time; larger groups pixel by pixel, all of a pixel's blocks at a time, so that a large
/// input is read in order. Groups this small come from the L1-sized budget (inputs that fit L2),
/// whose pixel-by-pixel loop ran only a few iterations per pixel. On a Zen 1 (8-lane kernels,
/// 1 thread, warm caches, best of 30 calls): 14x14x384 3x3 0.089 ms against 0.102, 14x14x576
/// 0.137 against 0.158, 28x28x120 5x5 0.190 against 0.216, 14x14x480 5x5 0.191 against 0.208;
/// other MobileNet shapes level.
let depthwiseColumnCopyBlocks = 4

/// Copies `count` pixels of one channel block (a vector at `source + j * pixelStride`) into
/// consecutive vectors of a tile row, four at a time.
@inline(__always)
func depthwiseCopyColumns<V: FloatVector>(
    _ source: UnsafePointer<Float>, pixelStride: Int, to destination: UnsafeMutablePointer<V>, count: Int
) {
    var src = source
    var dst = destination
    var n = count
    while n >= 4 {
        let v0 = V.load(src), v1 = V.load(src + pixelStride)
        let v2 = V.load(src + 2 * pixelStride), v3 = V.load(src + 3 * pixelStride)
        dst[0] = v0
        dst[1] = v1
        dst[2] = v2
        dst[3] = v3
        src += 4 * pixelStride
        dst += 4
        n -= 4
    }
    while n > 0 {
        dst[0] = V.load(src)
        src += pixelStride
        dst += 1
        n -= 1
    }
}

/// Undilated K x K depthwise (K = 3 or 5) with horizontal stride S (1 or 2), over the channel
/// blocks `d.blocks` (8 channels each): with AVX-512, pairs of them run as 16-lane blocks and
/// a block left over (an odd count, or the end of C) as an 8-lane one.
@inline(never)
func depthwiseTiledDriver<A: VectorActivation, K: StaticCount, S: StaticCount>(
    _ d: DepthwiseArguments, _ act: A, _ k: K.Type, _ s: S.Type
) {
    let (pairs, rest) = depthwiseWideSplit(d)
    if pairs > 0 {
        depthwiseTiledPass(d, act, K.self, S.self, SIMD16<Float>.self, blocks: 0..<pairs, channelBase: 8 * d.blocks.lowerBound)
    }
    if !rest.isEmpty {
        depthwiseTiledPass(d, act, K.self, S.self, SIMD8<Float>.self, blocks: rest, channelBase: 0)
    }
}

/// With 16-lane kernels: the number of 16-channel blocks that cover the first 8-channel blocks of
/// `d.blocks`, and the 8-channel blocks left; otherwise no pairs. Block p covers channels
/// `min(8 b0 + 16 p, C - 16) ..< +16`: when the range ends at C and holds at least 16 channels,
/// its last block overlaps the one before (recomputing up to 15 channels with the same values)
/// instead of leaving one or two 8-lane blocks (an 8-lane block runs four FMA chains, a 16-lane one
/// eight). On a Xeon, 1 thread, alternated profiles: ShuffleNetV2 1.0's depthwise layers (58, 116
/// and 232 channels) 0.283 -> 0.264 ms in all, MNASNet's 5x5 ones with 72 and 120 channels
/// 0.087-0.088 -> 0.072 and 0.065-0.067 -> 0.058-0.059 ms in two rounds of three; the in-place
/// 3x3 ones level; end to end level.
@inline(__always)
func depthwiseWideSplit(_ d: DepthwiseArguments) -> (pairs: Int, rest: Range<Int>) {
    guard wideVectorKernels else { return (0, d.blocks) }
    let channels = d.w.channels
    let b0 = d.blocks.lowerBound
    let pairs = max(0, min(d.blocks.count / 2, (channels - 8 * b0) / 16))
    let rest = (b0 + 2 * pairs)..<d.blocks.upperBound
    if !rest.isEmpty && rest.upperBound == DepthwiseConv.blockCount(channels: channels) && 8 * b0 + 16 <= channels {
        return (pairs + 1, rest.upperBound..<rest.upperBound)
    }
    return (pairs, rest)
}

/// The tiled kernel over blocks of `V.scalarCount` channels: block b covers channels
/// `min(channelBase + V.scalarCount * b, C - V.scalarCount) ..< +V.scalarCount`.
///
/// For every band of up to eight output rows and span of columns, the input rows the span reads
/// are copied once into a channel-blocked tile: plane b holds block b's channels of every tile
/// pixel, zeros where windows leave the map. The copy reads NHWC memory in order (all channels
/// of a pixel, then the next pixel), so the prefetchers keep up; the arithmetic then reads each
/// plane at constant offsets, each load feeds the up to K windows of four (3x3) or eight (5x5,
/// with AVX-512) adjacent outputs, the taps stay in registers or L1 for the band, and borders
/// need no clipped path.
@inline(never)
func depthwiseTiledPass<A: VectorActivation, K: StaticCount, S: StaticCount, V: FloatVector>(
    _ d: DepthwiseArguments, _ act: A, _: K.Type, _: S.Type, _: V.Type, blocks: Range<Int>, channelBase: Int
) {
    let g = d.g
    let kk = K.value, s = S.value
    let sh = g.strideHeight
    let lanes = V.scalarCount
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    let lastBlock = channels - lanes
    // Eight outputs per step for 5x5 filters: with AVX-512 with taps read from memory, with 8-lane
    // kernels with a kernel row's five taps in registers (`depthwiseOct5Rows`). 3x3 filters: with
    // AVX-512 eight with their nine taps in registers (`depthwiseTileRow`; four, one FMA chain per
    // output, ran at the FMA latency on a core with two 512-bit FMA pipes, and eight with taps from
    // memory measured 1.04-1.14x the time of four on a Zen 4); with 8-lane kernels eight
    // (`depthwiseOct3Rows`, through `depthwiseTileRowOct`).
    let octs = wideVectorKernels && kk == 5
    let octs3 = kk == 3 && !wideVectorKernels
    let octs5 = kk == 5 && !wideVectorKernels
    // Bands of up to eight output rows (a map of at most eight rows in one band): a band's tile
    // repeats the K - S input rows it shares with the next band, 1.5-2x the input at four rows
    // for 5x5 filters. Eight-row bands took 0.83-0.93 of the time on 5x5 layers in networks;
    // at stride 2 four (`depthwiseStride2BandRows`).
    let bandRows = min(d.rows.count, sh == 2 && g.outputHeight > depthwiseBandRows ? depthwiseStride2BandRows : depthwiseBandRows)
    let maxTileRows = (bandRows - 1) * sh + kk
    // Spans of up to 32 outputs at stride 1, 8 at stride 2 (a multiple of 4); a row of the tile also
    // covers the reads of the last, partly stored quad or oct. At stride 2 a 32-output span's plane
    // (19 rows of 67 pixels for 5x5 filters, 81 KiB of 16-lane vectors) outgrew L1, and the copy
    // stalled on its stores: in MNASNet at 1 thread (Xeon, 48 KiB L1), 28x28x72 5x5 0.110-0.126 ->
    // 0.085-0.089 ms, 14x14x240 0.066 -> 0.053-0.059. Channel blocks are packed in groups whose
    // tiles fit the budget.
    let span = min(s == 1 ? 32 : 8, (g.outputWidth + 3) / 4 * 4)
    let tw = ((span + 7) / 8 * 8 - 1) * s + kk
    let plane = maxTileRows * tw
    let inputBytes = g.inputHeight * g.inputWidth * d.ips * 4
    let budget = inputBytes > CacheSizes.level2OrDefault ? depthwiseTileBytes : depthwiseSmallTileBytes
    let group = max(1, min(blocks.count, budget / (plane * 4 * lanes)))
    // Planes, the taps, and slack for the last quad's reads past the last plane.
    let scratchCount = group * plane + kk * kk + 8
    let scratch = UnsafeMutablePointer<V>.allocate(capacity: scratchCount)
    scratch.initialize(repeating: V(), count: scratchCount)
    defer { scratch.deallocate() }
    let taps = scratch + group * plane
    // Tile columns that may hold input values (the rest are zero).
    var dirty = 0..<0
    var oy = d.rows.lowerBound
    while oy < d.rows.upperBound {
        let outRows = min(bandRows, d.rows.upperBound - oy)
        let iy0 = oy * sh - g.padTop
        let tileRows = (outRows - 1) * sh + kk
        var x0 = 0
        while x0 < g.outputWidth {
            let x1 = min(g.outputWidth, x0 + span)
            let ix0 = x0 * s - g.padLeft
            let jlo = min(tw, max(0, -ix0))
            let jhi = max(jlo, min(tw, g.inputWidth - ix0))
            // Columns outside [jlo, jhi) must read zero: clear the ones earlier spans filled (all
            // rows and planes), so a map narrower than a span never clears anything.
            if dirty.lowerBound < jlo || dirty.upperBound > jhi {
                for r in 0..<(group * maxTileRows) {
                    let row = scratch + r * tw
                    for j in dirty.lowerBound..<max(dirty.lowerBound, min(jlo, dirty.upperBound)) { row[j] = V() }
                    for j in min(dirty.upperBound, max(jhi, dirty.lowerBound))..<dirty.upperBound { row[j] = V() }
                }
            }
            dirty = jlo..<jhi
            var b0 = blocks.lowerBound
            while b0 < blocks.upperBound {
                let b1 = min(blocks.upperBound, b0 + group)
                for r in 0..<tileRows {
                    let iy = iy0 + r
                    if iy < 0 || iy >= g.inputHeight {
                        for b in 0..<(b1 - b0) {
                            let row = scratch + b * plane + r * tw
                            for j in jlo..<jhi { row[j] = V() }
                        }
                        continue
                    }
                    let rowSource = d.input + (iy * g.inputWidth + ix0 + jlo) * d.ips
                    if b1 - b0 <= depthwiseColumnCopyBlocks {
                        for b in b0..<b1 {
                            depthwiseCopyColumns(rowSource + min(channelBase + lanes * b, lastBlock), pixelStride: d.ips,
                                                 to: scratch + (b - b0) * plane + r * tw + jlo, count: jhi - jlo)
                        }
                        continue
                    }
                    var src = rowSource
                    var j = jlo
                    while j < jhi {
                        var dst = scratch + r * tw + j
                        for b in b0..<b1 {
                            dst.pointee = V.load(src + min(channelBase + lanes * b, lastBlock))
                            dst += plane
                        }
                        src += d.ips
                        j += 1
                    }
                }
                for b in b0..<b1 {
                    let cb = min(channelBase + lanes * b, lastBlock)
                    for t in 0..<(kk * kk) { taps[t] = V.load(d.w.taps + t * cpad + cb) }
                    // The next block's taps are K x K lines, one per row of `cpad` floats: the
                    // prefetchers do not follow them, and a layer's taps come from L3 or memory
                    // (0.82-0.93 of the time on 7x7 maps with 960-1152 channels, 5x5 filters).
                    if b + 1 < blocks.upperBound {
                        let next = d.w.taps + min(channelBase + lanes * (b + 1), lastBlock)
                        for t in 0..<(kk * kk) { prefetchForRead(next + t * cpad) }
                    }
                    let bias = V.load(d.w.bias + cb)
                    let w9 = kk == 3 ? Taps9(taps) : nil
                    let count = x1 - x0
                    // 8-lane kernels: octs (`depthwiseTileRowOct`), and a last step of at most four
                    // outputs as a quad, not as an oct that computes eight (a 28-wide row: 32 outputs
                    // for 28). Same sums, same order.
                    let octCount = octs3 || octs5 ? count - (count % 8 <= 4 ? count % 8 : 0) : 0
                    for rr in 0..<outRows {
                        let out = d.output + ((oy + rr) * g.outputWidth + x0) * d.ops + cb
                        let rowTile = scratch + (b - b0) * plane + rr * sh * tw
                        if octCount > 0 {
                            depthwiseTileRowOct(rowTile, tw, UnsafePointer(taps), bias, act, K.self, S.self,
                                                out: out, ops: d.ops, count: octCount)
                        }
                        if octCount == count { continue }
                        let restTile = rowTile + octCount * s, restOut = out + octCount * d.ops
                        if let w9 {
                            depthwiseTileRow(restTile, tw, w9, bias, act, K.self, S.self, out: restOut, ops: d.ops,
                                             count: count - octCount, octTaps: nil)
                        } else {
                            depthwiseTileRow(restTile, tw, TapsInMemory(taps: taps), bias, act, K.self, S.self, out: restOut,
                                             ops: d.ops, count: count - octCount, octTaps: octs ? taps : nil)
                        }
                    }
                }
                b0 = b1
            }
            x0 = x1
        }
        oy += outRows
    }
}

/// Undilated 3x3 depthwise with stride S read straight from the NHWC input.
///
/// Interior outputs (whole window inside the input) run four at a time per channel block, taps
/// in registers, each input vector loaded once for the up to 3 windows of the four that
/// read it; the output row is cut in spans that every channel block sweeps in turn (16-lane
/// blocks with AVX-512, see `depthwiseWideSplit`). Border pixels take the clipped per-pixel path.
@inline(never)
func depthwiseDirectDriver<A: VectorActivation, S: StaticCount>(_ d: DepthwiseArguments, _ act: A, _: S.Type) {
    let g = d.g
    let kk = 3, s = S.value
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    let lastBlock = channels - 8
    let cols = g.interiorColumns
    let interiorRows = g.interiorRows
    let rowStride = g.inputWidth * d.ips
    let span = depthwiseDirectSpan(pixelStride: d.ips, stride: s, kernel: kk)
    let (pairs, rest) = depthwiseWideSplit(d)
    let wideBase = 8 * d.blocks.lowerBound
    let narrowTaps = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: kk * kk)
    narrowTaps.initialize(repeating: SIMD8(), count: kk * kk)
    defer { narrowTaps.deallocate() }
    // Room for two blocks' taps (`depthwiseBlockPairRow`).
    let wideTaps = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: 2 * kk * kk)
    wideTaps.initialize(repeating: SIMD16(), count: 2 * kk * kk)
    defer { wideTaps.deallocate() }
    let pairSpan = depthwiseDirectSpan(pixelStride: d.ips, stride: s, kernel: kk, rows: kk + s, outputRows: 2)
    // The input rows the next step reads first, and the output lines it writes, for the span
    // being computed (`DepthwiseRowPrefetch`).
    func prefetch(oy: Int, step: Int, iy: Int, ix: Int, x0: Int, count: Int) -> (input: DepthwiseRowPrefetch, output: DepthwiseRowPrefetch) {
        guard d.prefetch, oy + step < d.rows.upperBound else { return (DepthwiseRowPrefetch(), DepthwiseRowPrefetch()) }
        let first = iy + (step - 1) * g.strideHeight + kk
        let last = min(g.inputHeight, iy + (2 * step - 1) * g.strideHeight + kk)
        let mode = depthwiseRowPrefetchMode(pixelStride: d.ips)
        let input = DepthwiseRowPrefetch(start: UnsafeRawPointer(d.input + first * rowStride + ix * d.ips), mode: mode, rowStride: 4 * rowStride,
                                         rows: last - first, floatsPerRow: ((count - 1) * s + kk) * d.ips)
        let output = DepthwiseRowPrefetch(start: UnsafeRawPointer(d.output + ((oy + step) * g.outputWidth + x0) * d.ops), mode: mode,
                                          rowStride: 4 * g.outputWidth * d.ops, rows: min(step, d.rows.upperBound - oy - step),
                                          floatsPerRow: count * d.ops, forWrite: true)
        return (input, output)
    }
    var oy = d.rows.lowerBound
    while oy < d.rows.upperBound {
        defer { oy += 1 }
        // 8-lane kernels at stride 1: two interior rows at a time (`depthwiseDirectRowPair`).
        if s == 1 && !wideVectorKernels && oy + 1 < d.rows.upperBound && !cols.isEmpty
            && interiorRows.contains(oy) && interiorRows.contains(oy + 1) {
            for r in oy...(oy + 1) {
                for ox in 0..<cols.lowerBound { depthwiseBorderPixel(d, act, oy: r, ox: ox) }
            }
            let iy = oy * g.strideHeight - g.padTop
            var x0 = cols.lowerBound
            while x0 < cols.upperBound {
                let x1 = depthwiseSpanEnd(x0, pairSpan, cols.upperBound)
                let ix = x0 * s - g.padLeft
                let ahead = prefetch(oy: oy, step: 2, iy: iy, ix: ix, x0: x0, count: x1 - x0)
                for b in d.blocks {
                    ahead.input.issue(part: b - d.blocks.lowerBound, of: d.blocks.count)
                    ahead.output.issue(part: b - d.blocks.lowerBound, of: d.blocks.count)
                    let cb = min(8 * b, lastBlock)
                    for t in 0..<(kk * kk) { narrowTaps[t] = load8(d.w.taps + t * cpad + cb) }
                    depthwiseDirectRowPair(d.input + iy * rowStride + ix * d.ips + cb, rowStride, d.ips, UnsafePointer(narrowTaps),
                                           load8(d.w.bias + cb), act, S.self,
                                           out: d.output + (oy * g.outputWidth + x0) * d.ops + cb, ops: d.ops,
                                           outRowStride: g.outputWidth * d.ops, count: x1 - x0)
                }
                x0 = x1
            }
            for r in oy...(oy + 1) {
                for ox in cols.upperBound..<g.outputWidth { depthwiseBorderPixel(d, act, oy: r, ox: ox) }
            }
            oy += 1
            continue
        }
        if !interiorRows.contains(oy) || cols.isEmpty {
            for ox in 0..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
            continue
        }
        for ox in 0..<cols.lowerBound { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        let iy = oy * g.strideHeight - g.padTop
        var x0 = cols.lowerBound
        while x0 < cols.upperBound {
            let x1 = depthwiseSpanEnd(x0, span, cols.upperBound)
            let ix = x0 * s - g.padLeft
            let ahead = prefetch(oy: oy, step: 1, iy: iy, ix: ix, x0: x0, count: x1 - x0)
            let parts = pairs + rest.count
            // The two loops stay written out: one generic local function for both measured 5% slower.
            var pair = 0
            while pair < pairs {
                let cb = min(wideBase + 16 * pair, channels - 16)
                let src = d.input + iy * rowStride + ix * d.ips + cb
                let dst = d.output + (oy * g.outputWidth + x0) * d.ops + cb
                if s == 1 && depthwiseBlockPairs && pair + 1 < pairs {
                    for part in pair...(pair + 1) {
                        ahead.input.issue(part: part, of: parts)
                        ahead.output.issue(part: part, of: parts)
                    }
                    let second = min(wideBase + 16 * (pair + 1), channels - 16)
                    let pairTaps = DepthwiseBlockPair(d.w, first: cb, second: second, taps: wideTaps)
                    pairTaps.row(src, rowStride, d.ips, act, S.self, out: dst, ops: d.ops, count: x1 - x0)
                    pair += 2
                } else {
                    ahead.input.issue(part: pair, of: parts)
                    ahead.output.issue(part: pair, of: parts)
                    for t in 0..<(kk * kk) { wideTaps[t] = load16(d.w.taps + t * cpad + cb) }
                    depthwiseDirectRow(src, rowStride, d.ips, Taps9(wideTaps), load16(d.w.bias + cb), act, Count3.self, S.self,
                                       out: dst, ops: d.ops, count: x1 - x0)
                    pair += 1
                }
            }
            var b = rest.lowerBound
            while b < rest.upperBound {
                let cb = min(8 * b, lastBlock)
                let src = d.input + iy * rowStride + ix * d.ips + cb
                let dst = d.output + (oy * g.outputWidth + x0) * d.ops + cb
                if depthwiseNarrowPairMode > (s == 2 ? 0 : 1) && b + 1 < rest.upperBound && x1 - x0 >= 4 {
                    for part in b...(b + 1) {
                        ahead.input.issue(part: pairs + part - rest.lowerBound, of: parts)
                        ahead.output.issue(part: pairs + part - rest.lowerBound, of: parts)
                    }
                    let second = min(8 * (b + 1), lastBlock) - cb
                    depthwiseNarrowPairRow(src, rowStride, d.ips, second, d.w.taps + cb, cpad, load8(d.w.bias + cb),
                                           load8(d.w.bias + cb + second), act, S.self, out: dst, ops: d.ops, count: x1 - x0)
                    b += 2
                    continue
                }
                ahead.input.issue(part: pairs + b - rest.lowerBound, of: parts)
                ahead.output.issue(part: pairs + b - rest.lowerBound, of: parts)
                for t in 0..<(kk * kk) { narrowTaps[t] = load8(d.w.taps + t * cpad + cb) }
                depthwiseDirectRow(src, rowStride, d.ips, Taps9(narrowTaps), load8(d.w.bias + cb), act, Count3.self, S.self,
                                   out: dst, ops: d.ops, count: x1 - x0)
                b += 1
            }
            x0 = x1
        }
        for ox in cols.upperBound..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
    }
}

/// Undilated 3x3 depthwise at stride S read in place with 16-lane blocks, channel block outer and
/// output rows inner: a block's windows over a span of columns read three rows, 3 - S of which the
/// next output row reads again, and the span's lines of one block (a 64-byte line per pixel) stay
/// in L1 between the rows. Row order (`depthwiseDirectDriver`) sweeps every block of a span before
/// the next row, so a row's lines of all blocks (56x56x72: 53 KB) outgrow L1 and each input row
/// came from L2 three times; the tiles (`depthwiseTiledDriver`) copy each line and wait on the
/// copy. Border pixels take the clipped path.
@inline(never)
func depthwiseBlockOuterDriver<A: VectorActivation, S: StaticCount>(_ d: DepthwiseArguments, _ act: A, _: S.Type) {
    let g = d.g
    let kk = 3, s = S.value
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    let cols = g.interiorColumns
    let interiorRows = g.interiorRows
    for oy in d.rows {
        if !interiorRows.contains(oy) || cols.isEmpty {
            for ox in 0..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        } else {
            for ox in 0..<cols.lowerBound { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
            for ox in cols.upperBound..<g.outputWidth { depthwiseBorderPixel(d, act, oy: oy, ox: ox) }
        }
    }
    let rows = d.rows.clamped(to: interiorRows)
    if rows.isEmpty || cols.isEmpty { return }
    let rowStride = g.inputWidth * d.ips
    let span = depthwiseBlockOuterSpan(pixelStride: d.ips, stride: s, kernel: kk)
    // Room for two blocks' taps (`depthwiseBlockPairRow`).
    let taps = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: 2 * kk * kk)
    taps.initialize(repeating: SIMD16(), count: 2 * kk * kk)
    defer { taps.deallocate() }
    // 16-channel blocks; the last one overlaps its neighbour when C is not a multiple of 16.
    let blocks = (channels + 15) / 16
    let pairs = s == 1 && depthwiseBlockPairs
    var x0 = cols.lowerBound
    while x0 < cols.upperBound {
        let x1 = min(cols.upperBound, x0 + span)
        let ix = x0 * s - g.padLeft
        var b = 0
        while b < blocks {
            let cb = min(16 * b, channels - 16)
            if pairs && b + 1 < blocks {
                let pairTaps = DepthwiseBlockPair(d.w, first: cb, second: min(16 * (b + 1), channels - 16), taps: taps)
                for oy in rows {
                    pairTaps.row(d.input + (oy * g.strideHeight - g.padTop) * rowStride + ix * d.ips + cb, rowStride, d.ips, act, S.self,
                                 out: d.output + (oy * g.outputWidth + x0) * d.ops + cb, ops: d.ops, count: x1 - x0)
                }
                b += 2
            } else {
                for t in 0..<(kk * kk) { taps[t] = load16(d.w.taps + t * cpad + cb) }
                let bias = load16(d.w.bias + cb)
                for oy in rows {
                    depthwiseDirectRow(d.input + (oy * g.strideHeight - g.padTop) * rowStride + ix * d.ips + cb, rowStride, d.ips,
                                       Taps9(taps), bias, act, Count3.self, S.self,
                                       out: d.output + (oy * g.outputWidth + x0) * d.ops + cb, ops: d.ops, count: x1 - x0)
                }
                b += 1
            }
        }
        x0 = x1
    }
}

/// Whether the in-place 3x3 paths (block-outer and row order) run 16-lane blocks in pairs
/// (`depthwiseBlockPairRow`);
/// `KITE_DW_BLOCK_PAIRS=0` turns it off (A/B runs); tests set it directly.
nonisolated(unsafe) var depthwiseBlockPairs = environmentValue("KITE_DW_BLOCK_PAIRS") != "0"

/// The taps and biases of two 16-channel blocks for `depthwiseBlockPairRow`, and a row of them.
struct DepthwiseBlockPair {
    /// Floats from the first block's channels to the second's.
    let second: Int
    /// 18 taps: the first block's nine, then the second's.
    let taps: UnsafeMutablePointer<SIMD16<Float>>
    let bias0: SIMD16<Float>
    let bias1: SIMD16<Float>

    /// Loads blocks at channels `first` and `second` (absolute) of `w` into `taps` (room for 18).
    @inline(__always)
    init(_ w: PackedDepthwiseWeights, first: Int, second: Int, taps: UnsafeMutablePointer<SIMD16<Float>>) {
        self.second = second - first
        self.taps = taps
        for t in 0..<9 {
            taps[t] = load16(w.taps + t * w.paddedChannels + first)
            taps[9 + t] = load16(w.taps + t * w.paddedChannels + second)
        }
        bias0 = load16(w.bias + first)
        bias1 = load16(w.bias + second)
    }

    /// `count` interior outputs of one row (`depthwiseDirectRow`'s arguments): quads of both
    /// blocks, then the last outputs block by block.
    @inline(__always)
    func row<A: VectorActivation, S: StaticCount>(
        _ src: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ act: A, _: S.Type,
        out: UnsafeMutablePointer<Float>, ops: Int, count: Int
    ) {
        let done = depthwiseBlockPairRow(src, rowStride, ips, second, UnsafePointer(taps), bias0, bias1, act,
                                         S.self, out: out, ops: ops, count: count)
        if done == count { return }
        let input = src + done * S.value * ips
        depthwiseDirectRow(input, rowStride, ips, Taps9(taps), bias0, act, Count3.self, S.self,
                           out: out + done * ops, ops: ops, count: count - done)
        depthwiseDirectRow(input + second, rowStride, ips, Taps9(taps + 9), bias1, act, Count3.self, S.self,
                           out: out + done * ops + second, ops: ops, count: count - done)
    }
}

/// Two 16-channel blocks `second` floats apart (16, or less where the last block overlaps its
/// neighbour) of one interior row at stride S, four outputs at a time: each pixel's two blocks are
/// 128 adjacent bytes, read and written together. Returns how many outputs it computed (a
/// multiple of four); the caller finishes the rest.
///
/// Taps `0..<9` are the first block's, `9..<18` the second's: with the accumulators, biases and
/// inputs about 30 of the 32 vector registers, and eight FMA chains. One block at a time wrote
/// each output line apart from its neighbour block's, a whole block sweep later. On a Xeon
/// (48 KiB L1, 2 MiB L2), 1 thread, alternated profiles, medians of seven: Xception's 19x19x728
/// layers 0.12-0.15 -> 0.096-0.12 ms (its depthwise layers 6.80 -> 6.04 ms in all), MobileNetV2's
/// 28x28x192 and 14x14x576 ones 0.083 -> 0.063 and 0.039 -> 0.031, MobileNetV1's 112x112x32
/// 0.186 -> 0.159; alone with warm caches 56x56x64 0.078 -> 0.064. At stride 2 pairs took 0.93-0.96
/// of the time alone but 1.06-1.08 in MobileNetV1, so stride 2 keeps single blocks.
@inline(never)
func depthwiseBlockPairRow<A: VectorActivation, S: StaticCount>(
    _ src: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ second: Int, _ taps: UnsafePointer<SIMD16<Float>>,
    _ bias0: SIMD16<Float>, _ bias1: SIMD16<Float>, _ act: A, _: S.Type, out: UnsafeMutablePointer<Float>, ops: Int, count: Int
) -> Int {
    let s = S.value
    let u0 = taps[0], u1 = taps[1], u2 = taps[2], u3 = taps[3], u4 = taps[4], u5 = taps[5], u6 = taps[6], u7 = taps[7], u8 = taps[8]
    let v0 = taps[9], v1 = taps[10], v2 = taps[11], v3 = taps[12], v4 = taps[13], v5 = taps[14], v6 = taps[15], v7 = taps[16], v8 = taps[17]
    var p = src
    var o = out
    var x = 0
    while x + 4 <= count {
        var a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0
        var b0 = bias1, b1 = bias1, b2 = bias1, b3 = bias1
        depthwiseQuad3Row(p, ips, s, u0, u1, u2, &a0, &a1, &a2, &a3)
        depthwiseQuad3Row(p + second, ips, s, v0, v1, v2, &b0, &b1, &b2, &b3)
        depthwiseQuad3Row(p + rowStride, ips, s, u3, u4, u5, &a0, &a1, &a2, &a3)
        depthwiseQuad3Row(p + rowStride + second, ips, s, v3, v4, v5, &b0, &b1, &b2, &b3)
        depthwiseQuad3Row(p + 2 * rowStride, ips, s, u6, u7, u8, &a0, &a1, &a2, &a3)
        depthwiseQuad3Row(p + 2 * rowStride + second, ips, s, v6, v7, v8, &b0, &b1, &b2, &b3)
        depthwiseStoreBlockPairQuad(a0, a1, a2, a3, b0, b1, b2, b3, act, o, ops: ops, second: second)
        p += 4 * s * ips
        o += 4 * ops
        x += 4
    }
    return x
}

/// Output columns per span of the block-outer order: the longest of 64, 32, 16 and 8 whose lines
/// for one block (K rows of S x (span - 1) + K pixels, and the span's outputs) fit 8 ways of the L1
/// sets a pixel stride reaches (see `depthwiseDirectSpan`).
@inline(__always)
func depthwiseBlockOuterSpan(pixelStride: Int, stride: Int, kernel: Int) -> Int {
    let bytes = pixelStride * 4
    let sets = bytes % 64 == 0 ? 64 >> min(6, (bytes / 64).trailingZeroBitCount) : 64
    var span = 64
    while span > 8 && kernel * (stride * (span - 1) + kernel) + span > 8 * sets { span /= 2 }
    return span
}

/// Whether `DepthwiseConv.run`'s `fromMemory` takes effect; `KITE_DW_PREFETCH=0` in the
/// environment turns it off (for A/B measurements).
nonisolated(unsafe) var depthwisePrefetch = environmentValue("KITE_DW_PREFETCH") != "0"

/// What the in-place path's row requests (`DepthwiseRowPrefetch`) do for an input `fromMemory`,
/// when `KITE_DW_ROW_PREFETCH` sets it (A/B runs): 0 none (the layer still reads in place),
/// 1 input lines into L1, 2 into L2. Otherwise `depthwiseRowPrefetchMode(pixelStride:)` decides.
nonisolated(unsafe) var depthwiseRowPrefetchOverride = Int(environmentValue("KITE_DW_ROW_PREFETCH") ?? "").map { max(0, $0) }

/// Row requests into L1, except for pixels wider than 512 floats on a Zen 3 or later, which read
/// in place without them. There, 1 thread, medians of alternated profiles, in place with against
/// without: Xception's 24 19x19x728 layers 3.97-4.30 against 3.21-3.40 ms in all (into L2 instead:
/// 3.85-3.94), MobileNetV3-Large's 14x14x672 0.073-0.075 against 0.063-0.066; narrow pixels need
/// them (147x147x64 0.76-0.86 against 1.11-1.21, 74x74x128 0.38-0.43 against 0.50-0.59).
@inline(__always)
func depthwiseRowPrefetchMode(pixelStride: Int) -> Int {
    if let forced = depthwiseRowPrefetchOverride { return forced }
    return CPUFeatures.zen3OrLater && pixelStride > 512 ? 0 : 1
}

/// Whether stride-2 layers take the prefetches too. On a Zen 3, 1 thread, single layers from L3
/// took 112x112x64 0.131-0.141 ms without against 0.171-0.174 with them, 56x56x128 0.055
/// against 0.074 (onnxruntime: 0.088 and 0.051), while stride 1 gained (56x56x128 0.176-0.178
/// against 0.186-0.190). `KITE_DW_S2_PREFETCH` (0 or 1) sets it for A/B runs.
nonisolated(unsafe) var depthwiseStride2Prefetch: Bool = {
    if let text = environmentValue("KITE_DW_S2_PREFETCH") { return text != "0" }
    return !CPUFeatures.zen3OrLater
}()

/// A fixed span (output columns) for the in-place stride-2 path with 8-lane blocks; 0 keeps
/// `depthwiseDirectSpan`'s choice. `KITE_DW_S2_SPAN` sets it (A/B runs only).
nonisolated(unsafe) var depthwiseStride2Span = Int(environmentValue("KITE_DW_S2_SPAN") ?? "").map { max(0, $0) } ?? 0

/// Software prefetch of the lines the in-place path's next step (output row or row pair) reads
/// and this one does not (its new input rows) or writes (its outputs), over the current span's
/// pixels, spread evenly over the span's channel blocks so that the requests overlap the arithmetic.
///
/// Each channel block reads and writes 32 or 64 bytes of every pixel, so a block's accesses stride
/// by the pixel (256 bytes to 2.9 KB in the networks) and jump between rows: the hardware
/// prefetchers do not follow that. An input coming from L3 or memory (the producer's output was
/// larger than L2) was read at the latency of each line, and every output line, written in
/// 32-byte pieces, was first fetched at that latency too. On a Zen 1, 1 thread, in Xception:
/// 147x147x64 2.36-2.61 -> 1.66-1.78 ms, 19x19x728 0.45-0.80 -> 0.38-0.58 ms, the layers' sum
/// 18.0-22.7 -> 14.0-16.9 ms. Inputs in cache (the bands of streamed blocks) lost 3-5%.
struct DepthwiseRowPrefetch {
    var start: UnsafeRawPointer? = nil
    /// `depthwiseRowPrefetchMode(pixelStride:)`: 0 no requests, 1 into L1, 2 into L2.
    var mode = 1
    /// Bytes between rows.
    var rowStride = 0
    var rows = 0
    var floatsPerRow = 0
    var forWrite = false

    /// 64-byte steps from a row's start that cover its floats (+ 1: the start need not be at a line's start).
    var linesPerRow: Int { floatsPerRow > 0 ? (floatsPerRow + 15) / 16 + 1 : 0 }

    /// The steps of every row that part `part` of `parts` requests: the parts tile `0..<linesPerRow`.
    @inline(__always)
    func lines(part: Int, of parts: Int) -> Range<Int> {
        let lines = linesPerRow
        return (part * lines / parts)..<((part + 1) * lines / parts)
    }

    /// Requests part `part` of `parts` of every row's lines.
    @inline(__always)
    func issue(part: Int, of parts: Int) {
        guard let start, rows > 0, mode > 0 else { return }
        let range = lines(part: part, of: parts)
        for r in 0..<rows {
            let row = start + r * rowStride
            if forWrite {
                for line in range { prefetchForWrite(row + 64 * line) }
            } else if mode == 2 {
                for line in range { prefetchToLevel2(row + 64 * line) }
            } else {
                for line in range { prefetchForRead(row + 64 * line) }
            }
        }
    }
}

/// Output columns per span of the in-place path, whose input rows every channel block of the span
/// reads in turn.
///
/// With 16-lane blocks (AVX-512): 32 (8, 16 and 32 measured alike on MobileNet shapes on a Zen 4,
/// 32 a little ahead). With 8-lane blocks each 64-byte line is read by two blocks, so the span's
/// lines must stay in L1 between them, and a pixel stride of a multiple of 128 bytes maps the
/// pixels to few of L1's 64 sets (128 channels: 8 sets, 256: 4; a row stride of a multiple of
/// 4 KiB puts the rows on the same sets too), so a long span evicts its own lines. The span is
/// then the longest of 32, 16 and 8 (else 4) whose lines (K rows of S x span + K - 1 pixels, and
/// the span's outputs) fit the 8 ways of the sets they map to. On a Zen 2 (AVX2), 1 thread, warm
/// caches: 56x56x128 at stride 2 0.104 ms against 0.144 at span 32, 28x28x256 0.063 against
/// 0.090, 112x112x64 0.17 against 0.22; pixel strides spread over all sets keep 32.
/// `rows` is the number of input rows a span reads (K by default; K + 1 for a stride-1 row
/// pair) and `outputRows` the output rows it writes (2 for a row pair).
@inline(__always)
func depthwiseDirectSpan(pixelStride: Int, stride: Int, kernel: Int, rows: Int? = nil, outputRows: Int = 1) -> Int {
    if wideVectorKernels { return 32 }
    if stride == 2 && depthwiseStride2Span > 0 { return depthwiseStride2Span }
    // Pixels k lines apart reach 64 / gcd(64, k) of the 64 sets.
    let bytes = pixelStride * 4
    let sets = bytes % 64 == 0 ? 64 >> min(6, (bytes / 64).trailingZeroBitCount) : 64
    let inputRows = rows ?? kernel
    var span = 32
    while span > 4 && inputRows * (stride * span + kernel - 1) + outputRows * span > 8 * sets { span /= 2 }
    return span
}

/// `count` interior outputs of one row for one channel block, read in place: input column j of
/// kernel row ky is at `src + ky * rowStride + j * ips`. Four outputs at a time, then singles;
/// nothing is read outside the windows of the `count` outputs.
@inline(__always)
func depthwiseDirectRow<A: VectorActivation, W: DepthwiseTaps, K: StaticCount, S: StaticCount>(
    _ src: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ w: W, _ bias: W.V, _ act: A,
    _: K.Type, _: S.Type, out: UnsafeMutablePointer<Float>, ops: Int, count: Int
) {
    typealias V = W.V
    let kk = K.value, s = S.value
    var p = src
    var o = out
    var x = 0
    // 16-lane blocks: eight outputs at a time, eight FMA chains. Four chains (one per output)
    // ran at the FMA latency on a Xeon with two 512-bit FMA pipes: 56x56x72 at stride 1 0.107 ms
    // with warm caches, 40 GFLOP/s. The taps stay in registers (9 + 8 accumulators of 32).
    if V.scalarCount == 16 && kk == 3 {
        while x + 8 <= count {
            var acc = DepthwiseOct(bias)
            depthwiseOct3Row(p, ips, s, w[0], w[1], w[2], &acc)
            depthwiseOct3Row(p + rowStride, ips, s, w[3], w[4], w[5], &acc)
            depthwiseOct3Row(p + 2 * rowStride, ips, s, w[6], w[7], w[8], &acc)
            acc.store(act, o, ops, count: 8)
            p += 8 * s * ips
            o += 8 * ops
            x += 8
        }
    }
    while x + 4 <= count {
        depthwiseDirectQuad(p, rowStride, ips, w, bias, act, K.self, S.self, out: o, ops: ops)
        p += 4 * s * ips
        o += 4 * ops
        x += 4
    }
    if x < count && count >= 4 {
        // The last one to three outputs: a quad ending at the last output (`depthwiseSpanEnd`).
        let back = x + 4 - count
        depthwiseDirectQuad(p - back * s * ips, rowStride, ips, w, bias, act, K.self, S.self, out: o - back * ops, ops: ops)
        x = count
    }
    while x < count {
        var a0 = bias
        for ky in 0..<kk {
            let row = p + ky * rowStride
            for kx in 0..<kk { a0 = a0.addingProduct(V.load(row + kx * ips), w[ky * kk + kx]) }
        }
        a0.activated(act).store(o)
        p += s * ips
        o += ops
        x += 1
    }
}

/// Four adjacent interior outputs of one row and channel block (`depthwiseDirectRow`'s arguments),
/// input column j of kernel row ky at `p + ky * rowStride + j * ips`.
@inline(__always)
func depthwiseDirectQuad<A: VectorActivation, W: DepthwiseTaps, K: StaticCount, S: StaticCount>(
    _ p: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ w: W, _ bias: W.V, _ act: A,
    _: K.Type, _: S.Type, out o: UnsafeMutablePointer<Float>, ops: Int
) {
    typealias V = W.V
    let kk = K.value, s = S.value
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias
    for ky in 0..<kk {
        let row = p + ky * rowStride
        let t0 = ky * kk
        let n = 3 * s + kk
        depthwiseQuadTap(V.load(row), 0, t0, kk, s, w, &a0, &a1, &a2, &a3)
        depthwiseQuadTap(V.load(row + ips), 1, t0, kk, s, w, &a0, &a1, &a2, &a3)
        depthwiseQuadTap(V.load(row + 2 * ips), 2, t0, kk, s, w, &a0, &a1, &a2, &a3)
        depthwiseQuadTap(V.load(row + 3 * ips), 3, t0, kk, s, w, &a0, &a1, &a2, &a3)
        depthwiseQuadTap(V.load(row + 4 * ips), 4, t0, kk, s, w, &a0, &a1, &a2, &a3)
        depthwiseQuadTap(V.load(row + 5 * ips), 5, t0, kk, s, w, &a0, &a1, &a2, &a3)
        if n > 6 { depthwiseQuadTap(V.load(row + 6 * ips), 6, t0, kk, s, w, &a0, &a1, &a2, &a3) }
        if n > 7 { depthwiseQuadTap(V.load(row + 7 * ips), 7, t0, kk, s, w, &a0, &a1, &a2, &a3) }
        if n > 8 { depthwiseQuadTap(V.load(row + 8 * ips), 8, t0, kk, s, w, &a0, &a1, &a2, &a3) }
        if n > 9 { depthwiseQuadTap(V.load(row + 9 * ips), 9, t0, kk, s, w, &a0, &a1, &a2, &a3) }
        if n > 10 { depthwiseQuadTap(V.load(row + 10 * ips), 10, t0, kk, s, w, &a0, &a1, &a2, &a3) }
    }
    a0.activated(act).store(o)
    a1.activated(act).store(o + ops)
    a2.activated(act).store(o + 2 * ops)
    a3.activated(act).store(o + 3 * ops)
}

/// The end of the span of up to `span` outputs from `x0` in a row of interior outputs ending at
/// `end`: the rest of the row when fewer than four would be left after it, so that no span is too
/// short for a quad. A span's last one to three outputs then run as a quad ending at its last
/// output, which recomputes (and rewrites with the same values) up to three outputs of the quad
/// before, where single outputs would each run one FMA chain at the FMA latency. On a Zen 3
/// (AVX2), 1 thread, single-layer models (medians of five alternated profiles): 112x112x64 at
/// stride 2 0.141 -> 0.140 ms, 56x56x128 at stride 2 0.065 -> 0.058, 112x112x32 at stride 1 level;
/// MobileNetV1's depthwise layers level. (A first version that stepped back inside the quad loop
/// made the compiler spill the row pairs' accumulators: 112x112x32 0.21 -> 0.25 ms.)
@inline(__always)
func depthwiseSpanEnd(_ x0: Int, _ span: Int, _ end: Int) -> Int {
    end - (x0 + span) < 4 ? end : x0 + span
}

/// Filter taps of one channel block, tap t = ky * K + kx.
protocol DepthwiseTaps {
    associatedtype V: FloatVector
    subscript(_ t: Int) -> V { get }
}

/// 3x3 taps held in registers.
struct Taps9<V: FloatVector>: DepthwiseTaps {
    let w0, w1, w2, w3, w4, w5, w6, w7, w8: V
    @inline(__always) init(_ p: UnsafePointer<V>) {
        w0 = p[0]; w1 = p[1]; w2 = p[2]; w3 = p[3]; w4 = p[4]; w5 = p[5]; w6 = p[6]; w7 = p[7]; w8 = p[8]
    }
    @inline(__always) init(_ p: UnsafeMutablePointer<V>) { self.init(UnsafePointer(p)) }
    @inline(__always) subscript(_ t: Int) -> V {
        switch t {
        case 0: w0
        case 1: w1
        case 2: w2
        case 3: w3
        case 4: w4
        case 5: w5
        case 6: w6
        case 7: w7
        default: w8
        }
    }
}

/// Larger kernels: taps read from a contiguous copy (memory operands of the FMAs).
struct TapsInMemory<V: FloatVector>: DepthwiseTaps {
    let taps: UnsafeMutablePointer<V>
    @inline(__always) subscript(_ t: Int) -> V { taps[t] }
}

/// `count` outputs of one tile row (`tw` vectors per tile row): eight at a time while more than
/// four are left when `octTaps` holds the taps, then four at a time. The last oct or quad stores
/// only its valid outputs; the tile row is wide enough for its reads.
@inline(__always)
func depthwiseTileRow<A: VectorActivation, W: DepthwiseTaps, K: StaticCount, S: StaticCount>(
    _ tile: UnsafeMutablePointer<W.V>, _ tw: Int, _ w: W, _ bias: W.V, _ act: A, _: K.Type, _: S.Type,
    out: UnsafeMutablePointer<Float>, ops: Int, count: Int, octTaps: UnsafeMutablePointer<W.V>?
) {
    let kk = K.value, s = S.value
    var tp = UnsafePointer(tile)
    var o = out
    var x = 0
    // Eight outputs at a time while more than four are left (the tile covers a last, partial oct).
    // (Taps read from memory: with the taps in registers, the switch that selects them kept the
    // tap function from inlining into the eight-output loop.)
    while let octTaps, count - x > 4 {
        var acc = DepthwiseOct(bias)
        for ky in 0..<kk {
            depthwiseOctRow(UnsafeRawPointer(tp + ky * tw).assumingMemoryBound(to: Float.self), W.V.scalarCount,
                            ky * kk, kk, s, TapsInMemory(taps: octTaps), &acc)
        }
        acc.store(act, o, ops, count: min(8, count - x))
        tp += 8 * s
        o += 8 * ops
        x += 8
    }
    // 16-lane 3x3: whole octs with the taps in registers, for eight FMA chains (see
    // `depthwiseDirectRow`).
    if octTaps == nil && kk == 3 && W.V.scalarCount == 16 {
        while count - x >= 8 {
            var acc = DepthwiseOct(bias)
            let row = UnsafeRawPointer(tp).assumingMemoryBound(to: Float.self)
            let rowFloats = tw * W.V.scalarCount
            depthwiseOct3Row(row, W.V.scalarCount, s, w[0], w[1], w[2], &acc)
            depthwiseOct3Row(row + rowFloats, W.V.scalarCount, s, w[3], w[4], w[5], &acc)
            depthwiseOct3Row(row + 2 * rowFloats, W.V.scalarCount, s, w[6], w[7], w[8], &acc)
            acc.store(act, o, ops, count: 8)
            tp += 8 * s
            o += 8 * ops
            x += 8
        }
    }
    while x < count {
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        for ky in 0..<kk {
            let row = tp + ky * tw
            let t0 = ky * kk
            // Written out: the loop over the 3 S + K columns did not always unroll (K = 5, S = 2
            // kept a branch per tap), and the guards below fold away only in straight-line code.
            let n = 3 * s + kk
            depthwiseQuadTap(row[0], 0, t0, kk, s, w, &a0, &a1, &a2, &a3)
            depthwiseQuadTap(row[1], 1, t0, kk, s, w, &a0, &a1, &a2, &a3)
            depthwiseQuadTap(row[2], 2, t0, kk, s, w, &a0, &a1, &a2, &a3)
            depthwiseQuadTap(row[3], 3, t0, kk, s, w, &a0, &a1, &a2, &a3)
            depthwiseQuadTap(row[4], 4, t0, kk, s, w, &a0, &a1, &a2, &a3)
            depthwiseQuadTap(row[5], 5, t0, kk, s, w, &a0, &a1, &a2, &a3)
            if n > 6 { depthwiseQuadTap(row[6], 6, t0, kk, s, w, &a0, &a1, &a2, &a3) }
            if n > 7 { depthwiseQuadTap(row[7], 7, t0, kk, s, w, &a0, &a1, &a2, &a3) }
            if n > 8 { depthwiseQuadTap(row[8], 8, t0, kk, s, w, &a0, &a1, &a2, &a3) }
            if n > 9 { depthwiseQuadTap(row[9], 9, t0, kk, s, w, &a0, &a1, &a2, &a3) }
            if n > 10 { depthwiseQuadTap(row[10], 10, t0, kk, s, w, &a0, &a1, &a2, &a3) }
        }
        let left = count - x
        a0.activated(act).store(o)
        if left >= 4 {
            a1.activated(act).store(o + ops)
            a2.activated(act).store(o + 2 * ops)
            a3.activated(act).store(o + 3 * ops)
        } else {
            if left > 1 { a1.activated(act).store(o + ops) }
            if left > 2 { a2.activated(act).store(o + 2 * ops) }
        }
        tp += 4 * s
        o += 4 * ops
        x += 4
    }
}

/// Input column j of a kernel row (taps t0 ..< t0 + K) feeds window o of four at tap j - s o.
@inline(__always)
func depthwiseQuadTap<W: DepthwiseTaps>(
    _ v: W.V, _ j: Int, _ t0: Int, _ kk: Int, _ s: Int, _ w: W,
    _ a0: inout W.V, _ a1: inout W.V, _ a2: inout W.V, _ a3: inout W.V
) {
    if j < kk { a0 = a0.addingProduct(v, w[t0 + j]) }
    if j >= s && j - s < kk { a1 = a1.addingProduct(v, w[t0 + j - s]) }
    if j >= 2 * s && j - 2 * s < kk { a2 = a2.addingProduct(v, w[t0 + j - 2 * s]) }
    if j >= 3 * s && j - 3 * s < kk { a3 = a3.addingProduct(v, w[t0 + j - 3 * s]) }
}

/// Eight adjacent outputs of one row and channel block: with 32 vector registers, eight
/// independent FMA chains hide the FMA latency that four (one chain per output) leave exposed,
/// and each tap loaded feeds eight FMAs.
struct DepthwiseOct<V: FloatVector> {
    var a0, a1, a2, a3, a4, a5, a6, a7: V
    @inline(__always) init(_ v: V) { a0 = v; a1 = v; a2 = v; a3 = v; a4 = v; a5 = v; a6 = v; a7 = v }

    /// Stores the first `count` (1...8) outputs, `ops` floats apart.
    @inline(__always)
    func store<A: VectorActivation>(_ act: A, _ o: UnsafeMutablePointer<Float>, _ ops: Int, count: Int) {
        a0.activated(act).store(o)
        if count > 1 { a1.activated(act).store(o + ops) }
        if count > 2 { a2.activated(act).store(o + 2 * ops) }
        if count > 3 { a3.activated(act).store(o + 3 * ops) }
        if count > 4 { a4.activated(act).store(o + 4 * ops) }
        if count > 5 { a5.activated(act).store(o + 5 * ops) }
        if count > 6 { a6.activated(act).store(o + 6 * ops) }
        if count > 7 { a7.activated(act).store(o + 7 * ops) }
    }
}

/// Input column j of a kernel row (taps t0 ..< t0 + K) feeds window o of eight at tap j - s o.
@inline(__always)
func depthwiseOctTap<W: DepthwiseTaps>(_ v: W.V, _ j: Int, _ t0: Int, _ kk: Int, _ s: Int, _ w: W, _ a: inout DepthwiseOct<W.V>) {
    if j < kk { a.a0 = a.a0.addingProduct(v, w[t0 + j]) }
    if j >= s && j - s < kk { a.a1 = a.a1.addingProduct(v, w[t0 + j - s]) }
    if j >= 2 * s && j - 2 * s < kk { a.a2 = a.a2.addingProduct(v, w[t0 + j - 2 * s]) }
    if j >= 3 * s && j - 3 * s < kk { a.a3 = a.a3.addingProduct(v, w[t0 + j - 3 * s]) }
    if j >= 4 * s && j - 4 * s < kk { a.a4 = a.a4.addingProduct(v, w[t0 + j - 4 * s]) }
    if j >= 5 * s && j - 5 * s < kk { a.a5 = a.a5.addingProduct(v, w[t0 + j - 5 * s]) }
    if j >= 6 * s && j - 6 * s < kk { a.a6 = a.a6.addingProduct(v, w[t0 + j - 6 * s]) }
    if j >= 7 * s && j - 7 * s < kk { a.a7 = a.a7.addingProduct(v, w[t0 + j - 7 * s]) }
}

/// All taps of one kernel row for eight outputs, input column j at `row + j * step` (7 S + K columns).
@inline(__always)
func depthwiseOctRow<W: DepthwiseTaps>(
    _ row: UnsafePointer<Float>, _ step: Int, _ t0: Int, _ kk: Int, _ s: Int, _ w: W, _ a: inout DepthwiseOct<W.V>
) {
    typealias V = W.V
    // Written out for the same reason as the quads': the guards fold only in straight-line code.
    let n = 7 * s + kk
    depthwiseOctTap(V.load(row), 0, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + step), 1, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 2 * step), 2, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 3 * step), 3, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 4 * step), 4, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 5 * step), 5, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 6 * step), 6, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 7 * step), 7, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 8 * step), 8, t0, kk, s, w, &a)
    depthwiseOctTap(V.load(row + 9 * step), 9, t0, kk, s, w, &a)
    if n > 10 { depthwiseOctTap(V.load(row + 10 * step), 10, t0, kk, s, w, &a) }
    if n > 11 { depthwiseOctTap(V.load(row + 11 * step), 11, t0, kk, s, w, &a) }
    if n > 12 { depthwiseOctTap(V.load(row + 12 * step), 12, t0, kk, s, w, &a) }
    if n > 13 { depthwiseOctTap(V.load(row + 13 * step), 13, t0, kk, s, w, &a) }
    if n > 14 { depthwiseOctTap(V.load(row + 14 * step), 14, t0, kk, s, w, &a) }
    if n > 15 { depthwiseOctTap(V.load(row + 15 * step), 15, t0, kk, s, w, &a) }
    if n > 16 { depthwiseOctTap(V.load(row + 16 * step), 16, t0, kk, s, w, &a) }
    if n > 17 { depthwiseOctTap(V.load(row + 17 * step), 17, t0, kk, s, w, &a) }
    if n > 18 { depthwiseOctTap(V.load(row + 18 * step), 18, t0, kk, s, w, &a) }
}

/// Taps `[lo, hi)` of one dimension whose input coordinate `base + t * dilation` is in `[0, size)`.
@inline(__always)
func validTaps(base: Int, dilation: Int, kernel: Int, size: Int) -> Range<Int> {
    var lo = 0
    if base < 0 { lo = (-base + dilation - 1) / dilation }
    var hi = kernel
    let last = base + (kernel - 1) * dilation
    if last >= size { hi = kernel - ((last - size) / dilation + 1) }
    lo = min(lo, kernel)
    return lo..<max(lo, hi)
}

/// One output pixel with a clipped window (all channel blocks).
///
/// Four channel vectors at a time (16-lane with AVX-512), so that four independent FMA chains
/// overlap: one chain per 8 channels ran at the FMA latency, and on a Xeon (two 512-bit FMA
/// pipes) the border pixels of a 56x56x72 layer took a quarter of its time for 7% of its pixels.
@inline(never)
func depthwiseBorderPixel<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A, oy: Int, ox: Int) {
    let g = d.g
    let iy0 = oy * g.strideHeight - g.padTop
    let ix0 = ox * g.strideWidth - g.padLeft
    let kys = validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
    let kxs = validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
    let channels = d.w.channels
    let out = d.output + (oy * g.outputWidth + ox) * d.ops
    var c = 0
    if wideVectorKernels {
        c = depthwiseBorderChannels(d, act, SIMD16<Float>.self, iy0: iy0, ix0: ix0, kys: kys, kxs: kxs, out: out)
    } else {
        c = depthwiseBorderChannels(d, act, SIMD8<Float>.self, iy0: iy0, ix0: ix0, kys: kys, kxs: kxs, out: out)
    }
    // The last channels (fewer than one vector of the width above): 8-lane vectors, the last one
    // overlapping its neighbour when C is not a multiple of 8.
    let cpad = d.w.paddedChannels
    while c < channels {
        let cb = min(c, channels - 8)
        var acc = load8(d.w.bias + cb)
        for ky in kys {
            let iy = iy0 + ky * g.dilationHeight
            for kx in kxs {
                let ix = ix0 + kx * g.dilationWidth
                let t = ky * g.kernelWidth + kx
                acc = acc.addingProduct(load8(d.input + (iy * g.inputWidth + ix) * d.ips + cb),
                                        load8(d.w.taps + t * cpad + cb))
            }
        }
        store8(act(acc), out + cb)
        c += 8
    }
}

/// The channels of a border pixel that whole `V` vectors cover, four vectors at a time, then
/// one; returns the first channel left.
@inline(__always)
func depthwiseBorderChannels<A: VectorActivation, V: FloatVector>(
    _ d: DepthwiseArguments, _ act: A, _: V.Type, iy0: Int, ix0: Int, kys: Range<Int>, kxs: Range<Int>,
    out: UnsafeMutablePointer<Float>
) -> Int {
    let g = d.g
    let n = V.scalarCount
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    var c = 0
    while c + 4 * n <= channels {
        let b = d.w.bias + c
        var a0 = V.load(b), a1 = V.load(b + n), a2 = V.load(b + 2 * n), a3 = V.load(b + 3 * n)
        for ky in kys {
            let iy = iy0 + ky * g.dilationHeight
            for kx in kxs {
                let ix = ix0 + kx * g.dilationWidth
                let x = UnsafePointer(d.input + (iy * g.inputWidth + ix) * d.ips + c)
                let w = UnsafePointer(d.w.taps + (ky * g.kernelWidth + kx) * cpad + c)
                a0 = a0.addingProduct(V.load(x), V.load(w))
                a1 = a1.addingProduct(V.load(x + n), V.load(w + n))
                a2 = a2.addingProduct(V.load(x + 2 * n), V.load(w + 2 * n))
                a3 = a3.addingProduct(V.load(x + 3 * n), V.load(w + 3 * n))
            }
        }
        a0.activated(act).store(out + c)
        a1.activated(act).store(out + c + n)
        a2.activated(act).store(out + c + 2 * n)
        a3.activated(act).store(out + c + 3 * n)
        c += 4 * n
    }
    while c + n <= channels {
        var a0 = V.load(d.w.bias + c)
        for ky in kys {
            let iy = iy0 + ky * g.dilationHeight
            for kx in kxs {
                let ix = ix0 + kx * g.dilationWidth
                a0 = a0.addingProduct(V.load(d.input + (iy * g.inputWidth + ix) * d.ips + c),
                                      V.load(d.w.taps + (ky * g.kernelWidth + kx) * cpad + c))
            }
        }
        a0.activated(act).store(out + c)
        c += n
    }
    return c
}

/// Fewer than 8 channels: partial vectors everywhere (rare; correctness over speed).
@inline(never)
func depthwiseSmallChannels<A: VectorActivation>(_ d: DepthwiseArguments, _ act: A) {
    let g = d.g
    let channels = d.w.channels
    let cpad = d.w.paddedChannels
    for oy in d.rows {
        for ox in 0..<g.outputWidth {
            let iy0 = oy * g.strideHeight - g.padTop
            let ix0 = ox * g.strideWidth - g.padLeft
            let kys = validTaps(base: iy0, dilation: g.dilationHeight, kernel: g.kernelHeight, size: g.inputHeight)
            let kxs = validTaps(base: ix0, dilation: g.dilationWidth, kernel: g.kernelWidth, size: g.inputWidth)
            var acc = load8(d.w.bias)
            for ky in kys {
                let iy = iy0 + ky * g.dilationHeight
                for kx in kxs {
                    let ix = ix0 + kx * g.dilationWidth
                    let t = ky * g.kernelWidth + kx
                    acc = acc.addingProduct(loadPartial8(d.input + (iy * g.inputWidth + ix) * d.ips, channels),
                                            load8(d.w.taps + t * cpad))
                }
            }
            storePartial8(act(acc), d.output + (oy * g.outputWidth + ox) * d.ops, channels)
        }
    }
}

/// 3x3 taps for 8-lane kernels: eight adjacent outputs per step, one kernel row's three taps in
/// registers at a time (16 registers: 8 accumulators, 3 taps, inputs), so that eight FMA chains
/// hide the FMA latency where a quad's four leave it exposed. On a Zen 2 (AVX2), 1 thread, the
/// arithmetic on a tile in L1 took 5.6 cycles per output vector against 8.0 for quads. Whole layers,
/// which also copy their tiles, gain less: standalone with ReLU6 56x56x128 took 0.86-0.89 of the
/// time, 28x28x256 to 7x7x1024 were level within the noise; in MobileNetV1 its 56x56x128,
/// 28x28x256 and 14x14x512 layers took 0.93-0.96. Reading the input in place, eight outputs of a
/// row per step were 1.1-1.35x slower (`depthwiseDirectRowPair` takes two rows of four instead).
@inline(__always)
func depthwiseOct3Rows<V: FloatVector>(
    _ row: UnsafePointer<Float>, _ rowStride: Int, _ step: Int, _ taps: UnsafePointer<V>, _ s: Int, _ acc: inout DepthwiseOct<V>
) {
    for ky in 0..<3 {
        depthwiseOct3Row(row + ky * rowStride, step, s, taps[3 * ky], taps[3 * ky + 1], taps[3 * ky + 2], &acc)
    }
}

/// `count` outputs of one tile row, eight at a time (the tile covers a last, partial oct's reads),
/// for K x K filters (K = 3 or 5; the choice of rows function folds away when specialised).
/// Not inlined: inlined into the tiled pass, the compiler interleaved the kernel rows' loads and
/// spilled accumulators (3x3, 56x56x128: level with quads instead of 0.86-0.89 of their time).
@inline(never)
func depthwiseTileRowOct<A: VectorActivation, V: FloatVector, K: StaticCount, S: StaticCount>(
    _ tile: UnsafeMutablePointer<V>, _ tw: Int, _ taps: UnsafePointer<V>, _ bias: V, _ act: A, _: K.Type, _: S.Type,
    out: UnsafeMutablePointer<Float>, ops: Int, count: Int
) {
    let s = S.value
    let lanes = V.scalarCount
    @inline(__always) func rows(_ row: UnsafePointer<Float>, _ acc: inout DepthwiseOct<V>) {
        if K.value == 3 {
            depthwiseOct3Rows(row, tw * lanes, lanes, taps, s, &acc)
        } else {
            depthwiseOct5Rows(row, tw * lanes, lanes, taps, s, &acc)
        }
    }
    var tp = UnsafeRawPointer(tile).assumingMemoryBound(to: Float.self)
    var o = out
    var x = 0
    // Whole octs store unconditionally: with the partial store's branches in the same loop, the
    // compiler sank the last accumulators' FMAs into them and spilled (ReLU6: 1.3x the time).
    while x + 8 <= count {
        var acc = DepthwiseOct(bias)
        rows(tp, &acc)
        acc.store(act, o, ops, count: 8)
        tp += 8 * s * lanes
        o += 8 * ops
        x += 8
    }
    if x < count {
        var acc = DepthwiseOct(bias)
        rows(tp, &acc)
        acc.store(act, o, ops, count: count - x)
    }
}

/// One kernel row's taps (`w0`, `w1`, `w2`) for eight adjacent outputs at stride S: input column j
/// of the row (at `row + j * step`) feeds output o through tap j - S o. Written out: generic tap
/// helpers were not inlined here.
@inline(__always)
func depthwiseOct3Row<V: FloatVector>(
    _ row: UnsafePointer<Float>, _ step: Int, _ s: Int, _ w0: V, _ w1: V, _ w2: V, _ acc: inout DepthwiseOct<V>
) {
    if s == 1 {
        var v = V.load(row)
        acc.a0 = acc.a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        acc.a0 = acc.a0.addingProduct(v, w1)
        acc.a1 = acc.a1.addingProduct(v, w0)
        v = V.load(row + 2 * step)
        acc.a0 = acc.a0.addingProduct(v, w2)
        acc.a1 = acc.a1.addingProduct(v, w1)
        acc.a2 = acc.a2.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        acc.a1 = acc.a1.addingProduct(v, w2)
        acc.a2 = acc.a2.addingProduct(v, w1)
        acc.a3 = acc.a3.addingProduct(v, w0)
        v = V.load(row + 4 * step)
        acc.a2 = acc.a2.addingProduct(v, w2)
        acc.a3 = acc.a3.addingProduct(v, w1)
        acc.a4 = acc.a4.addingProduct(v, w0)
        v = V.load(row + 5 * step)
        acc.a3 = acc.a3.addingProduct(v, w2)
        acc.a4 = acc.a4.addingProduct(v, w1)
        acc.a5 = acc.a5.addingProduct(v, w0)
        v = V.load(row + 6 * step)
        acc.a4 = acc.a4.addingProduct(v, w2)
        acc.a5 = acc.a5.addingProduct(v, w1)
        acc.a6 = acc.a6.addingProduct(v, w0)
        v = V.load(row + 7 * step)
        acc.a5 = acc.a5.addingProduct(v, w2)
        acc.a6 = acc.a6.addingProduct(v, w1)
        acc.a7 = acc.a7.addingProduct(v, w0)
        v = V.load(row + 8 * step)
        acc.a6 = acc.a6.addingProduct(v, w2)
        acc.a7 = acc.a7.addingProduct(v, w1)
        v = V.load(row + 9 * step)
        acc.a7 = acc.a7.addingProduct(v, w2)
    } else {
        var v = V.load(row)
        acc.a0 = acc.a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        acc.a0 = acc.a0.addingProduct(v, w1)
        v = V.load(row + 2 * step)
        acc.a0 = acc.a0.addingProduct(v, w2)
        acc.a1 = acc.a1.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        acc.a1 = acc.a1.addingProduct(v, w1)
        v = V.load(row + 4 * step)
        acc.a1 = acc.a1.addingProduct(v, w2)
        acc.a2 = acc.a2.addingProduct(v, w0)
        v = V.load(row + 5 * step)
        acc.a2 = acc.a2.addingProduct(v, w1)
        v = V.load(row + 6 * step)
        acc.a2 = acc.a2.addingProduct(v, w2)
        acc.a3 = acc.a3.addingProduct(v, w0)
        v = V.load(row + 7 * step)
        acc.a3 = acc.a3.addingProduct(v, w1)
        v = V.load(row + 8 * step)
        acc.a3 = acc.a3.addingProduct(v, w2)
        acc.a4 = acc.a4.addingProduct(v, w0)
        v = V.load(row + 9 * step)
        acc.a4 = acc.a4.addingProduct(v, w1)
        v = V.load(row + 10 * step)
        acc.a4 = acc.a4.addingProduct(v, w2)
        acc.a5 = acc.a5.addingProduct(v, w0)
        v = V.load(row + 11 * step)
        acc.a5 = acc.a5.addingProduct(v, w1)
        v = V.load(row + 12 * step)
        acc.a5 = acc.a5.addingProduct(v, w2)
        acc.a6 = acc.a6.addingProduct(v, w0)
        v = V.load(row + 13 * step)
        acc.a6 = acc.a6.addingProduct(v, w1)
        v = V.load(row + 14 * step)
        acc.a6 = acc.a6.addingProduct(v, w2)
        acc.a7 = acc.a7.addingProduct(v, w0)
        v = V.load(row + 15 * step)
        acc.a7 = acc.a7.addingProduct(v, w1)
        v = V.load(row + 16 * step)
        acc.a7 = acc.a7.addingProduct(v, w2)
    }
}

/// One kernel row's taps (`w0`, `w1`, `w2`) for four adjacent outputs at stride S (input column j
/// at `row + j * step` feeds output o through tap j - S o), written out like the octs'.
@inline(__always)
func depthwiseQuad3Row<V: FloatVector>(
    _ row: UnsafePointer<Float>, _ step: Int, _ s: Int, _ w0: V, _ w1: V, _ w2: V,
    _ a0: inout V, _ a1: inout V, _ a2: inout V, _ a3: inout V
) {
    var v: V
    if s == 1 {
        v = V.load(row + 0 * step)
        a0 = a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        a0 = a0.addingProduct(v, w1)
        a1 = a1.addingProduct(v, w0)
        v = V.load(row + 2 * step)
        a0 = a0.addingProduct(v, w2)
        a1 = a1.addingProduct(v, w1)
        a2 = a2.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        a1 = a1.addingProduct(v, w2)
        a2 = a2.addingProduct(v, w1)
        a3 = a3.addingProduct(v, w0)
        v = V.load(row + 4 * step)
        a2 = a2.addingProduct(v, w2)
        a3 = a3.addingProduct(v, w1)
        v = V.load(row + 5 * step)
        a3 = a3.addingProduct(v, w2)
    } else {
        v = V.load(row + 0 * step)
        a0 = a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        a0 = a0.addingProduct(v, w1)
        v = V.load(row + 2 * step)
        a0 = a0.addingProduct(v, w2)
        a1 = a1.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        a1 = a1.addingProduct(v, w1)
        v = V.load(row + 4 * step)
        a1 = a1.addingProduct(v, w2)
        a2 = a2.addingProduct(v, w0)
        v = V.load(row + 5 * step)
        a2 = a2.addingProduct(v, w1)
        v = V.load(row + 6 * step)
        a2 = a2.addingProduct(v, w2)
        a3 = a3.addingProduct(v, w0)
        v = V.load(row + 7 * step)
        a3 = a3.addingProduct(v, w1)
        v = V.load(row + 8 * step)
        a3 = a3.addingProduct(v, w2)
    }
}

/// Which in-place 3x3 rows run two 8-lane channel blocks at a time (`depthwiseNarrowPairRow`):
/// 0 (default) none, 1 stride 2, 2 both strides (single rows at stride 1 are the odd rows the row
/// pairs leave). Measured on a Zen 3 (AVX2), 1 thread, stride 2: alone with warm caches 56x56x128
/// 0.103 -> 0.082 ms, 28x28x256 0.064 -> 0.050, 112x112x64 level, 112x112x96 and 56x56x144
/// 6-8% slower; in MobileNetV1 (alternated profiles, medians of seven) its 112x112x64 layer
/// 0.874 -> 0.820 ms (with the 1x1 expansion streamed into it), 28x28x256 0.040 -> 0.037, but
/// 56x56x128 0.100 -> 0.131, and single-layer models agreed on that loss. Off until a rule
/// for it holds in networks. `KITE_DW_NARROW_PAIRS` sets it (A/B runs); tests set it directly.
nonisolated(unsafe) var depthwiseNarrowPairMode = Int(environmentValue("KITE_DW_NARROW_PAIRS") ?? "").map { max(0, $0) } ?? 0

/// `count` (at least 4) interior outputs of one row at stride S for two 8-lane channel blocks
/// `second` floats apart (8, or less where the last block overlaps its neighbour), four outputs
/// of each at a time: eight FMA chains where one block's quads run four, at the FMA latency.
/// Taps of block 0 are at `taps + t * tapStride`, of block 1 `second` floats further; a kernel
/// row's six are loaded per quad (16 registers hold the eight accumulators, six taps and the input).
@inline(never)
func depthwiseNarrowPairRow<A: VectorActivation, S: StaticCount>(
    _ src: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ second: Int, _ taps: UnsafePointer<Float>, _ tapStride: Int,
    _ bias0: SIMD8<Float>, _ bias1: SIMD8<Float>, _ act: A, _: S.Type, out: UnsafeMutablePointer<Float>, ops: Int, count: Int
) {
    let s = S.value
    var p = src
    var o = out
    var x = 0
    while x + 4 <= count {
        depthwiseNarrowPairQuad(p, rowStride, ips, second, taps, tapStride, bias0, bias1, act, S.self, out: o, ops: ops)
        p += 4 * s * ips
        o += 4 * ops
        x += 4
    }
    if x < count {
        let back = x + 4 - count
        depthwiseNarrowPairQuad(p - back * s * ips, rowStride, ips, second, taps, tapStride, bias0, bias1, act, S.self,
                                out: o - back * ops, ops: ops)
    }
}

/// Four outputs of both blocks of `depthwiseNarrowPairRow`, starting at input `p` and output `o`.
@inline(__always)
func depthwiseNarrowPairQuad<A: VectorActivation, S: StaticCount>(
    _ p: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ second: Int, _ taps: UnsafePointer<Float>, _ tapStride: Int,
    _ bias0: SIMD8<Float>, _ bias1: SIMD8<Float>, _ act: A, _: S.Type, out o: UnsafeMutablePointer<Float>, ops: Int
) {
    let s = S.value
    var a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0
    var b0 = bias1, b1 = bias1, b2 = bias1, b3 = bias1
    for ky in 0..<3 {
        let row = p + ky * rowStride
        let t = taps + 3 * ky * tapStride
        depthwiseQuad3Row(row, ips, s, load8(t), load8(t + tapStride), load8(t + 2 * tapStride), &a0, &a1, &a2, &a3)
        depthwiseQuad3Row(row + second, ips, s, load8(t + second), load8(t + tapStride + second),
                          load8(t + 2 * tapStride + second), &b0, &b1, &b2, &b3)
    }
    depthwiseStoreBlockPairQuad(a0, a1, a2, a3, b0, b1, b2, b3, act, o, ops: ops, second: second)
}

/// Stores four outputs (`ops` floats apart) of two channel blocks (`second` floats apart), activated.
@inline(__always)
func depthwiseStoreBlockPairQuad<V: FloatVector, A: VectorActivation>(
    _ a0: V, _ a1: V, _ a2: V, _ a3: V, _ b0: V, _ b1: V, _ b2: V, _ b3: V,
    _ act: A, _ o: UnsafeMutablePointer<Float>, ops: Int, second: Int
) {
    a0.activated(act).store(o)
    b0.activated(act).store(o + second)
    a1.activated(act).store(o + ops)
    b1.activated(act).store(o + ops + second)
    a2.activated(act).store(o + 2 * ops)
    b2.activated(act).store(o + 2 * ops + second)
    a3.activated(act).store(o + 3 * ops)
    b3.activated(act).store(o + 3 * ops + second)
}

/// Two output rows of interior outputs read in place for one 8-lane channel block: four outputs of
/// each row per step, so that eight FMA chains run where one row's quads have four; each kernel
/// row's three taps are loaded once for both rows. Row oy + 1's windows start S input rows below.
/// Used at stride 1. On a Zen 2 (AVX2), 1 thread, ReLU6, against single rows: warm caches 0.87-0.97
/// of the time (112x112x32, 56x56x64, 56x56x144, 56x56x24, 28x28x72, 28x28x40, 19x19x728), input
/// and output from memory 0.80-0.97 except 28x28x40 (1.02). At stride 2 it was mixed (0.88-0.93 on
/// 112x112x64 and 56x56x128, 1.1-1.14 on 28x28x256 and 56x56x144), so stride 2 keeps single rows.
@inline(never)
func depthwiseDirectRowPair<A: VectorActivation, S: StaticCount>(
    _ src: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ taps: UnsafePointer<SIMD8<Float>>, _ bias: SIMD8<Float>,
    _ act: A, _: S.Type, out: UnsafeMutablePointer<Float>, ops: Int, outRowStride: Int, count: Int
) {
    let s = S.value
    var p = src
    var o = out
    var x = 0
    while x + 4 <= count {
        depthwiseDirectQuadPair(p, rowStride, ips, taps, bias, act, S.self, out: o, ops: ops, outRowStride: outRowStride)
        p += 4 * s * ips
        o += 4 * ops
        x += 4
    }
    if x < count && count >= 4 {
        // The last one to three outputs: a quad ending at the last output (`depthwiseSpanEnd`).
        let back = x + 4 - count
        depthwiseDirectQuadPair(p - back * s * ips, rowStride, ips, taps, bias, act, S.self, out: o - back * ops, ops: ops,
                                outRowStride: outRowStride)
        x = count
    }
    if x < count {
        let w = Taps9(taps)
        depthwiseDirectRow(p, rowStride, ips, w, bias, act, Count3.self, S.self, out: o, ops: ops, count: count - x)
        depthwiseDirectRow(p + s * rowStride, rowStride, ips, w, bias, act, Count3.self, S.self,
                           out: o + outRowStride, ops: ops, count: count - x)
    }
}

/// Four outputs of each of `depthwiseDirectRowPair`'s two rows, starting at input `p` and output `o`.
@inline(__always)
func depthwiseDirectQuadPair<A: VectorActivation, S: StaticCount>(
    _ p: UnsafePointer<Float>, _ rowStride: Int, _ ips: Int, _ taps: UnsafePointer<SIMD8<Float>>, _ bias: SIMD8<Float>,
    _ act: A, _: S.Type, out o: UnsafeMutablePointer<Float>, ops: Int, outRowStride: Int
) {
    let s = S.value
    var a0 = bias, a1 = bias, a2 = bias, a3 = bias
    var b0 = bias, b1 = bias, b2 = bias, b3 = bias
    for ky in 0..<3 {
        let w0 = taps[3 * ky], w1 = taps[3 * ky + 1], w2 = taps[3 * ky + 2]
        depthwiseQuad3Row(p + ky * rowStride, ips, s, w0, w1, w2, &a0, &a1, &a2, &a3)
        depthwiseQuad3Row(p + (ky + s) * rowStride, ips, s, w0, w1, w2, &b0, &b1, &b2, &b3)
    }
    a0.activated(act).store(o)
    a1.activated(act).store(o + ops)
    a2.activated(act).store(o + 2 * ops)
    a3.activated(act).store(o + 3 * ops)
    b0.activated(act).store(o + outRowStride)
    b1.activated(act).store(o + outRowStride + ops)
    b2.activated(act).store(o + outRowStride + 2 * ops)
    b3.activated(act).store(o + outRowStride + 3 * ops)
}

/// 5x5 taps for 8-lane kernels: eight adjacent outputs per step, one kernel row's five taps in
/// registers at a time (16 registers: 8 accumulators, 5 taps, the input), where quads keep four
/// FMA chains and read a tap from memory for every FMA. Standalone on a Zen 1 (AVX2), 1 thread,
/// ReLU, best of 30 calls: 0.85-0.95 of the quads' time on MNASNet and MobileNetV3-Large shapes
/// (56x56x72 at stride 2 0.179 ms against 0.193, 14x14x480 0.216 against 0.249, 7x7x1152 0.132
/// against 0.155); each output's sum is taken in the same order, so results are unchanged.
@inline(__always)
func depthwiseOct5Rows<V: FloatVector>(
    _ row: UnsafePointer<Float>, _ rowStride: Int, _ step: Int, _ taps: UnsafePointer<V>, _ s: Int, _ acc: inout DepthwiseOct<V>
) {
    for ky in 0..<5 {
        let t = taps + 5 * ky
        depthwiseOct5Row(row + ky * rowStride, step, s, t[0], t[1], t[2], t[3], t[4], &acc)
    }
}

/// One kernel row's five taps for eight adjacent outputs at stride S (1 or 2): input column j
/// (at `row + j * step`) feeds output o through tap j - S o. Generated straight-line code.
@inline(__always)
func depthwiseOct5Row<V: FloatVector>(
    _ row: UnsafePointer<Float>, _ step: Int, _ s: Int, _ w0: V, _ w1: V, _ w2: V, _ w3: V, _ w4: V,
    _ acc: inout DepthwiseOct<V>
) {
    if s == 1 {
        var v = V.load(row)
        acc.a0 = acc.a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        acc.a0 = acc.a0.addingProduct(v, w1)
        acc.a1 = acc.a1.addingProduct(v, w0)
        v = V.load(row + 2 * step)
        acc.a0 = acc.a0.addingProduct(v, w2)
        acc.a1 = acc.a1.addingProduct(v, w1)
        acc.a2 = acc.a2.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        acc.a0 = acc.a0.addingProduct(v, w3)
        acc.a1 = acc.a1.addingProduct(v, w2)
        acc.a2 = acc.a2.addingProduct(v, w1)
        acc.a3 = acc.a3.addingProduct(v, w0)
        v = V.load(row + 4 * step)
        acc.a0 = acc.a0.addingProduct(v, w4)
        acc.a1 = acc.a1.addingProduct(v, w3)
        acc.a2 = acc.a2.addingProduct(v, w2)
        acc.a3 = acc.a3.addingProduct(v, w1)
        acc.a4 = acc.a4.addingProduct(v, w0)
        v = V.load(row + 5 * step)
        acc.a1 = acc.a1.addingProduct(v, w4)
        acc.a2 = acc.a2.addingProduct(v, w3)
        acc.a3 = acc.a3.addingProduct(v, w2)
        acc.a4 = acc.a4.addingProduct(v, w1)
        acc.a5 = acc.a5.addingProduct(v, w0)
        v = V.load(row + 6 * step)
        acc.a2 = acc.a2.addingProduct(v, w4)
        acc.a3 = acc.a3.addingProduct(v, w3)
        acc.a4 = acc.a4.addingProduct(v, w2)
        acc.a5 = acc.a5.addingProduct(v, w1)
        acc.a6 = acc.a6.addingProduct(v, w0)
        v = V.load(row + 7 * step)
        acc.a3 = acc.a3.addingProduct(v, w4)
        acc.a4 = acc.a4.addingProduct(v, w3)
        acc.a5 = acc.a5.addingProduct(v, w2)
        acc.a6 = acc.a6.addingProduct(v, w1)
        acc.a7 = acc.a7.addingProduct(v, w0)
        v = V.load(row + 8 * step)
        acc.a4 = acc.a4.addingProduct(v, w4)
        acc.a5 = acc.a5.addingProduct(v, w3)
        acc.a6 = acc.a6.addingProduct(v, w2)
        acc.a7 = acc.a7.addingProduct(v, w1)
        v = V.load(row + 9 * step)
        acc.a5 = acc.a5.addingProduct(v, w4)
        acc.a6 = acc.a6.addingProduct(v, w3)
        acc.a7 = acc.a7.addingProduct(v, w2)
        v = V.load(row + 10 * step)
        acc.a6 = acc.a6.addingProduct(v, w4)
        acc.a7 = acc.a7.addingProduct(v, w3)
        v = V.load(row + 11 * step)
        acc.a7 = acc.a7.addingProduct(v, w4)
    } else {
        var v = V.load(row)
        acc.a0 = acc.a0.addingProduct(v, w0)
        v = V.load(row + 1 * step)
        acc.a0 = acc.a0.addingProduct(v, w1)
        v = V.load(row + 2 * step)
        acc.a0 = acc.a0.addingProduct(v, w2)
        acc.a1 = acc.a1.addingProduct(v, w0)
        v = V.load(row + 3 * step)
        acc.a0 = acc.a0.addingProduct(v, w3)
        acc.a1 = acc.a1.addingProduct(v, w1)
        v = V.load(row + 4 * step)
        acc.a0 = acc.a0.addingProduct(v, w4)
        acc.a1 = acc.a1.addingProduct(v, w2)
        acc.a2 = acc.a2.addingProduct(v, w0)
        v = V.load(row + 5 * step)
        acc.a1 = acc.a1.addingProduct(v, w3)
        acc.a2 = acc.a2.addingProduct(v, w1)
        v = V.load(row + 6 * step)
        acc.a1 = acc.a1.addingProduct(v, w4)
        acc.a2 = acc.a2.addingProduct(v, w2)
        acc.a3 = acc.a3.addingProduct(v, w0)
        v = V.load(row + 7 * step)
        acc.a2 = acc.a2.addingProduct(v, w3)
        acc.a3 = acc.a3.addingProduct(v, w1)
        v = V.load(row + 8 * step)
        acc.a2 = acc.a2.addingProduct(v, w4)
        acc.a3 = acc.a3.addingProduct(v, w2)
        acc.a4 = acc.a4.addingProduct(v, w0)
        v = V.load(row + 9 * step)
        acc.a3 = acc.a3.addingProduct(v, w3)
        acc.a4 = acc.a4.addingProduct(v, w1)
        v = V.load(row + 10 * step)
        acc.a3 = acc.a3.addingProduct(v, w4)
        acc.a4 = acc.a4.addingProduct(v, w2)
        acc.a5 = acc.a5.addingProduct(v, w0)
        v = V.load(row + 11 * step)
        acc.a4 = acc.a4.addingProduct(v, w3)
        acc.a5 = acc.a5.addingProduct(v, w1)
        v = V.load(row + 12 * step)
        acc.a4 = acc.a4.addingProduct(v, w4)
        acc.a5 = acc.a5.addingProduct(v, w2)
        acc.a6 = acc.a6.addingProduct(v, w0)
        v = V.load(row + 13 * step)
        acc.a5 = acc.a5.addingProduct(v, w3)
        acc.a6 = acc.a6.addingProduct(v, w1)
        v = V.load(row + 14 * step)
        acc.a5 = acc.a5.addingProduct(v, w4)
        acc.a6 = acc.a6.addingProduct(v, w2)
        acc.a7 = acc.a7.addingProduct(v, w0)
        v = V.load(row + 15 * step)
        acc.a6 = acc.a6.addingProduct(v, w3)
        acc.a7 = acc.a7.addingProduct(v, w1)
        v = V.load(row + 16 * step)
        acc.a6 = acc.a6.addingProduct(v, w4)
        acc.a7 = acc.a7.addingProduct(v, w2)
        v = V.load(row + 17 * step)
        acc.a7 = acc.a7.addingProduct(v, w3)
        v = V.load(row + 18 * step)
        acc.a7 = acc.a7.addingProduct(v, w4)
    }
}
