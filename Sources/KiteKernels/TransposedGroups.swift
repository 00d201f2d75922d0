// Grouped 1x1 convolutions computed in channel-transposed order (IGCv1's secondary convolutions,
// which sit between a channel shuffle and its inverse).

/// A grouped 1x1 convolution with G = 2, 4 or 8 input and output channels per group and
/// Q = C / G >= 8 groups, whose input and output are both stored transposed: logical channel
/// G q + m lives at physical channel m Q + q.
///
/// A channel shuffle with G groups leaves its output in exactly that order (folded as a view,
/// nothing copied), and the shuffle with Q groups that follows IGCv1's secondary convolution
/// turns the transposed output back into plain order (again a view). In between, the G inputs of
/// 8 consecutive groups q ..< q + 8 are G contiguous vectors (one per member m, lane l belonging
/// to group q + l), and so are their G outputs: each output vector is a sum of G lane-wise
/// products with per-lane weights, no shuffles, no gathers. When Q is not a multiple of 8 the last
/// block of groups overlaps the previous one (it starts at Q - 8) and stores the same values twice.
public struct TransposedGroupConv: Sendable {
    /// Channels per group (G).
    public let groupSize: Int
    /// Groups (Q).
    public let groups: Int
    let storage: AlignedFloatStorage

    /// Blocks of 8 groups.
    var blocks: Int { (groups + 7) / 8 }
    /// Block b's G x G weight vectors, `[m'][m]`, lane l holding group `start(b) + l`'s weight.
    var weights: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    /// Block b's G bias vectors.
    var bias: UnsafePointer<Float> { UnsafePointer(storage.pointer + blocks * groupSize * groupSize * 8) }

    /// Whether a convolution with these channel counts and groups is one this kernel computes.
    public static func isEligible(inputChannels: Int, outputChannels: Int, groups: Int) -> Bool {
        guard groups > 0, inputChannels == outputChannels, inputChannels % groups == 0 else { return false }
        let g = inputChannels / groups
        return (g == 2 || g == 4 || g == 8) && groups >= 8
    }

    /// The channel map of the transposed order: logical channel G q + m at physical `m Q + q`
    /// (the map a channel shuffle with G groups gives its output).
    public static func transposedMap(groupSize g: Int, groups q: Int) -> [Int] {
        (0..<(g * q)).map { j in (j % g) * q + j / g }
    }

    /// Packs ONNX weights `[C][G][1][1]` (output channel G q + m' reads input channels
    /// G q ..< G q + G) and an optional bias `[C]`.
    public init(weights: UnsafePointer<Float>, channels: Int, groups: Int, bias: UnsafePointer<Float>?) {
        precondition(Self.isEligible(inputChannels: channels, outputChannels: channels, groups: groups),
                     "not a transposed-group convolution")
        let g = channels / groups
        groupSize = g
        self.groups = groups
        let blocks = (groups + 7) / 8
        storage = AlignedFloatStorage(count: blocks * (g * g + g) * 8)
        let w = storage.pointer
        let b = storage.pointer + blocks * g * g * 8
        for block in 0..<blocks {
            let q0 = min(8 * block, groups - 8)
            for lane in 0..<8 {
                let q = q0 + lane
                for mo in 0..<g {
                    for mi in 0..<g {
                        w[((block * g + mo) * g + mi) * 8 + lane] = weights[(g * q + mo) * g + mi]
                    }
                    b[(block * g + mo) * 8 + lane] = bias?[g * q + mo] ?? 0
                }
            }
        }
    }

    /// Computes pixels `pixels` of `output = act(conv(input) + bias)`, both in transposed order.
    ///
    /// - Parameters:
    ///   - input: pixel p's physical channel j at `input[p * inputPixelStride + j]`.
    ///   - output: pixel p's physical channel j at `output[p * outputPixelStride + j]`; must not
    ///     overlap the input.
    public func run(input: UnsafePointer<Float>, inputPixelStride: Int,
                    output: UnsafeMutablePointer<Float>, outputPixelStride: Int,
                    activation: KernelActivation = .none, pixels: Range<Int>) {
        if pixels.isEmpty { return }
        activation.visit(TransposedGroupArguments(conv: self, input: input, ips: inputPixelStride,
                                                  output: output, ops: outputPixelStride, pixels: pixels))
    }
}

struct TransposedGroupArguments: ActivationVisitor {
    let conv: TransposedGroupConv
    let input: UnsafePointer<Float>
    let ips: Int
    let output: UnsafeMutablePointer<Float>
    let ops: Int
    let pixels: Range<Int>

    func visit<A: VectorActivation>(_ act: A) {
        switch conv.groupSize {
        case 2: transposedGroupDriver(self, act, Count2.self)
        case 4: transposedGroupDriver(self, act, Count4.self)
        default: transposedGroupDriver(self, act, Count8.self)
        }
    }
}

/// Pixel chunks outside, blocks of 8 groups inside: a chunk's input rows stay in L1 while every
/// block reads its G vectors of each pixel.
@inline(never)
func transposedGroupDriver<A: VectorActivation, G: StaticCount>(_ d: TransposedGroupArguments, _ act: A, _: G.Type) {
    let g = G.value
    let q = d.conv.groups
    let blocks = d.conv.blocks
    let chunk = 32
    var p0 = d.pixels.lowerBound
    while p0 < d.pixels.upperBound {
        let p1 = min(d.pixels.upperBound, p0 + chunk)
        for block in 0..<blocks {
            let q0 = min(8 * block, q - 8)
            let w = d.conv.weights + block * g * g * 8
            let bias = d.conv.bias + block * g * 8
            var src = d.input + p0 * d.ips + q0
            var dst = d.output + p0 * d.ops + q0
            for _ in p0..<p1 {
                // The G input vectors of this pixel (members 0 ..< G of groups q0 ..< q0 + 8).
                let x0 = load8(src), x1 = load8(src + q)
                let x2 = g > 2 ? load8(src + 2 * q) : SIMD8(), x3 = g > 2 ? load8(src + 3 * q) : SIMD8()
                let x4 = g > 4 ? load8(src + 4 * q) : SIMD8(), x5 = g > 4 ? load8(src + 5 * q) : SIMD8()
                let x6 = g > 4 ? load8(src + 6 * q) : SIMD8(), x7 = g > 4 ? load8(src + 7 * q) : SIMD8()
                for mo in 0..<g {
                    let wr = w + mo * g * 8
                    var acc = load8(bias + mo * 8).addingProduct(x0, load8(wr))
                    acc = acc.addingProduct(x1, load8(wr + 8))
                    if g > 2 {
                        acc = acc.addingProduct(x2, load8(wr + 16))
                        acc = acc.addingProduct(x3, load8(wr + 24))
                    }
                    if g > 4 {
                        acc = acc.addingProduct(x4, load8(wr + 32))
                        acc = acc.addingProduct(x5, load8(wr + 40))
                        acc = acc.addingProduct(x6, load8(wr + 48))
                        acc = acc.addingProduct(x7, load8(wr + 56))
                    }
                    store8(act(acc), dst + mo * q)
                }
                src += d.ips
                dst += d.ops
            }
        }
        p0 = p1
    }
}
