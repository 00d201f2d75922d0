import KiteCore
import KiteKernels

/// Channel shuffles and index selects as views: instead of copying every pixel into a new
/// channel order, the value keeps its producer's buffer and a channel map, and its readers read
/// through the map. GEMM-based pointwise convolutions take the map as the offsets of their A
/// elements (the micro-kernel broadcasts A elements one at a time, so scattered reads cost the
/// same as contiguous ones); depthwise convolutions commute with a permutation (weights permuted,
/// output keeps the map); splits slice the map and concats gather it while copying. Any other
/// reader gets a dense copy, so a map is only created when every reader down the line takes it.
extension Planner {
    /// Readers of every value: (node index, input position).
    static func readerTable(_ graph: NativeGraph) -> [String: [(node: Int, position: Int)]] {
        var table: [String: [(node: Int, position: Int)]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for (k, input) in n.inputs.enumerated() { table[input, default: []].append((i, k)) }
        }
        return table
    }

    /// Whether every reader of `value` can read it through a channel map (`bijective`: the map
    /// is a permutation of the value's own channel range; `map`, when known, the map itself).
    func channelMapFlows(_ value: String, bijective: Bool, map: [Int]? = nil) -> Bool {
        guard !graphOutputs.contains(value), let readers = readerTable[value], !readers.isEmpty else { return false }
        for (r, position) in readers {
            let node = graph.nodes[r]
            switch node.op {
            case .channelShuffle, .gather, .concat:
                continue // They copy, and compose the map into the copy.
            case .scaleShift(let s):
                // Reads its channels through the map in one pass (CondenseNet's index select before BatchNorm).
                guard position == 0, let shape = graph.shapes[value], shape.count == 4, s.scale.count == shape[1],
                      s.shift.count == shape[1] else { return false }
            case .split(let s):
                guard s.axis == 1 || s.axis == -3, node.outputs.allSatisfy({ channelMapFlows($0, bijective: false) }) else { return false }
            case .conv(let c):
                guard position == 0, !(node.inputs.dropFirst().contains(value)), let shape = graph.shapes[value], shape.count == 4,
                      c.kernel.count == 2 else { return false }
                let channels = shape[1]
                if convReadsChannelMap(c, channels: channels) { continue }
                if let map, transposedGroupsApply(c, input: map, output: node.outputs.first) { continue }
                if bijective, let out = node.outputs.first, let outShape = graph.shapes[out],
                   absorbsPermutation(c, inputShape: shape, outputShape: outShape) {
                    continue
                }
                if let map, let out = node.outputs.first, let outShape = graph.shapes[out],
                   winogradReadsRuns(c, map: map, inputShape: shape, outputShape: outShape) {
                    continue
                }
                if bijective && isDepthwise(c, channels: channels) && !c.residual,
                   let out = node.outputs.first, slots[out] == nil, channelMapFlows(out, bijective: true) {
                    continue
                }
                return false
            default:
                return false
            }
        }
        return true
    }

    /// A pointwise convolution whose GEMM can take its input channels through offsets.
    func convReadsChannelMap(_ c: Convolution, channels: Int) -> Bool {
        guard c.kernel == [1, 1], c.strides.allSatisfy({ $0 == 1 }), c.pads.allSatisfy({ $0 == 0 }) else { return false }
        if c.groups == 1 { return true }
        let g = ConvGeometry(inputHeight: 1, inputWidth: 1, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1,
                             padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, dilationHeight: 1, dilationWidth: 1,
                             outputHeight: 1, outputWidth: 1)
        return Im2colConv.acceptsChannelMap(geometry: g, inputChannels: channels, outputChannels: c.outChannels, groups: c.groups)
    }

    /// A grouped 1x1 convolution whose input arrives in the transposed order a G-group shuffle
    /// leaves (`TransposedGroupConv`), and whose output can stay transposed because every reader
    /// of it reads channel maps (IGCv1: the inverse shuffle follows).
    func transposedGroupsApply(_ c: Convolution, input map: [Int], output: String?) -> Bool {
        guard c.kernel == [1, 1], c.strides.allSatisfy({ $0 == 1 }), c.pads.allSatisfy({ $0 == 0 }),
              c.dilations.allSatisfy({ $0 == 1 }), !c.residual, c.groups > 0,
              TransposedGroupConv.isEligible(inputChannels: map.count, outputChannels: c.outChannels, groups: c.groups),
              map == TransposedGroupConv.transposedMap(groupSize: map.count / c.groups, groups: c.groups),
              let output, slots[output] == nil else { return false }
        return channelMapFlows(output, bijective: true)
    }

    func isDepthwise(_ c: Convolution, channels: Int) -> Bool {
        c.groups == channels && c.inChannelsPerGroup == 1 && c.outChannels == channels
    }

    /// A per-channel scale and shift (BatchNorm, optionally with an activation) of a value read
    /// through a channel map, in one pass: no gathered copy goes through memory and back.
    mutating func planGatheredScaleShift(index: Int, node: NativeNode, scaleShift s: ScaleShift, input x: Placement,
                                         map: [Int], output name: String) -> Placement {
        let out = place(output: name, shape: x.shape, at: index)
        addStep(index: index, node: node, kernel: "gather-scale-shift",
                reason: "scale and shift of channels read through the folded index select/shuffle, 8 gathered elements per vector") { exec in
            let src = UnsafePointer(exec.pointer(x))
            let dst = exec.pointer(out)
            let (ips, ops) = (x.pixelStride, out.pixelStride)
            let pixels = x.batch * x.height * x.width
            let channels = map.count
            let work = chunks(pixels, parts: channels * pixels >= 1 << 15 ? exec.threads : 1)
            let box = ConstantVectors([s.scale, s.shift])
            let index = IndexTable(map)
            let activation = s.activation.kernel
            let pool = exec.pool
            return {
                pool.parallelFor(count: work.count) { t in
                    Elementwise.gatherScaleShift(input: src, inputPixelStride: ips, source: UnsafePointer(index.pointer),
                                                 scale: box.pointer(0), shift: box.pointer(1), output: dst, outputPixelStride: ops,
                                                 channels: channels, pixels: work[t], activation: activation)
                }
            }
        }
        return out
    }

    /// A dense copy of a mapped value, for readers that need channels in order.
    mutating func materialize(_ x: Placement, at index: Int, node: NativeNode) -> Placement {
        guard let map = x.channelMap else { return x }
        let out = allocate(x.shape, at: index)
        addStep(index: index, node: node, kernel: "channel-gather",
                reason: "input read through a channel map, copied into channel order for this kernel") { exec in
            let src = UnsafePointer(exec.pointer(x))
            let dst = exec.pointer(out)
            let pixels = x.batch * x.height * x.width
            let pool = exec.pool
            let gather = ChannelGather(map)
            return { gatherChannels(src, x.pixelStride, dst, out.pixelStride, gather, pixels: pixels, pool: pool) }
        }
        return out
    }
}

/// Whether `map` is a permutation of `0..<map.count`.
func isPermutation(_ map: [Int]) -> Bool {
    var seen = [Bool](repeating: false, count: map.count)
    for m in map {
        guard m >= 0, m < map.count, !seen[m] else { return false }
        seen[m] = true
    }
    return true
}
