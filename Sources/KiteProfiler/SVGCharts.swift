import Foundation

/// The charts of the HTML report, as inline SVG (no external resources, no namespace URL needed in HTML5).
enum SVGCharts {
    /// Colours for op types, in order of time spent; types beyond the palette reuse it.
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                          "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#8cd17d", "#a0cbe8"]

    static func colors(for types: [String]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: types.enumerated().map { ($0.element, palette[$0.offset % palette.count]) })
    }

    /// Horizontal bars: time per op type with its share.
    static func typeBars(_ rows: [ProfileRow], colors: [String: String]) -> String {
        let width = 960.0, label = 170.0, value = 170.0, rowHeight = 24.0
        let plot = width - label - value
        let maxNs = rows.map(\.medianNanoseconds).max() ?? 1
        var s = "<svg class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(Double(rows.count) * rowHeight + 8))\" role=\"img\" aria-label=\"time by op type\">"
        for (i, r) in rows.enumerated() {
            let y = Double(i) * rowHeight + 4
            let w = maxNs > 0 ? max(1, r.medianNanoseconds / maxNs * plot) : 1
            s += "<text x=\"\(f(label - 8))\" y=\"\(f(y + 16))\" text-anchor=\"end\" class=\"label\">\(escape(r.name)) <tspan class=\"muted\">×\(r.count)</tspan></text>"
            s += "<rect x=\"\(f(label))\" y=\"\(f(y + 3))\" width=\"\(f(w))\" height=\"\(f(rowHeight - 6))\" rx=\"2\" fill=\"\(colors[r.name] ?? palette[0])\">"
            s += "<title>\(escape(r.name)): \(r.count) ops, \(milliseconds(r.medianNanoseconds)), \(percent(r.share)), \(fixed(r.flops / 1e6, 2)) MFLOP</title></rect>"
            s += "<text x=\"\(f(label + w + 6))\" y=\"\(f(y + 16))\" class=\"value\">\(milliseconds(r.medianNanoseconds)) · \(percent(r.share))</text>"
        }
        return s + "</svg>"
    }

    /// One run's op slices along a time axis, one lane per thread (the executor's calling thread).
    static func timeline(_ ops: [OpProfile], run: Int, colors: [String: String], threadLabel: String) -> String {
        let width = 1200.0, left = 90.0, right = 20.0, laneTop = 30.0, laneHeight = 46.0
        let plot = width - left - right
        let end = ops.map { $0.startOffsets[run] + $0.nanoseconds[run] }.max() ?? 1
        let span = max(end, 1)
        func x(_ ns: Double) -> Double { left + ns / span * plot }
        let height = laneTop + laneHeight + 40
        var s = "<svg class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"timeline of one run\">"
        // Time axis with round ticks.
        let step = niceStep(span / 1e6 / 8)
        var t = 0.0
        while t <= span / 1e6 + 1e-12 {
            let px = x(t * 1e6)
            s += "<line x1=\"\(f(px))\" y1=\"\(f(laneTop - 6))\" x2=\"\(f(px))\" y2=\"\(f(laneTop + laneHeight + 4))\" class=\"grid\"/>"
            s += "<text x=\"\(f(px))\" y=\"\(f(laneTop - 10))\" text-anchor=\"middle\" class=\"tick\">\(tickText(t)) ms</text>"
            t += step
        }
        s += "<text x=\"\(f(left - 8))\" y=\"\(f(laneTop + laneHeight / 2 + 4))\" text-anchor=\"end\" class=\"label\">\(escape(threadLabel))</text>"
        s += "<rect x=\"\(f(left))\" y=\"\(f(laneTop))\" width=\"\(f(plot))\" height=\"\(f(laneHeight))\" class=\"lane\"/>"
        // Before the first op the executor copies the inputs into its arena.
        if let first = ops.map({ $0.startOffsets[run] }).min(), first > span * 0.04 {
            s += "<text x=\"\(f((left + x(first)) / 2))\" y=\"\(f(laneTop + laneHeight / 2 + 4))\" text-anchor=\"middle\" class=\"muted\">input copy</text>"
        }
        for op in ops {
            let x0 = x(op.startOffsets[run]), w = max(0.6, op.nanoseconds[run] / span * plot)
            s += "<rect x=\"\(f(x0))\" y=\"\(f(laneTop + 2))\" width=\"\(f(w))\" height=\"\(f(laneHeight - 4))\" fill=\"\(colors[op.kind] ?? palette[0])\" class=\"slice\">"
            s += "<title>\(escape(op.name)) (\(escape(op.type)), \(escape(op.kernel))): \(milliseconds(op.nanoseconds[run])) at \(fixed(op.startOffsets[run] / 1e6, 4)) ms</title></rect>"
            let text = clipRight(op.name, Int(w / 6.5))
            if w > 40 && text.count >= 3 {
                s += "<text x=\"\(f(x0 + 3))\" y=\"\(f(laneTop + laneHeight / 2 + 4))\" class=\"inslice\">\(escape(text))</text>"
            }
        }
        s += "<text x=\"\(f(left))\" y=\"\(f(height - 8))\" class=\"muted\">\(ops.count) ops; hover a slice for its name and time</text>"
        return s + "</svg>"
    }

    /// Achieved GFLOP/s against arithmetic intensity (log-log), under the machine's memory and compute roofs.
    static func roofline(_ allRows: [ProfileRow], kinds: [String], machine: Machine, colors: [String: String]) -> String {
        var rows = allRows
        for i in rows.indices where i < kinds.count { rows[i].type = kinds[i] }
        let width = 960.0, height = 540.0, left = 70.0, right = 30.0, top = 20.0, bottom = 50.0
        let plotW = width - left - right, plotH = height - top - bottom
        let points = rows.filter { $0.flops > 0 && $0.bytes > 0 && $0.medianNanoseconds > 0 }
        let intensities = points.map(\.intensity) + [machine.balance]
        let rates = points.map(\.gflops) + [machine.peakGFLOPS]
        let x0 = floor(log10(max(1e-3, (intensities.min() ?? 0.1) / 1.5))), x1 = ceil(log10(max(10, (intensities.max() ?? 10) * 1.5)))
        let y0 = floor(log10(max(1e-4, (rates.min() ?? 0.1) / 1.5))), y1 = ceil(log10(max(1, machine.peakGFLOPS * 1.5)))
        func px(_ v: Double) -> Double { left + (log10(max(v, 1e-12)) - x0) / (x1 - x0) * plotW }
        func py(_ v: Double) -> Double { top + plotH - (log10(max(v, 1e-12)) - y0) / (y1 - y0) * plotH }
        var s = "<svg class=\"chart\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"roofline\">"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" class=\"plot\"/>"
        for e in Int(x0)...Int(x1) {
            let v = pow(10, Double(e))
            s += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top))\" x2=\"\(f(px(v)))\" y2=\"\(f(top + plotH))\" class=\"grid\"/>"
            s += "<text x=\"\(f(px(v)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" class=\"tick\">\(tickText(v))</text>"
        }
        for e in Int(y0)...Int(y1) {
            let v = pow(10, Double(e))
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(v)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(py(v)))\" class=\"grid\"/>"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\" class=\"tick\">\(tickText(v))</text>"
        }
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\" class=\"label\">arithmetic intensity (FLOP per byte moved)</text>"
        s += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">achieved GFLOP/s</text>"
        // Roofs: bandwidth up to the ridge, then peak compute.
        let xmin = pow(10, x0), xmax = pow(10, x1), ridge = machine.balance
        let memStart = max(xmin, pow(10, y0) / max(machine.bandwidthGBs, 1e-9))
        s += "<line x1=\"\(f(px(memStart)))\" y1=\"\(f(py(memStart * machine.bandwidthGBs)))\" x2=\"\(f(px(ridge)))\" y2=\"\(f(py(machine.peakGFLOPS)))\" class=\"roof\"/>"
        s += "<line x1=\"\(f(px(ridge)))\" y1=\"\(f(py(machine.peakGFLOPS)))\" x2=\"\(f(px(xmax)))\" y2=\"\(f(py(machine.peakGFLOPS)))\" class=\"roof\"/>"
        s += "<line x1=\"\(f(px(ridge)))\" y1=\"\(f(py(machine.peakGFLOPS)))\" x2=\"\(f(px(ridge)))\" y2=\"\(f(top + plotH))\" class=\"ridge\"/>"
        s += "<text x=\"\(f(px(xmax) - 6))\" y=\"\(f(py(machine.peakGFLOPS) - 8))\" text-anchor=\"end\" class=\"roofLabel\">peak \(fixed(machine.peakGFLOPS, 1)) GFLOP/s (\(machine.computeThreads) × \(fixed(machine.peakGFLOPSPerCore, 1)))</text>"
        let labelX = max(memStart, xmin) * 2.5
        s += "<text x=\"\(f(px(labelX)))\" y=\"\(f(py(labelX * machine.bandwidthGBs) - 8))\" class=\"roofLabel\" transform=\"rotate(\(f(-slopeAngle(plotW / (x1 - x0), plotH / (y1 - y0)))) \(f(px(labelX))) \(f(py(labelX * machine.bandwidthGBs))))\">memory \(fixed(machine.bandwidthGBs, 1)) GB/s</text>"
        s += "<text x=\"\(f(px(ridge) + 6))\" y=\"\(f(top + plotH - 8))\" class=\"tick\">balance \(fixed(ridge, 2)) FLOP/B</text>"
        for r in points.sorted(by: { $0.medianNanoseconds > $1.medianNanoseconds }) {
            let radius = 3 + 10 * r.share.squareRoot()
            s += "<circle cx=\"\(f(px(r.intensity)))\" cy=\"\(f(py(r.gflops)))\" r=\"\(f(radius))\" fill=\"\(colors[r.type] ?? palette[0])\" class=\"dot\">"
            s += "<title>\(escape(r.name)) (\(escape(r.type))): \(fixed(r.intensity, 2)) FLOP/B, \(fixed(r.gflops, 2)) GFLOP/s, \(milliseconds(r.medianNanoseconds)), \(r.bound(on: machine))-bound</title></circle>"
        }
        return s + "</svg>"
    }

    /// Angle in degrees of a line of slope 1 in log-log space drawn with these pixels per decade.
    static func slopeAngle(_ xPerDecade: Double, _ yPerDecade: Double) -> Double { atan2(yPerDecade, xPerDecade) * 180 / .pi }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    static func tickText(_ v: Double) -> String {
        if v == 0 { return "0" }
        if v >= 1000 { return String(format: "%.0fk", v / 1000) }
        if v >= 1 { return v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v) }
        var s = String(format: "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// A coordinate with two decimals at most.
    static func f(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}

/// Escapes text for HTML and SVG.
func escape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}
