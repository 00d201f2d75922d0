// Grouped KxK convolutions with 8 or more output channels per group (ResNeXt's 3x3 convolutions
// with 8-32 channels per group) as implicit GEMMs over bands of zero-padded input rows.
//
// For each band of output rows, the input rows it reads are copied once into a buffer with zero
// columns and rows where windows leave the map; every output pixel's window is then inside the
// buffer, at a fixed stride from its neighbour's, so the GEMM micro-kernels read it through one
// table of tap/channel offsets, borders included. Pixel tiles are outermost and groups inside, so
// a tile's windows (a few KiB per tap row) stay in L1 while every group reads its channels.
// Groups of 8 output channels go two to a 16-column tile (see GroupPairs.swift).

/// Packed weights: one GEMM packing of all output channels, each row over the `KH * KW * Cin /
/// groups` inputs of its own group, K ordered `(ky, kx, ci)` to match the offset table. A unit
/// is a group, or a pair of groups of 8 output channels sharing one 16-column panel.
public struct GroupedBandWeights: Sendable {
    let groups: Int
    /// Input channels per group.
    let groupInputs: Int
    /// Output channels per group.
    let groupOutputs: Int
    let kernelHeight: Int
    let kernelWidth: Int
    /// Groups 2u and 2u + 1 share unit u (8 output channels per group).
    let paired: Bool
    let packed: PackedGEMMWeights

    /// Output channels one unit computes (a multiple of 16).
    var unitOutputs: Int { paired ? 16 : groupOutputs }
    /// Input channels one unit reads.
    var unitInputs: Int { paired ? 2 * groupInputs : groupInputs }
    /// Reduction length, `KH * KW * groupInputs`.
    var reductionLength: Int { kernelHeight * kernelWidth * groupInputs }

    /// Whether the banded kernel takes this convolution: grouped (not depthwise), a kernel larger
    /// than 1x1, and 8 output channels per group with an even group count, or a multiple of 16.
    public static func isEligible(kernelHeight: Int, kernelWidth: Int, inputChannels: Int, outputChannels: Int,
                                  groups: Int) -> Bool {
        guard groups > 1, kernelHeight * kernelWidth > 1, inputChannels % groups == 0, outputChannels % groups == 0,
              inputChannels / groups > 1 else { return false }
        let cout = outputChannels / groups
        return (cout == 8 && groups % 2 == 0) || cout % 16 == 0
    }

    /// Packs ONNX weights `[Cout][Cin / groups][KH][KW]` and an optional bias.
    public init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int, kernelHeight: Int,
                kernelWidth: Int, groups: Int, bias: UnsafePointer<Float>?) {
        precondition(Self.isEligible(kernelHeight: kernelHeight, kernelWidth: kernelWidth, inputChannels: inputChannels,
                                     outputChannels: outputChannels, groups: groups), "not a banded group convolution")
        self.groups = groups
        groupInputs = inputChannels / groups
        groupOutputs = outputChannels / groups
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        paired = groupOutputs == 8
        let taps = kernelHeight * kernelWidth
        let cin = inputChannels / groups
        let reordered = tapMajorRows(weights, rows: outputChannels, inputs: cin, taps: taps)
        packed = reordered.withUnsafeBufferPointer { r in
            PackedGEMMWeights(weights: r.baseAddress!, outputChannels: outputChannels, inputChannels: taps * cin, bias: bias)
        }
    }
}

public enum GroupedBandConv {
    /// Whether the banded kernel beats im2col for an eligible convolution with outputs
    /// `outputWidth` pixels wide and `groupOutputs` channels per group. 8-channel groups: always.
    /// Wider groups run 6-pixel tiles with 8-lane vectors, which leave a 7-pixel row with a 4- and
    /// a 3-pixel tile; the AVX-512 tiles take up to 8 pixels, a 7-pixel row in one tile.
    public static func isPreferred(outputWidth: Int, groupOutputs: Int) -> Bool {
        groupOutputs == 8 || outputWidth >= 12 || (wideVectorKernels && outputWidth >= 7)
    }

    /// Output rows per band: the input rows of a band are copied once, so taller bands copy
    /// less overlap (3x3 stride 1: 6 input rows for 4 output rows). Weights larger than half of
    /// L2 stream from L3 once per band (`weightsStream`), so those take bands of 8 rows: a 7x7
    /// map in one band.
    static func bandRows(_ w: GroupedBandWeights) -> Int { weightsStream(w) ? 8 : 4 }

    /// Whether the packed weights are larger than half of L2: the wide driver then sweeps a
    /// band's rows for each weight panel pair in turn, instead of every panel for each row.
    /// IGCv1's 7x7 layers (4 groups of 128 channels, 2.4 MB of weights) read all their weights
    /// from L3 for each of the 7 output rows.
    static func weightsStream(_ w: GroupedBandWeights) -> Bool {
        groupedBandPanelOuter && 4 * w.reductionLength * w.packed.outputChannels > CacheSizes.level2OrDefault / 2
    }

    /// Width of a padded band row, in pixels: every window of the output row fits.
    static func paddedWidth(_ g: ConvGeometry) -> Int {
        (g.outputWidth - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1
    }

    /// Input rows a band of `rows` output rows reads.
    static func bandInputRows(_ g: ConvGeometry, rows: Int) -> Int {
        (rows - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
    }

    /// Units of output channels `run` can be asked for (`units:`): groups, or pairs of 8-channel groups.
    public static func unitCount(_ w: GroupedBandWeights) -> Int { w.packed.outputChannels / w.unitOutputs }

    /// Whether threads should split this convolution by units rather than by output rows: its
    /// weights stream from L3 (`weightsStream`), so that each thread reads only its units' share,
    /// and 7x7 maps split 4 + 3 rows.
    public static func splitsByUnits(_ w: GroupedBandWeights) -> Bool {
        weightsStream(w) && unitCount(w) >= 2 && groupedBandUnitSplit
    }

    /// Scratch floats one call of `run` needs (one band of padded input rows).
    public static func scratchSize(geometry g: ConvGeometry, inputChannels: Int, weights w: GroupedBandWeights) -> Int {
        bandInputRows(g, rows: bandRows(w)) * paddedWidth(g) * inputChannels
    }

    /// Computes output rows `outputRows` of `act(conv(input) + bias + residual)`, NHWC.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride ips: Int, geometry g: ConvGeometry, weights w: GroupedBandWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride ops: Int,
        residual: UnsafePointer<Float>?, residualPixelStride rps: Int,
        activation: KernelActivation, outputRows: Range<Int>, units: Range<Int>? = nil, scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(g.kernelHeight == w.kernelHeight && g.kernelWidth == w.kernelWidth, "kernel does not match the weights")
        if outputRows.isEmpty || g.outputWidth <= 0 { return }
        let channels = w.groups * w.groupInputs
        let pw = paddedWidth(g)
        let k = w.reductionLength
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { table in
            let offsets = table.baseAddress!
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let tap = (ky * g.dilationHeight * pw + kx * g.dilationWidth) * channels
                    for ci in 0..<w.groupInputs { offsets[(ky * g.kernelWidth + kx) * w.groupInputs + ci] = tap + ci }
                }
            }
            var oy0 = outputRows.lowerBound
            while oy0 < outputRows.upperBound {
                let rows = min(bandRows(w), outputRows.upperBound - oy0)
                fillBand(input: input, ips: ips, g: g, channels: channels, firstOutputRow: oy0, rows: rows, into: scratch,
                         only: units.map { $0.lowerBound * w.unitInputs ..< $0.upperBound * w.unitInputs })
                activation.visit(GroupedBandArguments(
                    band: UnsafePointer(scratch), paddedWidth: pw, channels: channels, g: g, w: w,
                    offsets: UnsafePointer(offsets), output: output, ops: ops, residual: residual, rps: rps,
                    firstOutputRow: oy0, rows: rows, units: units ?? 0..<unitCount(w)))
                oy0 += rows
            }
        }
    }

    /// Copies the input rows of output rows `firstOutputRow ..< + rows` into `band` (dense, `channels`
    /// floats per pixel, `paddedWidth` pixels per row), with zeros where windows leave the map.
    /// With `only`, just those channels of each pixel (the rest of the band is left as it was):
    /// the units one thread computes read no others.
    static func fillBand(input: UnsafePointer<Float>, ips: Int, g: ConvGeometry, channels: Int,
                         firstOutputRow oy0: Int, rows: Int, into band: UnsafeMutablePointer<Float>,
                         only: Range<Int>? = nil) {
        let pw = paddedWidth(g)
        let rowFloats = pw * channels
        let c0 = only?.lowerBound ?? 0, n = only?.count ?? channels
        // Whole pixels: runs of pixels are contiguous in the band.
        let whole = n == channels
        // Columns of the padded row that hold input pixels: [left, left + count).
        let left = min(g.padLeft, pw)
        let count = max(0, min(g.inputWidth, pw - left))
        let iyBase = oy0 * g.strideHeight - g.padTop
        func zero(_ dst: UnsafeMutablePointer<Float>, _ x0: Int, _ x1: Int) {
            if whole {
                if x1 > x0 { (dst + x0 * channels).update(repeating: 0, count: (x1 - x0) * channels) }
            } else {
                for x in x0..<max(x0, x1) { (dst + x * channels + c0).update(repeating: 0, count: n) }
            }
        }
        for r in 0..<bandInputRows(g, rows: rows) {
            let dst = band + r * rowFloats
            let iy = iyBase + r
            guard iy >= 0 && iy < g.inputHeight, count > 0 else {
                zero(dst, 0, pw)
                continue
            }
            zero(dst, 0, left)
            let src = input + iy * g.inputWidth * ips
            if whole && ips == channels {
                dst.advanced(by: left * channels).update(from: src, count: count * channels)
            } else {
                for x in 0..<count { (dst + (left + x) * channels + c0).update(from: src + x * ips + c0, count: n) }
            }
            zero(dst, left + count, pw)
        }
    }
}

struct GroupedBandArguments: ActivationVisitor {
    let band: UnsafePointer<Float>
    let paddedWidth: Int
    let channels: Int
    let g: ConvGeometry
    let w: GroupedBandWeights
    let offsets: UnsafePointer<Int>
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let residual: UnsafePointer<Float>?
    let rps: Int
    let firstOutputRow: Int
    let rows: Int
    /// The units (groups, or pairs of 8-channel groups) this call computes.
    let units: Range<Int>

    func visit<A: VectorActivation>(_ act: A) { groupedBandDriver(self, act) }
}

/// Per output row, 6-pixel tiles outside and units (groups, or pairs of 8-channel groups) inside.
@inline(never)
func groupedBandDriver<A: VectorActivation>(_ d: GroupedBandArguments, _ act: A) {
    let w = d.w
    let k = w.reductionLength
    let units = d.units
    let unitPanels = w.unitOutputs / 16
    let panels = w.packed.panels, biases = w.packed.bias, panelStride = w.packed.panelStride
    var args = GEMMArguments(a: d.band, lda: d.g.strideWidth * d.channels, offsets: nil, weights: w.packed,
                             c: d.output, ldc: d.ops, residual: d.residual, ldr: d.rps, rows: 0..<1, panels: 0..<1)
    let ix = OffsetIndexing(offsets: d.offsets)
    let pair = OffsetPair(offsets: d.offsets, shift: w.groupInputs)
    let ow = d.g.outputWidth
    if wideVectorKernels && !w.paired {
        groupedBandWideDriver(d, act)
        return
    }
    for r in 0..<d.rows {
        let oy = d.firstOutputRow + r
        let rowA = d.band + r * d.g.strideHeight * d.paddedWidth * d.channels
        let rowC = d.output + oy * ow * d.ops
        let rowR = d.residual.map { $0 + oy * ow * d.rps }
        var m = 0
        while m < ow {
            let tile = gemmNextTileRows(ow - m)
            for u in units {
                args.a = rowA + u &* w.unitInputs
                args.c = rowC + u &* w.unitOutputs
                args.residual = rowR.map { $0 + u &* w.unitOutputs }
                for q in 0..<unitPanels {
                    let p = u &* unitPanels &+ q
                    let b = panels + p &* panelStride, bias = biases + 16 &* p
                    if w.paired {
                        gemmPairTileRows(tile, act, pair, args, k: k, m: m, b: b, bias: bias)
                    } else {
                        gemmTileRows(tile, wide: true, act, ix, args, k: k, m: m, col: 16 &* q, b: b, bias: bias, cols: 16)
                    }
                }
            }
            m += tile
        }
    }
}

/// Groups of 16k output channels on the AVX-512 tiles: up to 8 pixels x 16 or 32 columns. Against
/// the 6 x 16 tiles of 8-lane vectors, ResNeXt-50's 14x14 layers (16 channels a group) took
/// 0.79-0.94 of their time in alternated runs.
@inline(never)
func groupedBandWideDriver<A: VectorActivation>(_ d: GroupedBandArguments, _ act: A) {
    let w = d.w
    let units = d.units
    let unitPanels = w.unitOutputs / 16
    var args = GEMMArguments(a: d.band, lda: d.g.strideWidth * d.channels, offsets: d.offsets, weights: w.packed,
                             c: d.output, ldc: d.ops, residual: d.residual, ldr: d.rps, rows: 0..<1, panels: 0..<1)
    let ix = OffsetIndexing(offsets: d.offsets)
    let ow = d.g.outputWidth
    withUnsafeTemporaryAllocation(of: Float.self, capacity: gemmWideSpillFloats) { spillBuffer in
        let spill = spillBuffer.baseAddress!
        if GroupedBandConv.weightsStream(w) {
            // Panel pairs outer: each pair's weights come from L3 once per band and from L2 for its other rows.
            for u in units {
                var q = 0
                while q < unitPanels {
                    let shape = GEMMWidePanelShape(full: min(2, unitPanels - q), half: false)
                    for r in 0..<d.rows {
                        let oy = d.firstOutputRow + r
                        args.a = d.band + r * d.g.strideHeight * d.paddedWidth * d.channels + u &* w.unitInputs
                        args.c = d.output + oy * ow * d.ops
                        args.residual = d.residual.map { $0 + oy * ow * d.rps }
                        var m = 0
                        while m < ow {
                            let tile = gemmWideNextTileRows(ow - m)
                            gemmWideTileRows(tile, shape, act, ix, args, m: m, panel: u &* unitPanels &+ q, spill: spill)
                            m += tile
                        }
                    }
                    q += shape.panels
                }
            }
            return
        }
        for r in 0..<d.rows {
            let oy = d.firstOutputRow + r
            let rowA = d.band + r * d.g.strideHeight * d.paddedWidth * d.channels
            args.c = d.output + oy * ow * d.ops
            args.residual = d.residual.map { $0 + oy * ow * d.rps }
            var m = 0
            while m < ow {
                let tile = gemmWideNextTileRows(ow - m)
                for u in units {
                    args.a = rowA + u &* w.unitInputs
                    var q = 0
                    while q < unitPanels {
                        // Column offsets come from the panel index: C, bias and residual are not shifted per unit.
                        let shape = GEMMWidePanelShape(full: min(2, unitPanels - q), half: false)
                        gemmWideTileRows(tile, shape, act, ix, args, m: m, panel: u &* unitPanels &+ q, spill: spill)
                        q += shape.panels
                    }
                }
                m += tile
            }
        }
    }
}

/// Whether grouped band convolutions with large weights sweep rows inside each panel pair
/// (`GroupedBandConv.weightsStream`); `KITE_GROUPED_PANEL_OUTER=0` turns it off (A/B runs).
nonisolated(unsafe) var groupedBandPanelOuter = environmentValue("KITE_GROUPED_PANEL_OUTER") != "0"

/// Whether threads split grouped band convolutions with streaming weights by units
/// (`GroupedBandConv.splitsByUnits`); `KITE_GROUPED_UNIT_SPLIT=0` turns it off (A/B runs).
nonisolated(unsafe) var groupedBandUnitSplit = environmentValue("KITE_GROUPED_UNIT_SPLIT") != "0"

/// A pair's reads through a tap/channel offset table: the second group's channels `shift` on.
struct OffsetPair: PairIndexing {
    let offsets: UnsafePointer<Int>
    let shift: Int
    @inline(__always) func load0(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[offsets[k]] }
    @inline(__always) func load1(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[offsets[k] &+ shift] }
}
