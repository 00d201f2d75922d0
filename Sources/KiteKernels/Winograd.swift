// Winograd F(4x4, 3x3) convolution for 3x3, stride-1, dilation-1 convolutions (dense or grouped).
//
// Each 4x4 block of output pixels ("tile") is computed from a 6x6 input window:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// Per batch of tiles (and per group): the input transform writes V[36][tiles][Cin], 36 GEMMs
// (tiles x Cin) * (Cin x Cout) with the 6x16 AVX2 micro-kernel of `GEMM` write M[36][tiles][Cout],
// and the output transform adds bias and residual, applies the activation and stores NHWC.
// The filter transform U = G g G^T is done once at packing time, 36 `PackedGEMMWeights` per group.
// F(2x2, 3x3) works the same way with 2x2 tiles from 4x4 windows and 16 GEMMs (transforms of
// additions only); the 8-lane kernels take it on small maps (`WinogradConv.tileSize`).
//
// Measured (release, AMD EPYC 2 cores with AVX2+FMA shared with other jobs, so noisy; pad 1,
// bias, ReLU; best of many runs; ms) WinogradConv.run vs Im2colConv.run, 1 thread / 2 threads
// (Winograd 2T split by rows, or by channels where `prefersChannelSplit`, marked c):
//   56x56 64->64    1T 1.21 vs 2.84 (2.4x)   2T 0.76 vs 1.74 (2.3x)
//   28x28 128->128  1T 0.95 vs 3.25 (3.4x)   2T 0.65 vs 1.84 (2.8x)
//   14x14 256->256  1T 1.23 vs 3.53 (2.9x)   2T 0.96c vs 1.97 (2.1x)
//   13x13 384->384  1T 3.64 vs 5.00 (1.4x)   2T 2.17c vs 2.89 (1.3x; by rows 2.95, 1.0x)
//   55x55 16->64    1T 0.36 vs 0.67 (1.9x)   2T 0.17 vs 0.36 (2.1x)
//   27x27 32->128   1T 0.26 vs 0.73 (2.8x)   2T 0.26 vs 0.39 (1.5x)
//   13x13 48->192   1T 0.18 vs 0.32 (1.8x)   2T 0.13 vs 0.18 (1.4x)
//   13x13 64->256   1T 0.35 vs 0.56 (1.6x)   2T 0.26 vs 0.32 (1.2x)
//   56x56 16->16    1T 0.11 vs 0.19 (1.7x);  56x56 32->32 1T 0.29 vs 0.69 (2.3x)
//   7x7 256->256    1T 0.40 vs 0.73 (1.8x)   2T 0.21c vs 0.40 (1.9x)
//   14x14 512->512  1T 7.5 vs 18.4 (2.5x)    2T 4.6c vs 13.2 (2.9x)
//   10x10 384->384  1T 3.0 vs 3.4 (1.1x)     2T 1.50c vs 1.65 (1.1x)
//   28x28 128->128 groups 4: 1T 0.31 vs 0.80 (2.6x); groups 8: 0.25 vs 0.44 (1.7x);
//   56x56 128->128 groups 8: 1T 1.07 vs 2.14 (2.0x); 28x28 groups 16 (8 ch/group): 1.3x 1T, 0.9x 2T.
// Not faster (hence `isEligible`): 7x7 512->512 1T 3.1 vs 2.8, 2T 1.76c vs 1.54; 7x7 384->384
// 1T 1.85 vs 1.58 (4 tiles, 21-36 MiB of transformed filters); 56x56 8->32 0.20 vs 0.19.
// Accuracy: vs a double reference, max error / max(1, max|ref|) = 1.4e-5 for Cin up to 512
// (N(0,1) inputs, 1/sqrt(fan-in) weights); max abs difference vs im2col 2e-5 (64 ch) to 1.8e-4 (512 ch).

/// Filters of a 3x3 convolution transformed for `WinogradConv.run`: for each group and each of the
/// 36 transformed positions, `U[i] = (G g G^T)[i]` as a `[CoutG x CinG]` GEMM weight matrix packed
/// in 16-column panels, plus the bias padded by 8 floats. Immutable and shared between copies.
public struct PackedWinogradWeights: Sendable {
    /// Total output channels.
    public let outputChannels: Int
    /// Total input channels.
    public let inputChannels: Int
    /// Groups (input and output channels are split evenly).
    public let groups: Int
    /// Input channels per group.
    public var inputChannelsPerGroup: Int { inputChannels / groups }
    /// Output channels per group.
    public var outputChannelsPerGroup: Int { outputChannels / groups }

    /// Output tile edge: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3) (`WinogradConv.tileSize`).
    public let tile: Int
    /// Input window edge per tile (`tile + 2`).
    var window: Int { tile + 2 }
    /// Transformed positions per filter (`window * window`: 36 or 16).
    var positionCount: Int { window * window }
    /// `positions[group * positionCount + i]`: transformed filters of position `i = row * window + column`.
    let positions: [PackedGEMMWeights]
    /// Bias (zero when absent), `outputChannels + 8` floats.
    let biasStorage: AlignedFloatStorage

    /// Transforms and packs ONNX weights `[Cout][Cin/groups][3][3]`.
    ///
    /// - Parameters:
    ///   - weights: `weights[((co * CinG + ci) * 3 + ky) * 3 + kx]`.
    ///   - bias: `outputChannels` floats, or nil.
    ///   - tile: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3).
    public init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int, groups: Int = 1,
                bias: UnsafePointer<Float>?, tile: Int = 4) {
        precondition(outputChannels > 0 && inputChannels > 0 && groups > 0, "empty Winograd weights")
        precondition(tile == 4 || tile == 2, "Winograd tiles are 4x4 or 2x2")
        precondition(outputChannels % groups == 0 && inputChannels % groups == 0, "channels not divisible by groups")
        self.outputChannels = outputChannels
        self.inputChannels = inputChannels
        self.groups = groups
        self.tile = tile
        let cinG = inputChannels / groups, coutG = outputChannels / groups
        // G (6x3) of F(4x4, 3x3), interpolation points 0, -1, 1, 1/2, -1/2, inf (Lavin & Gray);
        // G (4x3) of F(2x2, 3x3), points 0, 1, -1, inf.
        // Each filter's U = (G g) G^T is computed in Double, in the same order as the reference
        // formula, and written straight into the 36 packed matrices (no per-filter arrays: the
        // transform used to take most of a model's load time, 55 ms of TinyDarkNet's 89).
        let g0: (Double, Double, Double) = (1.0 / 4, 0, 0)
        let g1: (Double, Double, Double) = (-1.0 / 6, -1.0 / 6, -1.0 / 6)
        let g2: (Double, Double, Double) = (-1.0 / 6, 1.0 / 6, -1.0 / 6)
        let g3: (Double, Double, Double) = (1.0 / 24, 1.0 / 12, 1.0 / 6)
        let g4: (Double, Double, Double) = (1.0 / 24, -1.0 / 12, 1.0 / 6)
        let g5: (Double, Double, Double) = (0, 0, 1)
        let h0: (Double, Double, Double) = (1, 0, 0)
        let h1: (Double, Double, Double) = (0.5, 0.5, 0.5)
        let h2: (Double, Double, Double) = (0.5, -0.5, 0.5)
        let h3: (Double, Double, Double) = (0, 0, 1)
        let rowsOfG = tile == 4 ? [g0, g1, g2, g3, g4, g5] : [h0, h1, h2, h3]
        let window = tile + 2, positionCount = window * window
        var packed = [PackedGEMMWeights]()
        packed.reserveCapacity(groups * positionCount)
        for _ in 0..<(groups * positionCount) {
            packed.append(PackedGEMMWeights(zeroedOutputChannels: coutG, inputChannels: cinG))
        }
        rowsOfG.withUnsafeBufferPointer { gRows in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: positionCount) { targets in
                @inline(__always) func dot(_ a: (Double, Double, Double), _ x: Double, _ y: Double, _ z: Double) -> Double {
                    var s = 0.0
                    s += a.0 * x
                    s += a.1 * y
                    s += a.2 * z
                    return s
                }
                for gi in 0..<groups {
                    for i in 0..<positionCount { targets[i] = packed[gi * positionCount + i].mutablePanels }
                    // Input channel outer: consecutive output channels fill one 64-byte line of
                    // each of the 36 matrices (output channel outer wrote a line per element and
                    // came back to it 16 times).
                    for ci in 0..<cinG {
                        for co in 0..<coutG {
                            let w = weights + ((gi * coutG + co) * cinG + ci) * 9
                            // Element (co, ci) of a packed matrix: panel co / 16, row ci, column co % 16.
                            let offset = (co / PackedGEMMWeights.panelWidth) * cinG * PackedGEMMWeights.panelWidth
                                + ci * PackedGEMMWeights.panelWidth + co % PackedGEMMWeights.panelWidth
                            for r in 0..<window {
                                let gr = gRows[r]
                                // t = G g: row r, columns kx = 0, 1, 2.
                                let t0 = dot(gr, Double(w[0]), Double(w[3]), Double(w[6]))
                                let t1 = dot(gr, Double(w[1]), Double(w[4]), Double(w[7]))
                                let t2 = dot(gr, Double(w[2]), Double(w[5]), Double(w[8]))
                                for c in 0..<window {
                                    targets[r * window + c][offset] = Float(dot(gRows[c], t0, t1, t2))
                                }
                            }
                        }
                    }
                }
            }
        }
        positions = packed
        biasStorage = AlignedFloatStorage(count: outputChannels + 8)
        if let bias {
            for c in 0..<outputChannels { biasStorage.pointer[c] = bias[c] }
        }
    }

    /// Transforms and packs ONNX weights `[Cout][Cin/groups][3][3]` (see the pointer initialiser).
    public init(weights: [Float], outputChannels: Int, inputChannels: Int, groups: Int = 1, bias: [Float]?, tile: Int = 4) {
        precondition(weights.count >= outputChannels * (inputChannels / groups) * 9, "weights too short")
        precondition(bias == nil || bias!.count >= outputChannels, "bias too short")
        self = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { b in
                    PackedWinogradWeights(weights: w.baseAddress!, outputChannels: outputChannels,
                                          inputChannels: inputChannels, groups: groups, bias: b.baseAddress!, tile: tile)
                }
            }
            return PackedWinogradWeights(weights: w.baseAddress!, outputChannels: outputChannels,
                                         inputChannels: inputChannels, groups: groups, bias: nil, tile: tile)
        }
    }
}

/// 3x3 stride-1 convolution by Winograd F(4x4, 3x3) over NHWC (see the file header).
public enum WinogradConv {
    /// Output tile size (F(4x4, 3x3)).
    static let tile = 4
    /// Input window per tile.
    static let window = 6
    /// Minimum input channels per group for `isEligible`.
    public static let minimumInputChannelsPerGroup = 16
    /// Minimum output channels per group for `isEligible`.
    public static let minimumOutputChannelsPerGroup = 8
    /// Largest transformed-filter size per output tile (whole image) for `isEligible`, bytes.
    public static let maximumWeightBytesPerTile = 3 * 1024 * 1024

    /// Whether `run` applies and pays off against `Im2colConv` (by measurement, see the file
    /// header): 3x3 kernel, stride 1, dilation 1 (any padding); at least 16 input and 8 output
    /// channels per group; and transformed filters (`36 * Cin * Cout / groups` floats, 4x the
    /// plain ones) of at most 3 MiB per 4x4 output tile of the image, so that tiny images with huge
    /// filters (7x7 with 512 -> 512: 4 tiles, 36 MiB) stay on im2col, whose smaller filters
    /// are reused over every pixel.
    public static func isEligible(geometry g: ConvGeometry, inputChannels: Int, outputChannels: Int,
                                  groups: Int) -> Bool {
        guard g.kernelHeight == 3, g.kernelWidth == 3, g.strideHeight == 1, g.strideWidth == 1,
              g.dilationHeight == 1, g.dilationWidth == 1, groups > 0,
              inputChannels % groups == 0, outputChannels % groups == 0 else { return false }
        let cinG = inputChannels / groups, coutG = outputChannels / groups
        guard cinG >= minimumInputChannelsPerGroup && coutG >= minimumOutputChannelsPerGroup else { return false }
        let tiles = ((g.outputHeight + 3) / 4) * ((g.outputWidth + 3) / 4)
        let weightBytes = 36 * cinG * outputChannels * MemoryLayout<Float>.stride
        if wideVectorKernels && !paysOffWithWideGEMM(geometry: g, inputChannelsPerGroup: cinG) { return false }
        return weightBytes <= maximumWeightBytesPerTile * tiles
    }

    /// The output tile `run` should use, for a convolution `isEligible` accepts: 2 (F(2x2, 3x3))
    /// with 32 or more input channels per group where 2x2 tiles take at most 1.4x the multiplies
    /// of 4x4 ones (maps of 9-10 and 13-14 pixels, waste included) or the map holds at most four
    /// 4x4 tiles (8x8 and smaller); else 4. Few 4x4 tiles leave the GEMMs short of rows and
    /// each transformed filter (36 of them, 4x the plain weights, often streamed from L3 or
    /// memory) serves only those rows; 2x2 tiles make 16 GEMMs over filters of 1.8x the plain
    /// size with 3-4x the rows. Zen 3, per-op minima of alternated profiles in the networks,
    /// F(4x4) -> F(2x2), ms at 1 / 2 threads: IGCv1 14x14 256->256 g=4 0.63-0.65 -> 0.55-0.57 /
    /// 0.38-0.42 -> 0.35-0.37, its 7x7 512->512 g=4 0.85-0.93 -> 0.84-0.88 / 0.57-0.59 ->
    /// 0.52-0.53; CondenseNet 14x14 256->64 g=4 0.21-0.25 -> 0.17-0.18 / 0.14-0.15 -> 0.11-0.12,
    /// its 7x7 512->128 g=4 0.24-0.28 -> 0.24-0.25 / 0.16-0.18 -> 0.15; SqueezeNet 13x13 48->192
    /// 0.29-0.32 -> 0.26 / 0.22 -> 0.17-0.18, 64->256 level; TinyDarkNet's 14x14 512->512 level.
    /// ResNeXt-50's 16-channel groups lost (14x14 g=32 0.45-0.52 -> 0.48-0.64 at 1 thread, 0.25
    /// -> 0.29-0.31 at 2), as did 12x12, 15x15 and 28x28 maps (1.8x the multiplies) in a
    /// microbenchmark. With the 16-lane kernels (AVX-512), not measured with 2x2 tiles: 4.
    public static func tileSize(geometry g: ConvGeometry, inputChannels: Int, outputChannels: Int, groups: Int) -> Int {
        guard !wideVectorKernels, groups > 0, inputChannels / groups >= 32 else { return 4 }
        let tiles4 = ((g.outputHeight + 3) / 4) * ((g.outputWidth + 3) / 4)
        let tiles2 = ((g.outputHeight + 1) / 2) * ((g.outputWidth + 1) / 2)
        return tiles4 <= 4 || 16 * tiles2 * 10 <= 36 * tiles4 * 14 ? 2 : 4
    }

    /// With the 16-lane GEMM, im2col doubled its speed while the transforms did not, so Winograd
    /// keeps only maps of 16 tiles or more where few of the 4x4 tiles' outputs are wasted (at
    /// most 20% more outputs computed than stored), or up to 40% with 64 or more input channels
    /// per group. Paired profiles at 1 thread, Winograd vs im2col or grouped kernels (ms):
    /// SqueezeNet 13x13 48->192 0.18 vs 0.15 and 64->256 0.31 vs 0.26 (51% waste); 7x7 maps lose
    /// (ResNeXt g=32 0.44 vs 0.27, CondenseNet g=4 0.26 vs 0.17, IGCv1 0.88 vs 0.65); at 14x14
    /// (31% waste) 16-32 channels per group lose (ResNeXt 0.34 vs 0.30, CondenseNet 0.22 vs
    /// 0.19) and 64 or more win (IGCv1 0.51 vs 0.63, TinyDarkNet 512->512 0.55 vs 0.92); 27x27
    /// and larger maps win (SqueezeNet 55x55 0.20 vs 0.32, TinyDarkNet 56x56 0.48 vs 0.67).
    static func paysOffWithWideGEMM(geometry g: ConvGeometry, inputChannelsPerGroup cinG: Int) -> Bool {
        let tilesY = (g.outputHeight + 3) / 4, tilesX = (g.outputWidth + 3) / 4
        guard tilesY * tilesX >= 16 else { return false }
        let waste = Double(16 * tilesY * tilesX) / Double(g.outputHeight * g.outputWidth)
        return waste <= 1.2 || (waste <= 1.4 && cinG >= 64)
    }

    /// Whether threads should split this convolution by output channels (`run(outputChannels:)`)
    /// rather than by rows: dense, with more than 4 MiB of transformed filters, which every
    /// row-split call streams in full (13x13 384->384 on 2 threads: 2.2 ms by channels, 3.0 ms
    /// by rows, im2col 2.9 ms).
    public static func prefersChannelSplit(inputChannels: Int, outputChannels: Int, groups: Int, tile: Int = 4) -> Bool {
        groups == 1 && (tile + 2) * (tile + 2) * inputChannels * outputChannels * MemoryLayout<Float>.stride > 4 * 1024 * 1024
    }

    /// Whether threads split a grouped convolution by groups instead of tile rows: when the
    /// transformed filters of all groups exceed L2 (`winogradGroupSplitBytes`), a row split makes
    /// every thread stream all of them from L3. ResNeXt-50's 7x7 stage (4.7 MB) at 2 threads:
    /// 0.50-0.52 ms split by groups against 0.78-0.97 by rows. On a Zen 3 (512 KiB L2) at 2 threads,
    /// alternated profiles, medians of five to seven: ResNeXt-50's 14x14 layers (1.2 MB) 0.34-0.35
    /// -> 0.24-0.26 ms each, IGCv1's Winograd layers (its 28x28 ones hold 0.6 MB) 5.93 -> 5.72 in
    /// all, CondenseNet's 3.50 -> 3.23; thresholds of 100 KB and 0 were level or slower (IGCv1
    /// 6.10-6.16).
    public static func prefersGroupSplit(inputChannels: Int, outputChannels: Int, groups: Int, threads: Int, tile: Int = 4) -> Bool {
        groups >= threads && groups > 1
            && (tile + 2) * (tile + 2) * inputChannels * (outputChannels / groups) * MemoryLayout<Float>.stride
                > winogradGroupSplitBytes
    }

    @inline(__always) static func padded8(_ n: Int) -> Int { (n + 7) / 8 * 8 }

    /// Tiles per batch. The batch's V and M (`36 * tiles * (CinG + CoutG)` floats) stay within
    /// about 512 KiB (L2) while the transformed filters of a group are small; when they are large
    /// (every batch streams all of them from L3/memory) the budget grows to half their size, up
    /// to 4 MiB, so that each weight is reused over more tiles. At least 6 tiles (one micro-kernel
    /// row tile), at most all tiles.
    static func batchTiles(cinG: Int, coutG: Int, totalTiles: Int, positions: Int = 36) -> Int {
        let perTile = positions * (padded8(cinG) + padded8(coutG)) * MemoryLayout<Float>.stride
        let weightBytes = positions * cinG * coutG * MemoryLayout<Float>.stride
        let budget = max(512 * 1024, min(4 * 1024 * 1024, weightBytes / 2))
        var n = max(6, budget / perTile)
        if n >= 12 { n = n / 6 * 6 }
        return max(1, min(n, totalTiles))
    }

    /// Scratch floats one call of `run` needs (whatever its row range). Concurrent calls need
    /// separate scratch buffers.
    public static func scratchSize(geometry g: ConvGeometry, weights: PackedWinogradWeights) -> Int {
        let cinG = weights.inputChannelsPerGroup, coutG = weights.outputChannelsPerGroup
        let t = weights.tile, positions = weights.positionCount
        let tiles = ((g.outputHeight + t - 1) / t) * ((g.outputWidth + t - 1) / t)
        let n = batchTiles(cinG: cinG, coutG: coutG, totalTiles: tiles, positions: positions)
        return positions * n * (padded8(cinG) + padded8(coutG)) + 36 * 16 + 16
    }

    /// Computes output rows `outputRows` of `output = act(conv3x3(input, weights) + bias + residual)`.
    ///
    /// Tiles straddling the ends of `outputRows` are computed whole but only rows inside the range
    /// are stored, so threads may split the output by rows.
    ///
    /// - Parameters:
    ///   - input: NHWC input, pixel (y, x) channel c at `input[(y * W + x) * inputPixelStride + c]`.
    ///   - inputPixelStride: floats between consecutive input pixels (>= Cin).
    ///   - geometry: 3x3, stride 1, dilation 1, any padding.
    ///   - weights: transformed weights and bias.
    ///   - output: NHWC output, pixel (y, x) at `output + (y * OW + x) * outputPixelStride`; must not alias the input.
    ///   - outputPixelStride: floats between consecutive output pixels (>= Cout).
    ///   - residual: optional tensor (same shape as the output) added before the activation; may
    ///     alias the output exactly (same pointer and stride).
    ///   - residualPixelStride: floats between consecutive residual pixels.
    ///   - activation: fused activation.
    ///   - outputRows: output rows to compute; defaults to all.
    ///   - outputChannels: output channels to compute (dense convolutions only); defaults to all.
    ///     Its bounds must be multiples of 16 (or the end at Cout). Splitting threads by channels
    ///     instead of rows suits small images with large filters: each thread then streams only
    ///     its share of the transformed filters (the input transform is repeated per thread).
    ///   - inputChannelRuns: when set, group g's input channels `c ..< c + 8` (c a multiple of 8;
    ///     needs 8 | CinG) are read from input channels `runs[(g * CinG + c) / 8] ..< + 8`: a
    ///     folded channel permutation that moves runs of 8 channels (CondenseNet's shuffle before
    ///     its 3x3 group convs), read without a copy.
    ///   - scratch: at least `scratchSize(geometry:weights:)` floats, private to this call.
    public static func run(
        input: UnsafePointer<Float>, inputPixelStride: Int,
        geometry: ConvGeometry, weights: PackedWinogradWeights,
        output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
        residual: UnsafePointer<Float>? = nil, residualPixelStride: Int = 0,
        activation: KernelActivation = .none,
        outputRows: Range<Int>? = nil,
        outputChannels: Range<Int>? = nil,
        groups: Range<Int>? = nil,
        inputChannelRuns: UnsafePointer<Int>? = nil,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let g = geometry
        precondition(g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
                     && g.dilationHeight == 1 && g.dilationWidth == 1, "WinogradConv needs 3x3, stride 1, dilation 1")
        let rows = outputRows ?? 0..<g.outputHeight
        precondition(rows.lowerBound >= 0 && rows.upperBound <= g.outputHeight, "rows out of range")
        if rows.isEmpty { return }
        let channels = outputChannels ?? 0..<weights.outputChannelsPerGroup
        if let outputChannels {
            let cout = weights.outputChannels
            precondition(weights.groups == 1, "outputChannels needs a dense convolution")
            precondition(outputChannels.lowerBound >= 0 && outputChannels.upperBound <= cout
                         && outputChannels.lowerBound % 16 == 0
                         && (outputChannels.upperBound % 16 == 0 || outputChannels.upperBound == cout),
                         "outputChannels must be 16-aligned and inside Cout")
            if outputChannels.isEmpty { return }
        }
        let groupRange = groups ?? 0..<weights.groups
        precondition(groupRange.lowerBound >= 0 && groupRange.upperBound <= weights.groups, "groups out of range")
        precondition(groups == nil || outputChannels == nil, "split by groups or by output channels, not both")
        if groupRange.isEmpty { return }
        precondition(inputChannelRuns == nil || weights.inputChannelsPerGroup % 8 == 0, "channel runs need 8 | CinG")
        let args = WinogradArguments(input: input, ips: inputPixelStride, g: g, weights: weights, output: output,
                                     ops: outputPixelStride, residual: residual, rps: residualPixelStride,
                                     rows: rows, channels: channels, groups: groupRange, runs: inputChannelRuns,
                                     scratch: scratch)
        activation.visit(args)
    }
}

struct WinogradArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    let g: ConvGeometry
    let weights: PackedWinogradWeights
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let residual: UnsafePointer<Float>?
    let rps: Int
    let rows: Range<Int>
    /// Output channels (of each group) to compute, 16-aligned.
    let channels: Range<Int>
    let groups: Range<Int>
    /// Where each run of 8 input channels starts (`WinogradConv.run(inputChannelRuns:)`).
    let runs: UnsafePointer<Int>?
    let scratch: UnsafeMutablePointer<Float>

    func visit<A: VectorActivation>(_ act: A) { winogradDriver(self, act) }
}

@inline(never)
func winogradDriver<A: VectorActivation>(_ a: WinogradArguments, _ act: A) {
    let g = a.g
    let cinG = a.weights.inputChannelsPerGroup, coutG = a.weights.outputChannelsPerGroup
    let cinPad = WinogradConv.padded8(cinG), coutPad = WinogradConv.padded8(coutG)
    let t = a.weights.tile, positions = a.weights.positionCount
    let tilesX = (g.outputWidth + t - 1) / t
    let tilesY = (g.outputHeight + t - 1) / t
    let batch = WinogradConv.batchTiles(cinG: cinG, coutG: coutG, totalTiles: tilesX * tilesY, positions: positions)
    let v = a.scratch
    let m = v + positions * batch * cinPad
    let tmp = m + positions * batch * coutPad
    let ty0 = a.rows.lowerBound / t, ty1 = (a.rows.upperBound + t - 1) / t
    let t1 = ty1 * tilesX
    var tb = ty0 * tilesX
    let bias = UnsafePointer(a.weights.biasStorage.pointer)
    let panels = (a.channels.lowerBound / 16)..<((a.channels.upperBound + 15) / 16)
    while tb < t1 {
        let n = min(batch, t1 - tb)
        for gi in a.groups {
            winogradInputTransform(a, group: gi, firstTile: tb, count: n, tilesX: tilesX, cinG: cinG, cinPad: cinPad,
                                   v: v, tmp: tmp)
            let vStride = n * cinPad, mStride = n * coutPad
            for i in 0..<positions {
                GEMM.run(a: v + i * vStride, lda: cinPad, weights: a.weights.positions[gi * positions + i],
                         c: m + i * mStride, ldc: coutPad, rows: 0..<n, panels: panels)
            }
            winogradOutputTransform(a, act, group: gi, firstTile: tb, count: n, tilesX: tilesX, coutG: coutG,
                                    coutPad: coutPad, m: m, tmp: tmp, bias: bias + gi * coutG)
        }
        tb += n
    }
}

/// Input transform of tiles `firstTile ..< firstTile + count` (row-major over the tile grid) for
/// one group: `v[(i * count + t) * cinPad + c] = (B^T d B)[i]` for channel c of tile t.
/// With the 16-lane kernels, channels go 16 at a time while 16 remain, then 8 at a time.
@inline(never)
func winogradInputTransform(_ a: WinogradArguments, group gi: Int, firstTile: Int, count: Int, tilesX: Int,
                            cinG: Int, cinPad: Int, v: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>) {
    // Runs of 8 channels are read 8 lanes at a time.
    let wide = wideVectorKernels && a.runs == nil
    let small = a.weights.tile == 2
    for t in 0..<count {
        var c = 0
        if wide {
            while c + 16 <= cinG {
                if small {
                    winograd2InputBlock(SIMD16<Float>.self, a, group: gi, tile: firstTile + t, slot: t, count: count,
                                        tilesX: tilesX, c: c, lanes: 16, cinG: cinG, cinPad: cinPad, v: v)
                } else {
                    winogradInputBlock(SIMD16<Float>.self, a, group: gi, tile: firstTile + t, slot: t, count: count, tilesX: tilesX,
                                       c: c, lanes: 16, cinG: cinG, cinPad: cinPad, v: v, tmp: tmp)
                }
                c += 16
            }
        }
        while c < cinG {
            if small {
                winograd2InputBlock(SIMD8<Float>.self, a, group: gi, tile: firstTile + t, slot: t, count: count,
                                    tilesX: tilesX, c: c, lanes: min(8, cinG - c), cinG: cinG, cinPad: cinPad, v: v)
            } else {
                winogradInputBlock(SIMD8<Float>.self, a, group: gi, tile: firstTile + t, slot: t, count: count, tilesX: tilesX,
                                   c: c, lanes: min(8, cinG - c), cinG: cinG, cinPad: cinPad, v: v, tmp: tmp)
            }
            c += 8
        }
    }
}

/// Input transform of channels `c ..< c + lanes` (lanes <= V.scalarCount) of one tile, stored at
/// batch slot `slot`.
@inline(__always)
func winogradInputBlock<V: FloatVector>(
    _: V.Type, _ a: WinogradArguments, group gi: Int, tile: Int, slot t: Int, count: Int, tilesX: Int,
    c: Int, lanes: Int, cinG: Int, cinPad: Int, v: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>
) {
    let g = a.g, ips = a.ips, W = g.inputWidth, H = g.inputHeight
    let L = V.scalarCount
    let first = a.runs.map { $0[(gi * cinG + c) / 8] } ?? gi * cinG + c
    let posStride = count * cinPad
    let zero = V()
    let four = V(repeating: -4), five = V(repeating: -5), two = V(repeating: -2)
    let ty = tile / tilesX, tx = tile - ty * tilesX
    let iy0 = ty * 4 - g.padTop, ix0 = tx * 4 - g.padLeft
    // Valid window rows [r0, r1) and columns [c0, c1) inside the input.
    let r0 = max(0, -iy0), r1 = min(6, H - iy0)
    let c0 = max(0, -ix0), c1 = min(6, W - ix0)
    let inside = r0 == 0 && r1 == 6 && c0 == 0 && c1 == 6
    let full = lanes == L
    // Rows: transform along x, tmp[(r * 6 + j) * L].
    for r in 0..<6 {
        let o = tmp + r * 6 * L
        if !inside && (r < r0 || r >= r1) {
            for j in 0..<6 { zero.store(o + j * L) }
            continue
        }
        let row = a.input + first + ((iy0 + r) * W + ix0) * ips
        var d0 = zero, d1 = zero, d2 = zero, d3 = zero, d4 = zero, d5 = zero
        if inside && full {
            d0 = V.load(row); d1 = V.load(row + ips); d2 = V.load(row + 2 * ips)
            d3 = V.load(row + 3 * ips); d4 = V.load(row + 4 * ips); d5 = V.load(row + 5 * ips)
        } else {
            @inline(__always) func ld(_ j: Int) -> V {
                if j < c0 || j >= c1 { return zero }
                return full ? V.load(row + j * ips) : V.loadPartial(row + j * ips, lanes)
            }
            d0 = ld(0); d1 = ld(1); d2 = ld(2); d3 = ld(3); d4 = ld(4); d5 = ld(5)
        }
        let (e0, e1, e2, e3, e4, e5) = winogradBT(d0, d1, d2, d3, d4, d5, two, four, five)
        e0.store(o); e1.store(o + L); e2.store(o + 2 * L)
        e3.store(o + 3 * L); e4.store(o + 4 * L); e5.store(o + 5 * L)
    }
    // Columns: transform along y, position i = r' * 6 + j.
    let vc = v + t * cinPad + c
    let rowStep = 6 * L
    for j in 0..<6 {
        let p = UnsafePointer(tmp + j * L)
        let (e0, e1, e2, e3, e4, e5) = winogradBT(V.load(p), V.load(p + rowStep), V.load(p + 2 * rowStep),
                                                  V.load(p + 3 * rowStep), V.load(p + 4 * rowStep),
                                                  V.load(p + 5 * rowStep), two, four, five)
        e0.store(vc + j * posStride)
        e1.store(vc + (6 + j) * posStride)
        e2.store(vc + (12 + j) * posStride)
        e3.store(vc + (18 + j) * posStride)
        e4.store(vc + (24 + j) * posStride)
        e5.store(vc + (30 + j) * posStride)
    }
}

/// `B^T d` for one 6-vector of F(4x4, 3x3).
@inline(__always)
func winogradBT<V: FloatVector>(_ d0: V, _ d1: V, _ d2: V, _ d3: V, _ d4: V, _ d5: V,
                                 _ two: V, _ four: V, _ five: V) -> (V, V, V, V, V, V) {
    // two, four, five are passed negated where they are subtracted: -2, -4, -5.
    let t0 = d4.addingProduct(five, d2).addingProduct(-four, d0)
    let a = d4.addingProduct(four, d2)
    let b = d3.addingProduct(four, d1)
    let c = d4 - d2
    let e = (d1 - d3) * two
    let t5 = d5.addingProduct(five, d3).addingProduct(-four, d1)
    return (t0, a + b, a - b, c + e, c - e, t5)
}

/// `A^T m` for one 6-vector of F(4x4, 3x3).
@inline(__always)
func winogradAT<V: FloatVector>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V,
                                 _ two: V, _ four: V, _ eight: V) -> (V, V, V, V) {
    let p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4
    return (m0 + p + r, q.addingProduct(two, s), p.addingProduct(four, r), (q + m5).addingProduct(eight, s))
}

/// Output transform of tiles `firstTile ..< firstTile + count` for one group: reads
/// `m[(i * count + t) * coutPad + c]`, adds bias and residual, applies the activation and stores
/// the output pixels inside the image and inside `a.rows`. With the 16-lane kernels, channels go
/// 16 at a time while 16 remain, then 8 at a time.
@inline(never)
func winogradOutputTransform<A: VectorActivation>(
    _ a: WinogradArguments, _ act: A, group gi: Int, firstTile: Int, count: Int, tilesX: Int,
    coutG: Int, coutPad: Int, m: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>
) {
    let wide = wideVectorKernels
    let small = a.weights.tile == 2
    let cEnd = a.channels.upperBound
    for t in 0..<count {
        var c = a.channels.lowerBound
        if wide {
            while c + 16 <= cEnd {
                if small {
                    winograd2OutputBlock(SIMD16<Float>.self, a, act, group: gi, tile: firstTile + t, slot: t, count: count,
                                         tilesX: tilesX, c: c, lanes: 16, coutG: coutG, coutPad: coutPad, m: m, bias: bias)
                } else {
                    winogradOutputBlock(SIMD16<Float>.self, a, act, group: gi, tile: firstTile + t, slot: t, count: count,
                                        tilesX: tilesX, c: c, lanes: 16, coutG: coutG, coutPad: coutPad, m: m, tmp: tmp, bias: bias)
                }
                c += 16
            }
        }
        while c < cEnd {
            if small {
                winograd2OutputBlock(SIMD8<Float>.self, a, act, group: gi, tile: firstTile + t, slot: t, count: count,
                                     tilesX: tilesX, c: c, lanes: min(8, cEnd - c), coutG: coutG, coutPad: coutPad, m: m,
                                     bias: bias)
            } else {
                winogradOutputBlock(SIMD8<Float>.self, a, act, group: gi, tile: firstTile + t, slot: t, count: count,
                                    tilesX: tilesX, c: c, lanes: min(8, cEnd - c), coutG: coutG, coutPad: coutPad, m: m, tmp: tmp,
                                    bias: bias)
            }
            c += 8
        }
    }
}

/// Output transform of channels `c ..< c + lanes` (lanes <= V.scalarCount) of one tile.
@inline(__always)
func winogradOutputBlock<V: FloatVector, A: VectorActivation>(
    _: V.Type, _ a: WinogradArguments, _ act: A, group gi: Int, tile: Int, slot t: Int, count: Int, tilesX: Int,
    c: Int, lanes: Int, coutG: Int, coutPad: Int, m: UnsafeMutablePointer<Float>, tmp: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>
) {
    let g = a.g, OW = g.outputWidth, ops = a.ops, rps = a.rps
    let L = V.scalarCount
    let out = a.output + gi * coutG
    let res = a.residual.map { $0 + gi * coutG }
    let posStride = count * coutPad
    let two = V(repeating: 2), four = V(repeating: 4), eight = V(repeating: 8)
    let ty = tile / tilesX, tx = tile - ty * tilesX
    let oy0 = ty * 4, ox0 = tx * 4
    let yLo = max(0, a.rows.lowerBound - oy0), yHi = min(4, a.rows.upperBound - oy0)
    let xHi = min(4, OW - ox0)
    if yLo >= yHi { return }
    let mc = UnsafePointer(m + t * coutPad + c)
    // Rows of the transformed tile: transform along x, tmp[(r * 4 + x) * L].
    for r in 0..<6 {
        let p = mc + r * 6 * posStride
        let (o0, o1, o2, o3) = winogradAT(V.load(p), V.load(p + posStride), V.load(p + 2 * posStride),
                                          V.load(p + 3 * posStride), V.load(p + 4 * posStride),
                                          V.load(p + 5 * posStride), two, four, eight)
        let o = tmp + r * 4 * L
        o0.store(o); o1.store(o + L); o2.store(o + 2 * L); o3.store(o + 3 * L)
    }
    let b = V.load(bias + c)
    let rowStep = 4 * L
    for x in 0..<xHi {
        let p = UnsafePointer(tmp + x * L)
        let (y0, y1, y2, y3) = winogradAT(V.load(p), V.load(p + rowStep), V.load(p + 2 * rowStep), V.load(p + 3 * rowStep),
                                          V.load(p + 4 * rowStep), V.load(p + 5 * rowStep), two, four, eight)
        let ys = (y0 + b, y1 + b, y2 + b, y3 + b)
        for y in yLo..<yHi {
            var val = y == 0 ? ys.0 : y == 1 ? ys.1 : y == 2 ? ys.2 : ys.3
            let pix = (oy0 + y) * OW + ox0 + x
            let dst = out + pix * ops + c
            if lanes == L {
                if let res { val += V.load(res + pix * rps + c) }
                val.activated(act).store(dst)
            } else {
                if let res { val += V.loadPartial(res + pix * rps + c, lanes) }
                val.activated(act).storePartial(dst, lanes)
            }
        }
    }
}

/// F(2x2, 3x3) input transform of channels `c ..< c + lanes` of one tile: the 4x4 window d
/// becomes `B^T d B` with `B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]` (additions only),
/// position `i = row * 4 + column` stored at batch slot `slot`.
@inline(__always)
func winograd2InputBlock<V: FloatVector>(
    _: V.Type, _ a: WinogradArguments, group gi: Int, tile: Int, slot t: Int, count: Int, tilesX: Int,
    c: Int, lanes: Int, cinG: Int, cinPad: Int, v: UnsafeMutablePointer<Float>
) {
    let g = a.g, ips = a.ips, W = g.inputWidth, H = g.inputHeight
    let first = a.runs.map { $0[(gi * cinG + c) / 8] } ?? gi * cinG + c
    let posStride = count * cinPad
    let zero = V()
    let full = lanes == V.scalarCount
    let ty = tile / tilesX, tx = tile - ty * tilesX
    let iy0 = ty * 2 - g.padTop, ix0 = tx * 2 - g.padLeft
    let c0 = max(0, -ix0), c1 = min(4, W - ix0)
    @inline(__always) func row(_ r: Int) -> (V, V, V, V) {
        let y = iy0 + r
        if y < 0 || y >= H { return (zero, zero, zero, zero) }
        let p = a.input + first + (y * W + ix0) * ips
        @inline(__always) func ld(_ j: Int) -> V {
            if j < c0 || j >= c1 { return zero }
            return full ? V.load(p + j * ips) : V.loadPartial(p + j * ips, lanes)
        }
        let d0 = ld(0), d1 = ld(1), d2 = ld(2), d3 = ld(3)
        // Along x: B^T d.
        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }
    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
    let vc = v + t * cinPad + c
    // Along y, column by column.
    @inline(__always) func column(_ j: Int, _ e0: V, _ e1: V, _ e2: V, _ e3: V) {
        (e0 - e2).store(vc + j * posStride)
        (e1 + e2).store(vc + (4 + j) * posStride)
        (e2 - e1).store(vc + (8 + j) * posStride)
        (e1 - e3).store(vc + (12 + j) * posStride)
    }
    column(0, r0.0, r1.0, r2.0, r3.0)
    column(1, r0.1, r1.1, r2.1, r3.1)
    column(2, r0.2, r1.2, r2.2, r3.2)
    column(3, r0.3, r1.3, r2.3, r3.3)
}

/// F(2x2, 3x3) output transform of channels `c ..< c + lanes` of one tile: `A^T m A` with
/// `A^T = [1 1 1 0; 0 1 -1 -1]`, plus bias and residual, then the activation; stores the pixels
/// inside the image and inside `a.rows`.
@inline(__always)
func winograd2OutputBlock<V: FloatVector, A: VectorActivation>(
    _: V.Type, _ a: WinogradArguments, _ act: A, group gi: Int, tile: Int, slot t: Int, count: Int, tilesX: Int,
    c: Int, lanes: Int, coutG: Int, coutPad: Int, m: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>
) {
    let g = a.g, OW = g.outputWidth, ops = a.ops, rps = a.rps
    let out = a.output + gi * coutG
    let res = a.residual.map { $0 + gi * coutG }
    let posStride = count * coutPad
    let ty = tile / tilesX, tx = tile - ty * tilesX
    let oy0 = ty * 2, ox0 = tx * 2
    let yLo = max(0, a.rows.lowerBound - oy0), yHi = min(2, a.rows.upperBound - oy0)
    let xHi = min(2, OW - ox0)
    if yLo >= yHi { return }
    let mc = UnsafePointer(m + t * coutPad + c)
    // Along x, row by row of the transformed tile.
    @inline(__always) func row(_ r: Int) -> (V, V) {
        let p = mc + r * 4 * posStride
        let m0 = V.load(p), m1 = V.load(p + posStride), m2 = V.load(p + 2 * posStride), m3 = V.load(p + 3 * posStride)
        return (m0 + m1 + m2, m1 - m2 - m3)
    }
    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
    let b = V.load(bias + c)
    // Along y: output rows 0 and 1 of columns 0 and 1.
    let ys = ((r0.0 + r1.0 + r2.0 + b, r0.1 + r1.1 + r2.1 + b),
              (r1.0 - r2.0 - r3.0 + b, r1.1 - r2.1 - r3.1 + b))
    for y in yLo..<yHi {
        let pair = y == 0 ? ys.0 : ys.1
        for x in 0..<xHi {
            var val = x == 0 ? pair.0 : pair.1
            let pix = (oy0 + y) * OW + ox0 + x
            let dst = out + pix * ops + c
            if lanes == V.scalarCount {
                if let res { val += V.load(res + pix * rps + c) }
                val.activated(act).store(dst)
            } else {
                if let res { val += V.loadPartial(res + pix * rps + c, lanes) }
                val.activated(act).storePartial(dst, lanes)
            }
        }
    }
}

/// Transformed-filter bytes above which grouped Winograd layers split across threads by groups
/// (`WinogradConv.prefersGroupSplit`): L2, or `KITE_WINOGRAD_GROUP_SPLIT_BYTES` (A/B runs).
let winogradGroupSplitBytes = Int(environmentValue("KITE_WINOGRAD_GROUP_SPLIT_BYTES") ?? "").map { max(0, $0) }
    ?? CacheSizes.level2OrDefault
