// Grouped 1x1 convolutions with 8 output channels per group (IGCv2's and CondenseNet's
// interleaved group convolutions): two groups share one 16-column GEMM tile.
//
// A GEMM per group would run 8-column tiles, whose 12 row pointers spill and whose epilogue
// stores half vectors. Pairing groups g and g + 1 gives full 6 x 16 tiles: columns 0-7 read
// group g's input channels, columns 8-15 group g + 1's, and the 16 outputs are adjacent
// channels of C. Input channels may be read through a channel map (a folded shuffle).

/// Packed weights of the group pairs: one GEMM packing of all output channels, each row over
/// the K = Cin / groups inputs of its own group (the ONNX 1x1 layout `[Cout][Cin / groups]` as
/// is), so 16-column panel j holds pair j.
struct PackedGroupPairs: Sendable {
    let weights: PackedGEMMWeights

    /// Whether pairing applies: a 1x1 kernel, 8 output channels per group, an even group count.
    static func isEligible(kernelHeight: Int, kernelWidth: Int, outputChannels: Int, groups: Int) -> Bool {
        kernelHeight == 1 && kernelWidth == 1 && groups >= 2 && groups % 2 == 0 && outputChannels == 8 * groups
    }

    init(weights: UnsafePointer<Float>, outputChannels: Int, inputChannelsPerGroup k: Int, bias: UnsafePointer<Float>?) {
        self.weights = PackedGEMMWeights(weights: weights, outputChannels: outputChannels, inputChannels: k, bias: bias)
    }
}

struct GroupPairArguments: ActivationVisitor {
    let input: UnsafePointer<Float>
    let ips: Int
    /// Input channel j of the convolution is `pixel[channelMap[j]]` when set, `pixel[j]` otherwise.
    let channelMap: UnsafePointer<Int>?
    let pairs: PackedGroupPairs
    let inputChannelsPerGroup: Int
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let residual: UnsafePointer<Float>?
    let rps: Int
    let pixels: Range<Int>

    func visit<A: VectorActivation>(_ act: A) {
        let k = inputChannelsPerGroup
        if let map = channelMap {
            groupPairDriver(self, act) { j in
                (MappedPair(first: map + 2 &* j &* k, second: map + (2 &* j &+ 1) &* k), 0)
            }
        } else {
            groupPairDriver(self, act) { j in (ContiguousPair(shift: k), 2 &* j &* k) }
        }
    }
}

/// Pixel blocks (about 16 KiB of input) outside, pairs inside, 6-row tiles innermost: a block's
/// input rows stay in L1 while every pair reads its channels.
@inline(__always)
func groupPairDriver<A: VectorActivation, P: PairIndexing>(
    _ d: GroupPairArguments, _ act: A, _ indexing: (Int) -> (P, Int)
) {
    let k = d.inputChannelsPerGroup
    let packed = d.pairs.weights
    var args = GEMMArguments(a: d.input, lda: d.ips, offsets: nil, weights: packed, c: d.output, ldc: d.ops,
                             residual: d.residual, ldr: d.rps, rows: d.pixels, panels: 0..<1)
    let panels = packed.panels, biases = packed.bias, panelStride = packed.panelStride
    let block = max(GEMM.tileRows, (4096 / max(d.ips, 1)) / GEMM.tileRows * GEMM.tileRows)
    var m0 = d.pixels.lowerBound
    while m0 < d.pixels.upperBound {
        let m1 = min(d.pixels.upperBound, m0 &+ block)
        for j in 0..<packed.panelCount {
            let (pair, shift) = indexing(j)
            args.a = d.input + shift
            args.c = d.output + 16 &* j
            args.residual = d.residual.map { $0 + 16 &* j }
            let b = panels + j &* panelStride, bias = biases + 16 &* j
            var m = m0
            if groupPairTileRuns && d.pixels.count >= groupPairRunPixels && m1 &- m >= GEMM.tileRows {
                let tiles = (m1 &- m) / GEMM.tileRows
                gemmPairTiles(act, pair, args, k: k, m: m, tiles: tiles, b: b, bias: bias)
                m &+= tiles &* GEMM.tileRows
            }
            while m < m1 {
                let rows = gemmNextTileRows(m1 &- m)
                gemmPairTileRows(rows, act, pair, args, k: k, m: m, b: b, bias: bias)
                m &+= rows
            }
        }
        m0 = m1
    }
}

/// Whether a block's full 6-row pair tiles run in one `gemmPairTiles` call (`KITE_GROUP_PAIR_RUNS=0`
/// turns it off, for A/B runs).
nonisolated(unsafe) var groupPairTileRuns = environmentValue("KITE_GROUP_PAIR_RUNS") != "0"

/// Fewest pixels a call must cover for `gemmPairTiles`: IGCv2's 7x7 layer (49 pixels, 64 pairs of
/// 8 tiles) took 0.0255 -> 0.029 ms with the runs, while 112x112 maps gained 12-25%.
let groupPairRunPixels = 96

/// `tiles` full 6 x 16 pair tiles down the rows from `m`, in one call, with the accumulators
/// starting at the bias. With 4 to 16 steps per tile (IGCv2, IGCv3, CondenseNet) the call and the
/// epilogue's bias pass weighed as much as the FMAs. On a Zen 3, 1 thread, alone: 12544 pixels in
/// 8 groups of 4 channels read through a shuffle 0.30 -> 0.21 ms, in 4 groups of 5, 7 and 11
/// channels 0.15 -> 0.105, 0.174 -> 0.13 and 0.22 -> 0.18. In networks (alternated profiles,
/// medians of five): IGCv2's 112x112 layer 0.231 -> 0.173, CondenseNet's four 0.139-0.227 ->
/// 0.110-0.187, IGCv3's 0.123 -> 0.108.
@inline(never)
func gemmPairTiles<A: VectorActivation, P: PairIndexing>(
    _ act: A, _ ix: P, _ g: GEMMArguments, k: Int, m: Int, tiles: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    let lda = g.lda, ldc = g.ldc, ldr = g.ldr
    var a0 = g.a + m &* lda
    var cp = g.c + m &* ldc
    var rp = g.residual.map { $0 + m &* ldr }
    for _ in 0..<tiles {
        let a1 = a0 + lda, a2 = a0 + 2 &* lda, a3 = a0 + 3 &* lda, a4 = a0 + 4 &* lda, a5 = a0 + 5 &* lda
        // Loaded per tile: held across tiles, the two bias vectors pushed accumulators onto the stack.
        let bias0 = load8(bias), bias1 = load8(bias + 8)
        var c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1
        var c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1
        var bp = b
        for kk in 0..<k {
            let b0 = load8(bp), b1 = load8(bp + 8)
            bp += 16
            c00 = c00.addingProduct(SIMD8(repeating: ix.load0(a0, kk)), b0)
            c01 = c01.addingProduct(SIMD8(repeating: ix.load1(a0, kk)), b1)
            c10 = c10.addingProduct(SIMD8(repeating: ix.load0(a1, kk)), b0)
            c11 = c11.addingProduct(SIMD8(repeating: ix.load1(a1, kk)), b1)
            c20 = c20.addingProduct(SIMD8(repeating: ix.load0(a2, kk)), b0)
            c21 = c21.addingProduct(SIMD8(repeating: ix.load1(a2, kk)), b1)
            c30 = c30.addingProduct(SIMD8(repeating: ix.load0(a3, kk)), b0)
            c31 = c31.addingProduct(SIMD8(repeating: ix.load1(a3, kk)), b1)
            c40 = c40.addingProduct(SIMD8(repeating: ix.load0(a4, kk)), b0)
            c41 = c41.addingProduct(SIMD8(repeating: ix.load1(a4, kk)), b1)
            c50 = c50.addingProduct(SIMD8(repeating: ix.load0(a5, kk)), b0)
            c51 = c51.addingProduct(SIMD8(repeating: ix.load1(a5, kk)), b1)
        }
        gemmStoreTile6x16(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, act, cp, ldc: ldc, residual: rp, ldr: ldr)
        rp = rp.map { $0 + 6 &* ldr }
        a0 += 6 &* lda
        cp += 6 &* ldc
    }
}

/// A pair tile of `rows` (1...6) rows: the run-time count picks the compile-time variant.
@inline(__always)
func gemmPairTileRows<A: VectorActivation, P: PairIndexing>(
    _ rows: Int, _ act: A, _ pair: P, _ args: GEMMArguments, k: Int, m: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    switch rows {
    case 6: gemmPairTile(Count6.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    case 5: gemmPairTile(Count5.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    case 4: gemmPairTile(Count4.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    case 3: gemmPairTile(Count3.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    case 2: gemmPairTile(Count2.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    default: gemmPairTile(Count1.self, act, pair, args, k: k, m: m, b: b, bias: bias)
    }
}

/// How a pair tile reads element k of its two groups from a pixel's row pointer.
protocol PairIndexing {
    func load0(_ row: UnsafePointer<Float>, _ k: Int) -> Float
    func load1(_ row: UnsafePointer<Float>, _ k: Int) -> Float
}

/// Adjacent groups: the second group's channels follow the first's.
struct ContiguousPair: PairIndexing {
    let shift: Int
    @inline(__always) func load0(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[k] }
    @inline(__always) func load1(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[k &+ shift] }
}

/// Channels read through a channel map (a folded shuffle): one offset table per group.
struct MappedPair: PairIndexing {
    let first: UnsafePointer<Int>
    let second: UnsafePointer<Int>
    @inline(__always) func load0(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[first[k]] }
    @inline(__always) func load1(_ row: UnsafePointer<Float>, _ k: Int) -> Float { row[second[k]] }
}

/// `Rows` (1...6) pixels x 16 columns: columns 0-7 from group 2j's channels, 8-15 from group 2j + 1's.
@inline(never)
func gemmPairTile<Rows: StaticCount, A: VectorActivation, P: PairIndexing>(
    _: Rows.Type, _ act: A, _ ix: P, _ g: GEMMArguments,
    k: Int, m: Int, b: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    let R = Rows.value
    let lda = g.lda
    let a0 = g.a + m * lda
    let a1 = a0 + (R > 1 ? lda : 0)
    let a2 = a0 + (R > 2 ? 2 * lda : 0)
    let a3 = a0 + (R > 3 ? 3 * lda : 0)
    let a4 = a0 + (R > 4 ? 4 * lda : 0)
    let a5 = a0 + (R > 5 ? 5 * lda : 0)
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var bp = b
    for kk in 0..<k {
        let b0 = load8(bp)
        let b1 = load8(bp + 8)
        bp += 16
        c00 = c00.addingProduct(SIMD8(repeating: ix.load0(a0, kk)), b0)
        c01 = c01.addingProduct(SIMD8(repeating: ix.load1(a0, kk)), b1)
        if R > 1 {
            c10 = c10.addingProduct(SIMD8(repeating: ix.load0(a1, kk)), b0)
            c11 = c11.addingProduct(SIMD8(repeating: ix.load1(a1, kk)), b1)
        }
        if R > 2 {
            c20 = c20.addingProduct(SIMD8(repeating: ix.load0(a2, kk)), b0)
            c21 = c21.addingProduct(SIMD8(repeating: ix.load1(a2, kk)), b1)
        }
        if R > 3 {
            c30 = c30.addingProduct(SIMD8(repeating: ix.load0(a3, kk)), b0)
            c31 = c31.addingProduct(SIMD8(repeating: ix.load1(a3, kk)), b1)
        }
        if R > 4 {
            c40 = c40.addingProduct(SIMD8(repeating: ix.load0(a4, kk)), b0)
            c41 = c41.addingProduct(SIMD8(repeating: ix.load1(a4, kk)), b1)
        }
        if R > 5 {
            c50 = c50.addingProduct(SIMD8(repeating: ix.load0(a5, kk)), b0)
            c51 = c51.addingProduct(SIMD8(repeating: ix.load1(a5, kk)), b1)
        }
    }
    let bias0 = load8(bias)
    let bias1 = load8(bias + 8)
    let cp = g.c + m * g.ldc
    let rp = g.residual.map { $0 + m * g.ldr }
    gemmStoreRow(c00, c01, bias0, bias1, act, cp, rp, 16)
    if R > 1 { gemmStoreRow(c10, c11, bias0, bias1, act, cp + g.ldc, rp.map { $0 + g.ldr }, 16) }
    if R > 2 { gemmStoreRow(c20, c21, bias0, bias1, act, cp + 2 * g.ldc, rp.map { $0 + 2 * g.ldr }, 16) }
    if R > 3 { gemmStoreRow(c30, c31, bias0, bias1, act, cp + 3 * g.ldc, rp.map { $0 + 3 * g.ldr }, 16) }
    if R > 4 { gemmStoreRow(c40, c41, bias0, bias1, act, cp + 4 * g.ldc, rp.map { $0 + 4 * g.ldr }, 16) }
    if R > 5 { gemmStoreRow(c50, c51, bias0, bias1, act, cp + 5 * g.ldc, rp.map { $0 + 5 * g.ldr }, 16) }
}
