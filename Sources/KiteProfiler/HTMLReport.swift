extension Profile {
    /// One self-contained HTML page (inline CSS and SVG; no scripts, fonts or links): summary figures,
    /// time by op type, a timeline of the median run, a roofline, what the seed's guidelines (G1-G4)
    /// flag, the per-op table and the kernel choices.
    public func html() -> String {
        // Charts colour by kind: the op type, with convolutions split into 1x1, depthwise, group and dense.
        let typeRows = typeRows(byKind: true)
        let colors = SVGCharts.colors(for: typeRows.map(\.name))
        let opRows = rows(groupBy: .op)
        let run = medianRun
        let c = totalCost
        let title = "Kite profile" + (model.isEmpty ? "" : " · " + model)
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>\(escape(title))</title>\n<style>\n\(Self.css)</style>\n</head>\n<body>\n"
        h += "<header>\n<h1>\(escape(title))</h1>\n"
        h += "<p class=\"sub\">\(ops.count) ops · \(threads) thread\(threads == 1 ? "" : "s") · \(runs) timed runs after \(warmup) warm-up\(batchItems > 1 ? " · batch \(batchItems) item by item" : "") · \(escape(build)) build · \(escape(machine.cpu))</p>\n"
        if build == "debug" { h += "<p class=\"warn\">Debug build: times are not representative; build with -c release.</p>\n" }
        h += "<div class=\"cards\">\n"
        let e2e = endToEndMedianNanoseconds
        let cards: [(String, String, String)] = [
            ("sum of op medians", "\(fixed(totalNanoseconds / 1e6, 3)) ms", "\(ops.count) ops"),
            ("end-to-end median", "\(fixed(e2e / 1e6, 3)) ms", "p90 \(fixed(endToEndP90Nanoseconds / 1e6, 3)) ms, untimed runs"),
            ("inside ops", percent(e2e > 0 ? totalNanoseconds / e2e : 0), "\(fixed(unattributedNanoseconds / 1e6, 3)) ms outside"),
            ("profiler overhead", (overheadFraction >= 0 ? "+" : "") + percent(overheadFraction), "timed vs untimed runs"),
            ("work", "\(fixed(Double(c.flops) / 1e6, 1)) MFLOP", "\(formatByteCount(Double(c.totalBytes))) moved"),
            ("peak compute", "\(fixed(machine.peakGFLOPS, 1)) GFLOP/s", "\(machine.computeThreads) × \(fixed(machine.peakGFLOPSPerCore, 1)) per core"),
            ("memory bandwidth", "\(fixed(machine.bandwidthGBs, 1)) GB/s", "balance \(fixed(machine.balance, 2)) FLOP/B"),
        ]
        for (label, value, note) in cards {
            h += "<div class=\"card\"><div class=\"cl\">\(escape(label))</div><div class=\"cv\">\(escape(value))</div><div class=\"cn\">\(escape(note))</div></div>\n"
        }
        h += "</div>\n</header>\n"

        h += "<section id=\"by-type\">\n<h2>Time by op type</h2>\n<p class=\"note\">Convolutions are split by kind: pointwise (1x1), depthwise, group and dense.</p>\n" + SVGCharts.typeBars(typeRows, colors: colors) + "\n</section>\n"

        h += "<section id=\"timeline\">\n<h2>Timeline of one run</h2>\n"
        h += "<p class=\"note\">Run \(run) of \(runs) (the median wall time, \(fixed(timedRunNanoseconds.isEmpty ? 0 : timedRunNanoseconds[run] / 1e6, 3)) ms). "
            + "Ops run one after another on the executor's calling thread, each split across \(threads) thread\(threads == 1 ? "" : "s"); the worker threads' own spans are not reported.</p>\n"
        if !ops.isEmpty {
            h += SVGCharts.timeline(ops, run: run, colors: colors, threadLabel: "executor") + "\n"
        }
        h += legend(typeRows.map(\.name), colors: colors) + "</section>\n"

        h += "<section id=\"roofline\">\n<h2>Roofline</h2>\n"
        h += "<p class=\"note\">Each dot is an op (area ∝ its share of the time) at its arithmetic intensity and achieved rate. "
            + "The roofs are this machine's measured limits: \(fixed(machine.bandwidthGBs, 1)) GB/s streaming bandwidth and "
            + "\(fixed(machine.peakGFLOPS, 1)) GFLOP/s peak FP32 compute; ops left of the ridge (\(fixed(machine.balance, 2)) FLOP/B) are bound by memory. "
            + "The bandwidth roof is main memory's: an op whose data stays in cache can sit above it.</p>\n"
        if let peakWarning { h += "<p class=\"warn\">\(escape(peakWarning))</p>\n" }
        h += SVGCharts.roofline(opRows, kinds: ops.map(\.kind), machine: machine, colors: colors) + "\n"
        let zero = opRows.filter { $0.flops == 0 }.count
        if zero > 0 { h += "<p class=\"note\">\(zero) op\(zero == 1 ? "" : "s") without FLOPs (data movement) cannot sit on a log axis and are not drawn.</p>\n" }
        h += legend(typeRows.map(\.name), colors: colors) + "</section>\n"

        h += "<section id=\"guidelines\">\n<h2>What the seed's guidelines flag</h2>\n"
        h += "<p class=\"note\">ShuffleNetV2's guidelines for fast networks: speed depends on memory access cost (MAC) and parallelism, not FLOPs alone.</p>\n"
        for finding in guidelineFindings {
            h += "<div class=\"finding\"><h3><span class=\"gid\">\(finding.id)</span> \(escape(finding.title))</h3><p>\(escape(finding.verdict))</p>"
            if !finding.details.isEmpty {
                h += "<ul>" + finding.details.map { "<li>\(escape($0))</li>" }.joined() + "</ul>"
                if finding.flagged.count > finding.details.count {
                    h += "<p class=\"note\">…and \(finding.flagged.count - finding.details.count) more.</p>"
                }
            }
            h += "</div>\n"
        }
        h += "</section>\n"

        h += "<section id=\"ops\">\n<h2>Per-op table</h2>\n<div class=\"scroll\"><table>\n<thead><tr>"
        for (head, numeric) in [("#", true), ("op", false), ("type", false), ("kernel", false), ("output", false), ("median ms", true),
                                ("p90 ms", true), ("share", true), ("MFLOP", true), ("act read", true), ("wt read", true),
                                ("written", true), ("FLOP/B", true), ("GFLOP/s", true), ("GB/s", true), ("bound", false),
                                ("roof", true), ("from ONNX", false)] {
            h += numeric ? "<th class=\"n\">\(head)</th>" : "<th>\(head)</th>"
        }
        h += "</tr></thead>\n<tbody>\n"
        for (i, r) in opRows.enumerated() {
            let type = r.fused.isEmpty ? r.type : r.type + "+" + r.fused.joined(separator: "+")
            let from = r.origin == [r.name] ? "" : r.origin.joined(separator: ", ")
            let bar = "background: linear-gradient(90deg, \(colors[ops[i].kind] ?? SVGCharts.palette[0])55 \(fixed(r.share * 100, 1))%, transparent 0)"
            let bound = r.bound(on: machine)
            h += "<tr><td class=\"n\">\(i)</td><td class=\"name\" title=\"\(escape(r.reason))\">\(escape(r.name))</td><td>\(escape(type))</td><td>\(escape(r.kernel))</td><td>\(escape(r.outputShape))</td>"
            h += "<td class=\"n\">\(fixed(r.milliseconds, msDigits))</td><td class=\"n\">\(fixed(r.p90Nanoseconds / 1e6, msDigits))</td><td class=\"n\" style=\"\(bar)\">\(percent(r.share))</td>"
            h += "<td class=\"n\">\(fixed(r.flops / 1e6, 2))</td><td class=\"n\">\(formatByteCount(r.activationBytesRead))</td><td class=\"n\">\(formatByteCount(r.weightBytesRead))</td>"
            h += "<td class=\"n\">\(formatByteCount(r.bytesWritten))</td><td class=\"n\">\(fixed(r.intensity, 2))</td><td class=\"n\">\(fixed(r.gflops, 1))</td><td class=\"n\">\(fixed(r.gbs, 1))</td>"
            h += "<td class=\"\(bound)\">\(bound)</td><td class=\"n\">\(roofText(r))</td><td class=\"from\" title=\"\(escape(from))\">\(escape(from))</td></tr>\n"
        }
        h += "</tbody>\n<tfoot><tr><td></td><td>total</td><td></td><td></td><td></td><td class=\"n\">\(fixed(totalNanoseconds / 1e6, 3))</td><td></td><td class=\"n\">100%</td>"
        h += "<td class=\"n\">\(fixed(Double(c.flops) / 1e6, 2))</td><td class=\"n\">\(formatByteCount(Double(c.activationBytesRead)))</td><td class=\"n\">\(formatByteCount(Double(c.weightBytesRead)))</td>"
        h += "<td class=\"n\">\(formatByteCount(Double(c.bytesWritten)))</td><td></td><td class=\"n\">\(fixed(totalNanoseconds > 0 ? Double(c.flops) / totalNanoseconds : 0, 1))</td><td></td><td></td><td></td><td></td></tr></tfoot>\n"
        h += "</table></div>\n</section>\n"

        h += "<section id=\"kernels\">\n<h2>Kernel choices</h2>\n<ul>"
        for k in kernelChoices { h += "<li><b>\(escape(k.kernel))</b> ×\(k.count): \(escape(k.reason))</li>" }
        if !unscheduled.isEmpty {
            h += "<li><b>no step</b> ×\(unscheduled.count): views and constants (\(escape(Set(unscheduled.map(\.type)).sorted().joined(separator: ", "))))</li>"
        }
        h += "</ul>\n</section>\n"
        h += "<footer>\n<p>" + reconciliationLines.map(escape).joined(separator: "<br>") + "</p>\n"
        h += "<p>Peak compute from: \(escape(machine.method)). Bandwidth: streaming copy over \(formatByteCount(Double(min(max(64 << 20, 2 * machine.lastLevelCacheBytes), 512 << 20)))) buffers (last-level cache \(formatByteCount(Double(machine.lastLevelCacheBytes)))). "
            + "FLOPs count a multiply-add as two; bytes are float32 activations read, weights read and outputs written, per the ops' own cost model.</p>\n</footer>\n"
        h += "</body>\n</html>\n"
        return h
    }

    private func legend(_ types: [String], colors: [String: String]) -> String {
        "<div class=\"legend\">" + types.map { "<span><i style=\"background:\(colors[$0] ?? SVGCharts.palette[0])\"></i>\(escape($0))</span>" }.joined() + "</div>\n"
    }

    static let css = """
    :root { --fg: #1d232b; --muted: #6b7380; --line: #e3e6ea; --bg: #ffffff; --soft: #f5f7f9; }
    * { box-sizing: border-box; }
    body { margin: 0 auto; max-width: 1340px; padding: 24px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
    h1 { font-size: 24px; margin: 0 0 4px; word-break: break-all; }
    h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    h3 { font-size: 15px; margin: 0 0 4px; }
    .sub, .note, .muted { color: var(--muted); }
    .note { margin: 4px 0 10px; }
    .warn { color: #b3261e; font-weight: 600; }
    .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; margin-top: 16px; }
    .card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
    .cl { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
    .cv { font-size: 20px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
    .cn { font-size: 12px; color: var(--muted); }
    svg.chart { width: 100%; height: auto; display: block; font-size: 12px; }
    svg .label { fill: var(--fg); font-size: 13px; }
    svg .value, svg .tick { fill: var(--muted); font-size: 12px; }
    svg .muted { fill: var(--muted); font-size: 12px; }
    svg .grid { stroke: var(--line); stroke-width: 1; }
    svg .lane { fill: var(--soft); stroke: var(--line); }
    svg .slice { stroke: #ffffff; stroke-width: .5; }
    svg .inslice { fill: #ffffff; font-size: 11px; pointer-events: none; }
    svg .plot { fill: #fbfcfd; stroke: var(--line); }
    svg .roof { stroke: #1d232b; stroke-width: 2.5; }
    svg .ridge { stroke: #1d232b; stroke-width: 1; stroke-dasharray: 4 4; }
    svg .roofLabel { fill: #1d232b; font-size: 13px; font-weight: 600; }
    svg .dot { fill-opacity: .78; stroke: #ffffff; stroke-width: 1; }
    .legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 8px 0 0; font-size: 12px; color: var(--muted); }
    .legend i { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
    .finding { border-left: 4px solid #4e79a7; background: var(--soft); padding: 10px 14px; margin: 10px 0; border-radius: 0 6px 6px 0; }
    .finding p { margin: 4px 0; }
    .finding ul { margin: 6px 0 0; padding-left: 20px; color: #3a424d; font-size: 13px; }
    .gid { display: inline-block; background: #4e79a7; color: #fff; border-radius: 4px; padding: 0 6px; margin-right: 6px; font-size: 13px; }
    .scroll { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; font-size: 12px; font-variant-numeric: tabular-nums; }
    th, td { padding: 3px 5px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
    th { position: sticky; top: 0; background: var(--soft); font-weight: 600; }
    td.n, th.n { text-align: right; }
    td.name { max-width: 220px; overflow: hidden; text-overflow: ellipsis; }
    td.from { color: var(--muted); max-width: 200px; overflow: hidden; text-overflow: ellipsis; }
    td.memory { color: #b3541e; }
    td.compute { color: #2e6b3a; }
    tfoot td { font-weight: 650; border-top: 2px solid var(--line); }
    footer { margin-top: 32px; color: var(--muted); font-size: 12.5px; }

    """
}
