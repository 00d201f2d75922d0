import Foundation
import KiteCore
import KiteKernels

/// A pointwise convolution planned into the depthwise convolution that alone reads its output.
struct PendingPointwise {
    var node: Int
    var input: Placement
    var weights: PackedGEMMWeights
    var activation: KernelActivation
    var offsets: IndexTable?
}

/// Expand-then-depthwise (the first half of an inverted residual block) streamed in bands of
/// rows: the pointwise GEMM writes the rows a band of depthwise output needs into a small
/// per-thread buffer that stays in L2, and the depthwise kernel reads them from there. The
/// expanded tensor (up to 112x112x96 floats, 4.8 MB) then never goes to main memory and back.
extension Planner {
    /// Bytes of the expanded tensor above which streaming pays (smaller ones stay in L2 anyway).
    static let streamingThresholdBytes = 384 * 1024

    /// Whether the pointwise output `output` is read only by one depthwise convolution that can
    /// compute it band by band.
    func fusesIntoDepthwise(producer: Int, output: String, shape: [Int]) -> Bool {
        guard shape.count == 4, shape.reduce(1, *) / max(shape[0], 1) * 4 > Planner.streamingThresholdBytes,
              !graphOutputs.contains(output), slots[output] == nil,
              let readers = readerTable[output], readers.count == 1, readers[0].position == 0 else { return false }
        let node = graph.nodes[readers[0].node]
        guard case .conv(let c) = node.op, node.inputs.count == 1, !c.residual, isDepthwise(c, channels: shape[1]),
              c.kernel.count == 2, c.strides.count == 2, c.pads.count == 4, c.dilations.count == 2,
              c.pads.allSatisfy({ $0 >= 0 }), c.strides.allSatisfy({ $0 > 0 }), c.dilations.allSatisfy({ $0 > 0 }) else { return false }
        return true
    }

    mutating func planPointwiseDepthwise(index: Int, node: NativeNode, conv c: Convolution, pointwise pw: PendingPointwise,
                                         outShape: [Int]) -> [Placement] {
        let out = place(output: node.outputs.first ?? "", shape: outShape, at: index)
        let x = pw.input
        let channels = c.outChannels
        let (kh, kw) = (c.kernel[0], c.kernel[1])
        let packed = c.weight.floats.withUnsafeBufferPointer { w in
            (c.bias ?? []).withUnsafeBufferPointer { b in
                PackedDepthwiseWeights(weights: w.baseAddress!, channels: channels, kernelHeight: kh, kernelWidth: kw,
                                       bias: c.bias == nil ? nil : b.baseAddress)
            }
        }
        let g = ConvGeometry(inputHeight: x.height, inputWidth: x.width, kernelHeight: kh, kernelWidth: kw,
                             strideHeight: c.strides[0], strideWidth: c.strides[1],
                             padTop: c.pads[0], padLeft: c.pads[1], padBottom: c.pads[2], padRight: c.pads[3],
                             dilationHeight: c.dilations[0], dilationWidth: c.dilations[1],
                             outputHeight: outShape[2], outputWidth: outShape[3])
        let rowFloats = x.width * channels
        let window = (kh - 1) * g.dilationHeight + 1
        // About 256 KiB of expanded rows per band; at least one output row.
        let capacityRows = max(window, (64 * 1024) / max(rowFloats, 1))
        let band = max(1, (capacityRows - window) / g.strideHeight + 1)
        let bufferRows = (band - 1) * g.strideHeight + window
        let dwActivation = c.activation.kernel
        let pwWeights = pw.weights, pwActivation = pw.activation, offsets = pw.offsets
        addStep(index: index, node: node, kernel: "pointwise+depthwise\(kh)x\(kw)" + (g.strideHeight == 1 ? "" : "-s\(g.strideHeight)"),
                reason: "the 1x1 expansion is computed band by band into an L2-sized buffer the depthwise filter reads, never stored whole",
                absorbing: [pw.node]) { exec in
            let inBase = UnsafePointer(exec.pointer(x))
            let outBase = exec.pointer(out)
            let inImage = x.height * x.width * x.pixelStride
            let outImage = out.height * out.width * out.pixelStride
            let (ips, ops) = (x.pixelStride, out.pixelStride)
            let work = chunks(g.outputHeight, parts: exec.threads)
            let scratch = ThreadScratch(perThread: bufferRows * rowFloats, threads: work.count)
            let pool = exec.pool
            let batch = x.batch
            return {
                for b in 0..<batch {
                    let input = inBase + b * inImage
                    let output = outBase + b * outImage
                    pool.parallelFor(count: work.count) { t in
                        let buffer = scratch.slice(t)
                        // Input rows [computedLo, computedHi) are in the buffer, row computedLo first.
                        var computedLo = 0, computedHi = 0
                        var o0 = work[t].lowerBound
                        while o0 < work[t].upperBound {
                            let o1 = min(work[t].upperBound, o0 + band)
                            let lo = max(0, min(g.inputHeight, o0 * g.strideHeight - g.padTop))
                            let hi = max(lo, min(g.inputHeight, (o1 - 1) * g.strideHeight - g.padTop + window))
                            if lo >= computedLo && lo < computedHi {
                                // Keep the overlap with the previous band at the front of the buffer.
                                memmove(buffer, buffer + (lo - computedLo) * rowFloats, (computedHi - lo) * rowFloats * 4)
                            } else {
                                computedHi = lo
                            }
                            computedLo = lo
                            if hi > computedHi {
                                let a = input + computedHi * x.width * ips
                                let c = buffer + (computedHi - computedLo) * rowFloats
                                let rows = 0..<((hi - computedHi) * x.width)
                                if let offsets {
                                    GEMM.run(a: a, lda: ips, offsets: UnsafePointer(offsets.pointer), weights: pwWeights, c: c, ldc: channels,
                                             activation: pwActivation, rows: rows)
                                } else {
                                    GEMM.run(a: a, lda: ips, weights: pwWeights, c: c, ldc: channels, activation: pwActivation, rows: rows)
                                }
                                computedHi = hi
                            }
                            // The depthwise kernel addresses input row iy at `base + iy * rowFloats`; only rows
                            // [lo, hi) are read for these output rows, and those are in the buffer.
                            let base = UnsafePointer(buffer) - computedLo * rowFloats
                            DepthwiseConv.run(input: base, inputPixelStride: channels, geometry: g, weights: packed,
                                              output: output, outputPixelStride: ops, activation: dwActivation, outputRows: o0..<o1)
                            o0 = o1
                        }
                    }
                }
            }
        }
        return [out]
    }
}
