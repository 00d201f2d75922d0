// Weights packed once at plan time into the layouts the kernels read.

/// Weights of a pointwise convolution / GEMM, packed for `GEMM.run`.
///
/// The ONNX weight matrix `B[N x K]` (output channels x input channels, row-major) is stored as
/// `ceil(N / 16)` panels of 16 output channels; each panel is K-major (`panel[k][j] = B[p*16 + j][k]`)
/// and zero-padded past N. The bias (zero when absent) is stored padded to a multiple of 16.
/// The storage is 64-byte aligned, immutable after packing and shared between copies.
public struct PackedGEMMWeights: Sendable {
    /// Output channels per panel (the micro-kernel's NR).
    public static let panelWidth = 16

    /// N: output channels (columns of the result).
    public let outputChannels: Int
    /// K: input channels (the reduction length).
    public let inputChannels: Int
    /// Number of 16-column panels, `ceil(N / 16)`; `GEMM.run` takes a range of these.
    public var panelCount: Int { (outputChannels + Self.panelWidth - 1) / Self.panelWidth }

    @usableFromInline let storage: AlignedFloatStorage

    /// Floats per panel (`K * 16`).
    @usableFromInline var panelStride: Int { inputChannels * Self.panelWidth }
    /// Packed panels.
    @usableFromInline var panels: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    /// Padded bias (`panelCount * 16` floats).
    @usableFromInline var bias: UnsafePointer<Float> { UnsafePointer(storage.pointer + panelCount * panelStride) }
    /// `panelCount * 16` zeros (the bias of the second and later K blocks).
    @usableFromInline var zeros: UnsafePointer<Float> { UnsafePointer(storage.pointer + panelCount * panelStride + panelCount * Self.panelWidth) }

    /// Packs `weights[n * rowStride + k]` for n < `outputChannels`, k < `inputChannels`.
    ///
    /// - Parameters:
    ///   - weights: ONNX layout `[N x K]`, i.e. `[Cout x Cin]` of a 1x1 convolution (or `Gemm` B with transB=1).
    ///   - rowStride: floats between consecutive output channels in `weights` (default K).
    ///   - bias: N floats, or nil for zero bias.
    public init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int,
                rowStride: Int? = nil, bias: UnsafePointer<Float>?) {
        precondition(outputChannels > 0 && inputChannels > 0, "GEMM weights must be non-empty")
        let nr = Self.panelWidth
        let ld = rowStride ?? inputChannels
        self.outputChannels = outputChannels
        self.inputChannels = inputChannels
        let panelCount = (outputChannels + nr - 1) / nr
        storage = AlignedFloatStorage(count: panelCount * inputChannels * nr + 2 * panelCount * nr)
        let dst = storage.pointer
        for p in 0..<panelCount {
            let base = dst + p * inputChannels * nr
            let columns = min(nr, outputChannels - p * nr)
            let rows = weights + p * nr * ld
            var k = 0
            if columns == nr {
                // 8 x 8 blocks transposed in registers: 2.3-6x the element-by-element loops'
                // speed (K = 1024: 3 -> 7 GB/s; K = 1280: 3 -> 14-18 GB/s, best of 30, Zen 3).
                while k + 8 <= inputChannels {
                    for half in 0..<2 {
                        let source = rows + half * 8 * ld + k
                        let out = base + k * nr + half * 8
                        transposeBlock8(source, ld, out, nr)
                    }
                    k += 8
                }
            }
            for j in 0..<columns {
                let src = rows + j * ld
                for kk in k..<inputChannels { base[kk * nr + j] = src[kk] }
            }
        }
        if let bias {
            let b = dst + panelCount * inputChannels * nr
            for n in 0..<outputChannels { b[n] = bias[n] }
        }
    }

    /// Zero weights and bias for `outputChannels` x `inputChannels`, to be filled through
    /// `mutablePanels` by a packer that computes its weights (Winograd's transformed filters).
    init(zeroedOutputChannels outputChannels: Int, inputChannels: Int) {
        precondition(outputChannels > 0 && inputChannels > 0, "GEMM weights must be non-empty")
        self.outputChannels = outputChannels
        self.inputChannels = inputChannels
        let panelCount = (outputChannels + Self.panelWidth - 1) / Self.panelWidth
        storage = AlignedFloatStorage(count: panelCount * inputChannels * Self.panelWidth + 2 * panelCount * Self.panelWidth)
    }

    /// The panels, writable while the weights are being packed (element `(n, k)` at
    /// `(n / 16) * K * 16 + k * 16 + n % 16`).
    var mutablePanels: UnsafeMutablePointer<Float> { storage.pointer }

    /// Packs a `[N x K]` row-major array (see `init(weights:outputChannels:inputChannels:rowStride:bias:)`).
    public init(weights: [Float], outputChannels: Int, inputChannels: Int, bias: [Float]?) {
        precondition(weights.count >= outputChannels * inputChannels, "weights too short")
        precondition(bias == nil || bias!.count >= outputChannels, "bias too short")
        self = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { b in
                    PackedGEMMWeights(weights: w.baseAddress!, outputChannels: outputChannels,
                                      inputChannels: inputChannels, bias: b.baseAddress!)
                }
            }
            return PackedGEMMWeights(weights: w.baseAddress!, outputChannels: outputChannels,
                                     inputChannels: inputChannels, bias: nil)
        }
    }

    /// Reads back `B[n][k]` (for tests and debugging).
    public func weight(n: Int, k: Int) -> Float {
        let p = n / Self.panelWidth, j = n % Self.panelWidth
        return panels[p * panelStride + k * Self.panelWidth + j]
    }

    /// Reads back bias `n` (zero when packed without bias).
    public func biasValue(n: Int) -> Float { bias[n] }
}

/// Weights of a depthwise convolution (one filter per channel, channel multiplier 1), packed for
/// `DepthwiseConv.run`: `[KH * KW][Cpad]`, channel fastest, `Cpad` = C rounded up to 8, followed by
/// the bias padded to `Cpad` (zero when absent). Immutable and shared between copies.
public struct PackedDepthwiseWeights: Sendable {
    /// Channels (C): input channels = output channels = groups.
    public let channels: Int
    /// Kernel height.
    public let kernelHeight: Int
    /// Kernel width.
    public let kernelWidth: Int
    /// Channel stride of the packed taps (C rounded up to 8).
    public let paddedChannels: Int

    @usableFromInline let storage: AlignedFloatStorage

    /// Packed taps: tap `t = ky * KW + kx`, channel c at `taps[t * paddedChannels + c]`.
    @usableFromInline var taps: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    /// Padded bias.
    @usableFromInline var bias: UnsafePointer<Float> {
        UnsafePointer(storage.pointer + kernelHeight * kernelWidth * paddedChannels)
    }

    /// Packs ONNX depthwise weights `[C][1][KH][KW]` (i.e. `weights[(c * KH + ky) * KW + kx]`).
    public init(weights: UnsafePointer<Float>, channels: Int, kernelHeight: Int, kernelWidth: Int,
                bias: UnsafePointer<Float>?) {
        precondition(channels > 0 && kernelHeight > 0 && kernelWidth > 0, "empty depthwise weights")
        self.channels = channels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        let cpad = (channels + 7) / 8 * 8
        paddedChannels = cpad
        let taps = kernelHeight * kernelWidth
        storage = AlignedFloatStorage(count: (taps + 1) * cpad)
        let dst = storage.pointer
        for c in 0..<channels {
            for t in 0..<taps { dst[t * cpad + c] = weights[c * taps + t] }
            if let bias { dst[taps * cpad + c] = bias[c] }
        }
    }

    /// Packs an array in ONNX layout `[C][1][KH][KW]`.
    public init(weights: [Float], channels: Int, kernelHeight: Int, kernelWidth: Int, bias: [Float]?) {
        precondition(weights.count >= channels * kernelHeight * kernelWidth, "weights too short")
        precondition(bias == nil || bias!.count >= channels, "bias too short")
        self = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { b in
                    PackedDepthwiseWeights(weights: w.baseAddress!, channels: channels, kernelHeight: kernelHeight,
                                           kernelWidth: kernelWidth, bias: b.baseAddress!)
                }
            }
            return PackedDepthwiseWeights(weights: w.baseAddress!, channels: channels, kernelHeight: kernelHeight,
                                          kernelWidth: kernelWidth, bias: nil)
        }
    }
}

/// Weights of a general (dense or grouped) convolution, packed for `Im2colConv.run`: one
/// `PackedGEMMWeights` per group with K ordered `(ky, kx, ci)` to match the NHWC im2col rows.
public struct PackedConvWeights: Sendable {
    /// Output channels (all groups).
    public let outputChannels: Int
    /// Input channels (all groups).
    public let inputChannels: Int
    /// Number of groups (divides both channel counts).
    public let groups: Int
    /// Kernel height.
    public let kernelHeight: Int
    /// Kernel width.
    public let kernelWidth: Int
    /// Packed GEMM weights of each group: `outputChannels / groups` columns, `KH * KW * inputChannels / groups` rows.
    public let groupWeights: [PackedGEMMWeights]
    /// Weights for the direct small-group kernel (groups of 2, 4 or 8 channels in and out), if eligible.
    let rotated: RotatedGroupWeights?
    /// Weights of group pairs sharing 16-column tiles (1x1, 8 output channels per group), if eligible.
    let pairs: PackedGroupPairs?

    /// Input channels per group.
    public var inputChannelsPerGroup: Int { inputChannels / groups }
    /// Output channels per group.
    public var outputChannelsPerGroup: Int { outputChannels / groups }
    /// The kernel `Im2colConv.run` uses for these weights, for profiles.
    public var kernelName: String {
        if rotated != nil { return "group-direct" }
        if pairs != nil { return "group-pairs" }
        if kernelHeight == 1 && kernelWidth == 1 && groups > 1 { return "group-gemm" }
        return "im2col-gemm"
    }

    /// GEMM reduction length per group, `KH * KW * inputChannelsPerGroup`.
    public var reductionLength: Int { kernelHeight * kernelWidth * inputChannelsPerGroup }

    /// Packs ONNX convolution weights `[Cout][Cin / groups][KH][KW]` and an optional bias of Cout floats.
    public init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, groups: Int = 1, bias: UnsafePointer<Float>?) {
        precondition(groups > 0 && outputChannels % groups == 0 && inputChannels % groups == 0,
                     "groups must divide the channel counts")
        self.outputChannels = outputChannels
        self.inputChannels = inputChannels
        self.groups = groups
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        let cin = inputChannels / groups, cout = outputChannels / groups
        let taps = kernelHeight * kernelWidth
        let k = taps * cin
        var packed = [PackedGEMMWeights]()
        packed.reserveCapacity(groups)
        for g in 0..<groups {
            let reordered = tapMajorRows(weights + g * cout * cin * taps, rows: cout, inputs: cin, taps: taps)
            packed.append(reordered.withUnsafeBufferPointer { r in
                PackedGEMMWeights(weights: r.baseAddress!, outputChannels: cout, inputChannels: k,
                                  bias: bias.map { $0 + g * cout })
            })
        }
        groupWeights = packed
        pairs = PackedGroupPairs.isEligible(kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                                            outputChannels: outputChannels, groups: groups)
            ? PackedGroupPairs(weights: weights, outputChannels: outputChannels, inputChannelsPerGroup: cin, bias: bias)
            : nil
        rotated = pairs == nil && RotatedGroupWeights.isEligible(inputChannels: inputChannels, outputChannels: outputChannels,
                                                                 groups: groups)
            ? RotatedGroupWeights(weights: weights, channels: outputChannels, groupSize: cin,
                                  kernelHeight: kernelHeight, kernelWidth: kernelWidth, bias: bias)
            : nil
    }

    /// Packs an array in ONNX layout `[Cout][Cin / groups][KH][KW]`.
    public init(weights: [Float], outputChannels: Int, inputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, groups: Int = 1, bias: [Float]?) {
        precondition(weights.count >= outputChannels * (inputChannels / groups) * kernelHeight * kernelWidth,
                     "weights too short")
        precondition(bias == nil || bias!.count >= outputChannels, "bias too short")
        self = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { b in
                    PackedConvWeights(weights: w.baseAddress!, outputChannels: outputChannels, inputChannels: inputChannels,
                                      kernelHeight: kernelHeight, kernelWidth: kernelWidth, groups: groups,
                                      bias: b.baseAddress!)
                }
            }
            return PackedConvWeights(weights: w.baseAddress!, outputChannels: outputChannels, inputChannels: inputChannels,
                                     kernelHeight: kernelHeight, kernelWidth: kernelWidth, groups: groups, bias: nil)
        }
    }
}

/// Reorders convolution weights `[rows][inputs][taps]` (ONNX `[Cout][Cin / groups][KH][KW]`) into
/// `[rows][taps * inputs]` with k = `tap * inputs + input`, the order of NHWC im2col rows.
func tapMajorRows(_ weights: UnsafePointer<Float>, rows: Int, inputs: Int, taps: Int) -> [Float] {
    let k = taps * inputs
    var out = [Float](repeating: 0, count: rows * k)
    for o in 0..<rows {
        let src = weights + o * k
        for ci in 0..<inputs {
            for t in 0..<taps { out[o * k + t * inputs + ci] = src[ci * taps + t] }
        }
    }
    return out
}

/// Weights of a fully-connected layer packed for `FullyConnected.run`, as one sequential stream:
/// K is zero-padded to a multiple of 16; rows come in blocks of 4 whose 16-float chunks are
/// interleaved (chunk j of rows 4b..4b+3 back to back), so a block is read front to back; the
/// last `N % 4` rows follow as plain rows; then the bias. With each row a separate stream, the
/// four 5 KiB streams per block restarted the prefetchers every block: a 1280 x 1000 layer with
/// its weights in memory read them at 13 GB/s, and at 19-21 GB/s as one stream.
public struct PackedFCWeights: Sendable {
    /// N: outputs.
    public let outputCount: Int
    /// K: inputs.
    public let inputCount: Int
    /// Floats per packed row (K rounded up to 16).
    public let paddedInputCount: Int
    /// Rows stored in interleaved blocks of 4 (`N` rounded down to 4).
    public var blockedRows: Int { outputCount / 4 * 4 }

    @usableFromInline let storage: AlignedFloatStorage

    @usableFromInline var rows: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    @usableFromInline var bias: UnsafePointer<Float> { UnsafePointer(storage.pointer + outputCount * paddedInputCount) }

    /// Where element k of row n is stored, relative to `rows`.
    @inline(__always)
    static func offset(row n: Int, k: Int, paddedInputCount kpad: Int, blockedRows: Int) -> Int {
        if n >= blockedRows { return n * kpad + k }
        return (n / 4) * 4 * kpad + (k / 16) * 64 + (n % 4) * 16 + k % 16
    }

    /// Packs `W[n][k]` at `weights[n * rowStride + k]` (ONNX Gemm B with transB=1, or MatMul B transposed).
    ///
    /// - Parameters:
    ///   - rowStride: floats between consecutive rows of W (default K).
    ///   - columnStride: floats between consecutive k of one row (default 1; pass N with rowStride 1
    ///     to pack a `[K x N]` matrix, i.e. Gemm with transB=0 / MatMul).
    public init(weights: UnsafePointer<Float>, outputCount: Int, inputCount: Int,
                rowStride: Int? = nil, columnStride: Int = 1, bias: UnsafePointer<Float>?) {
        precondition(outputCount > 0 && inputCount > 0, "empty FC weights")
        self.outputCount = outputCount
        self.inputCount = inputCount
        let kpad = (inputCount + 15) / 16 * 16
        paddedInputCount = kpad
        storage = AlignedFloatStorage(count: outputCount * kpad + outputCount)
        let ld = rowStride ?? inputCount
        let dst = storage.pointer
        let blocked = outputCount / 4 * 4
        for n in 0..<outputCount {
            let src = weights + n * ld
            if n >= blocked {
                let row = dst + n * kpad
                for k in 0..<inputCount { row[k] = src[k * columnStride] }
            } else {
                // Row n's 16-float chunks, 64 floats apart in its block of four rows.
                let row = dst + (n / 4) * 4 * kpad + (n % 4) * 16
                var k = 0
                while k < inputCount {
                    let chunk = row + (k / 16) * 64
                    for j in 0..<min(16, inputCount - k) { chunk[j] = src[(k + j) * columnStride] }
                    k += 16
                }
            }
            if let bias { dst[outputCount * kpad + n] = bias[n] }
        }
    }

    /// Packs a `[N x K]` row-major array.
    public init(weights: [Float], outputCount: Int, inputCount: Int, bias: [Float]?) {
        precondition(weights.count >= outputCount * inputCount, "weights too short")
        precondition(bias == nil || bias!.count >= outputCount, "bias too short")
        self = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { b in
                    PackedFCWeights(weights: w.baseAddress!, outputCount: outputCount, inputCount: inputCount,
                                    bias: b.baseAddress!)
                }
            }
            return PackedFCWeights(weights: w.baseAddress!, outputCount: outputCount, inputCount: inputCount, bias: nil)
        }
    }
}

/// Writes the 8 x 8 block whose row r is `source + r * sourceStride` (8 floats) transposed: row
/// c of the result, at `destination + c * destinationStride`, holds column c of the block.
@inline(__always)
func transposeBlock8(_ source: UnsafePointer<Float>, _ sourceStride: Int,
                     _ destination: UnsafeMutablePointer<Float>, _ destinationStride: Int) {
    let a = load8(source), b = load8(source + sourceStride)
    let c = load8(source + 2 * sourceStride), d = load8(source + 3 * sourceStride)
    let e = load8(source + 4 * sourceStride), f = load8(source + 5 * sourceStride)
    let g = load8(source + 6 * sourceStride), h = load8(source + 7 * sourceStride)
    for i in 0..<8 {
        store8(SIMD8(a[i], b[i], c[i], d[i], e[i], f[i], g[i], h[i]), destination + i * destinationStride)
    }
}
