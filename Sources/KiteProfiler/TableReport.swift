import Foundation

extension Profile {
    /// The human-readable report: a row per op (or type, or ONNX node), totals, the per-type summary,
    /// the reconciliation with untimed end-to-end runs, the machine, kernel choices and the guideline findings.
    public func table(groupBy: GroupBy = .op) -> String {
        var out: [String] = []
        out.append(header)
        out.append("")
        let rows = rows(groupBy: groupBy)
        var table: TextTable
        switch groupBy {
        case .op:
            table = TextTable([("#", .right), ("op", .left), ("type", .left), ("kernel", .left), ("output", .left),
                               ("median ms", .right), ("p90 ms", .right), ("share", .right), ("MFLOP", .right),
                               ("act read", .right), ("wt read", .right), ("written", .right), ("FLOP/B", .right),
                               ("GFLOP/s", .right), ("GB/s", .right), ("bound", .left), ("roof", .right), ("from ONNX", .left)])
            for (i, r) in rows.enumerated() {
                let type = r.fused.isEmpty ? r.type : r.type + "+" + r.fused.joined(separator: "+")
                let from = r.origin == [r.name] ? "" : clipRight("\(r.origin.count): " + r.origin.map(shortNodeName).joined(separator: ", "), 48)
                table.add(["\(i)", clipLeft(r.name, 32), clipRight(type, 26), r.kernel, r.outputShape] + numbers(r) + [from])
            }
        case .type:
            table = TextTable([("type", .left), ("ops", .right), ("kernels", .left), ("median ms", .right), ("p90 ms", .right),
                               ("share", .right), ("MFLOP", .right), ("act read", .right), ("wt read", .right),
                               ("written", .right), ("FLOP/B", .right), ("GFLOP/s", .right), ("GB/s", .right), ("bound", .left), ("roof", .right)])
            for r in rows { table.add([r.name, "\(r.count)", clipRight(r.kernel, 30)] + numbers(r)) }
        case .onnxNode:
            table = TextTable([("ONNX node", .left), ("ran in", .left), ("type", .left), ("median ms", .right), ("p90 ms", .right),
                               ("share", .right), ("MFLOP", .right), ("act read", .right), ("wt read", .right),
                               ("written", .right), ("FLOP/B", .right), ("GFLOP/s", .right), ("GB/s", .right), ("bound", .left), ("roof", .right)])
            for r in rows {
                let ranIn = r.origin.count == 1 ? clipLeft(r.origin[0], 28) : "\(r.origin.count) ops"
                table.add([clipLeft(r.name, 40), ranIn, clipRight(r.type, 20)] + numbers(r))
            }
        }
        out.append(table.render())
        out.append("")
        out.append(totalsLine)
        out.append("roof = achieved / the roofline's bound at the op's intensity (over 100%: data served from cache, faster than main memory)")
        if groupBy == .onnxNode {
            out.append("split rule: a fused op's time, FLOPs and bytes go to its ONNX nodes in proportion to their own FLOPs"
                + (onnxNodeFLOPs == nil ? " (unknown here: split evenly)" : ", evenly when none has FLOPs"))
        }
        if groupBy != .type {
            out.append("")
            out.append("by type:")
            var t = TextTable([("type", .left), ("ops", .right), ("median ms", .right), ("share", .right), ("MFLOP", .right), ("GFLOP/s", .right), ("GB/s", .right)])
            for r in self.rows(groupBy: .type) {
                t.add([r.name, "\(r.count)", fixed(r.milliseconds, msDigits), percent(r.share), fixed(r.flops / 1e6, 2), fixed(r.gflops, 1), fixed(r.gbs, 1)])
            }
            out.append(t.render(indent: "  "))
        }
        out.append("")
        out.append(contentsOf: reconciliationLines)
        out.append("")
        out.append(machineLine)
        if let peakWarning { out.append("warning: " + peakWarning) }
        out.append("")
        out.append("kernels:")
        for k in kernelChoices { out.append("  \(k.kernel) x\(k.count): \(k.reason)") }
        if !unscheduled.isEmpty {
            let types = unscheduled.reduce(into: [String: Int]()) { $0[$1.type, default: 0] += 1 }
            out.append("  no step (views, constants): " + types.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        }
        out.append("")
        out.append("the seed's guidelines:")
        for f in guidelineFindings {
            out.append("  \(f.id) (\(f.title)): \(f.verdict)")
            for d in f.details.prefix(3) { out.append("      \(d)") }
        }
        return out.joined(separator: "\n")
    }

    /// Decimals of the ms columns: four for sub-5 ms models (their ops take microseconds), else three.
    var msDigits: Int { totalNanoseconds < 5e6 ? 4 : 3 }

    private func numbers(_ r: ProfileRow) -> [String] {
        [fixed(r.milliseconds, msDigits), fixed(r.p90Nanoseconds / 1e6, msDigits), percent(r.share), fixed(r.flops / 1e6, 2),
         formatByteCount(r.activationBytesRead), formatByteCount(r.weightBytesRead), formatByteCount(r.bytesWritten),
         fixed(r.intensity, 2), fixed(r.gflops, 1), fixed(r.gbs, 1), r.bound(on: machine), roofText(r)]
    }

    func roofText(_ r: ProfileRow) -> String {
        r.flops == 0 && r.bytes == 0 ? "-" : String(format: "%.0f%%", r.roofFraction(on: machine) * 100)
    }

    var header: String {
        var h = "kite profile \(model.isEmpty ? "(graph)" : model): \(ops.count) ops, \(threads) thread\(threads == 1 ? "" : "s"), \(runs) run\(runs == 1 ? "" : "s") after \(warmup) warm-up"
        if batchItems > 1 { h += ", batch \(batchItems) item by item (times and costs are the batch's)" }
        if build == "debug" { h += "\nnote: debug build; build with -c release for meaningful times" }
        return h
    }

    var totalsLine: String {
        let c = totalCost
        return "total     \(fixed(totalNanoseconds / 1e6, 3)) ms (sum of op medians)  \(fixed(Double(c.flops) / 1e6, 2)) MFLOP  "
            + "\(formatByteCount(Double(c.totalBytes))) moved (activations read \(formatByteCount(Double(c.activationBytesRead))), "
            + "weights read \(formatByteCount(Double(c.weightBytesRead))), written \(formatByteCount(Double(c.bytesWritten))))  "
            + "\(fixed(totalNanoseconds > 0 ? Double(c.flops) / totalNanoseconds : 0, 1)) GFLOP/s"
    }

    var reconciliationLines: [String] {
        let e2e = endToEndMedianNanoseconds
        var lines = ["reconciliation: ops sum \(fixed(totalNanoseconds / 1e6, 3)) ms vs end-to-end median \(fixed(e2e / 1e6, 3)) ms "
            + "(p90 \(fixed(endToEndP90Nanoseconds / 1e6, 3)) ms) of \(endToEndNanoseconds.count) runs without timers: "
            + "\(percent(e2e > 0 ? totalNanoseconds / e2e : 0)) inside ops, \(fixed(unattributedNanoseconds / 1e6, 3)) ms outside (input/output copies, dispatch)"]
        var overhead = "profiler overhead: timed runs \(fixed(timedRunMedianNanoseconds / 1e6, 3)) ms vs \(fixed(e2e / 1e6, 3)) ms untimed: "
            + (overheadFraction >= 0 ? "+" : "") + percent(overheadFraction)
        if overheadFraction > 0.05 { overhead += " (over 5%: timer calls and run-to-run noise weigh more on a short model; try more --runs)" }
        lines.append(overhead)
        return lines
    }

    var machineLine: String {
        let m = machine
        return "machine: \(m.cpu.isEmpty ? "cpu" : m.cpu), \(m.threads) thread\(m.threads == 1 ? "" : "s"): peak \(fixed(m.peakGFLOPS, 1)) GFLOP/s "
            + "(\(fixed(m.peakGFLOPSPerCore, 1)) per core x \(m.computeThreads)), bandwidth \(fixed(m.bandwidthGBs, 1)) GB/s, "
            + "balance \(fixed(m.balance, 2)) FLOP/B (ops below it are memory-bound)\n  peak from: \(m.method)"
    }

    /// Distinct (kernel, reason) pairs with how many steps chose them, most used first.
    public var kernelChoices: [(kernel: String, reason: String, count: Int)] {
        var order: [String] = []
        var counts: [String: (String, String, Int)] = [:]
        for op in ops {
            let key = op.kernel + "\u{0}" + op.reason
            if counts[key] == nil { order.append(key); counts[key] = (op.kernel, op.reason, 0) }
            counts[key]!.2 += 1
        }
        return order.map { counts[$0]! }.sorted { $0.2 > $1.2 }.map { (kernel: $0.0, reason: $0.1, count: $0.2) }
    }
}
