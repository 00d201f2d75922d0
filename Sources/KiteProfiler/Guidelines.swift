import Foundation

/// What one of the seed's guidelines (ShuffleNetV2's G1-G4) says about a profiled model.
public struct GuidelineFinding: Sendable {
    /// "G1" ... "G4".
    public var id: String
    /// The guideline in a few words.
    public var title: String
    /// One or two sentences: what was found, with numbers.
    public var verdict: String
    /// Names of the ops the finding is about.
    public var flagged: [String]
    /// One line per flagged op (the slowest first, at most `GuidelineFinding.detailLimit`).
    public var details: [String]
    /// Fraction of the total time the flagged ops take.
    public var share: Double

    /// Most detail lines a finding lists.
    public static let detailLimit = 8
}

extension Profile {
    /// Pointwise convs whose channel counts differ by at least this factor are flagged under G1.
    public static let unequalChannelRatio = 4.0
    /// Ops shorter than this (median, ns) count as small under G3.
    public static let smallOpNanoseconds = 20_000.0

    /// The seed's guidelines checked against this profile, G1 to G4.
    public var guidelineFindings: [GuidelineFinding] {
        [unequalChannels(), groupConvTraffic(), fragmentation(), elementwiseShare()]
    }

    private func slowestFirst(_ list: [OpProfile]) -> [OpProfile] {
        list.sorted { $0.medianNanoseconds > $1.medianNanoseconds }
    }

    private func timeShare(_ list: [OpProfile]) -> Double { share(list.reduce(0) { $0 + $1.medianNanoseconds }) }

    /// G1: a 1x1 conv with equal input and output channels has the least memory access cost for its FLOPs.
    func unequalChannels() -> GuidelineFinding {
        let title = "equal channel widths minimise memory access cost"
        let pointwise = ops.filter { $0.conv?.isPointwise == true }
        guard !pointwise.isEmpty else {
            return GuidelineFinding(id: "G1", title: title, verdict: "No pointwise (1x1) convolutions.", flagged: [], details: [], share: 0)
        }
        func ratio(_ c: ConvolutionInfo) -> Double { Double(max(c.inChannels, c.outChannels)) / Double(max(1, min(c.inChannels, c.outChannels))) }
        /// MAC (elements) per the paper, and its minimum for the same multiply-adds (reached at c1 == c2).
        func mac(_ c: ConvolutionInfo) -> (actual: Double, least: Double) {
            let hw = Double(c.outputPixels * c.batch), c1 = Double(c.inChannels), c2 = Double(c.outChannels)
            let b = hw * c1 * c2
            return (hw * (c1 + c2) + c1 * c2, 2 * (hw * b).squareRoot() + b / hw)
        }
        let flagged = slowestFirst(pointwise.filter { ratio($0.conv!) >= Self.unequalChannelRatio })
        guard !flagged.isEmpty else {
            return GuidelineFinding(id: "G1", title: title, verdict: "All \(pointwise.count) pointwise convs have input and output channels within \(Int(Self.unequalChannelRatio)):1.",
                                    flagged: [], details: [], share: 0)
        }
        let actual = flagged.reduce(0) { $0 + mac($1.conv!).actual }, least = flagged.reduce(0) { $0 + mac($1.conv!).least }
        let share = timeShare(flagged)
        let verdict = "\(flagged.count) of \(pointwise.count) pointwise convs have input and output channels at least \(Int(Self.unequalChannelRatio)):1 apart; "
            + "they take \(percent(share)) of the time and together move \(fixed(actual / least, 2))x the memory a conv with equal channels and the same FLOPs would."
        let details = flagged.prefix(GuidelineFinding.detailLimit).map { op -> String in
            let c = op.conv!, m = mac(c)
            return "\(op.name): \(c.inChannels) -> \(c.outChannels) channels (\(fixed(ratio(c), 1)):1), MAC \(fixed(m.actual / m.least, 2))x its minimum, \(milliseconds(op.medianNanoseconds))"
        }
        return GuidelineFinding(id: "G1", title: title, verdict: verdict, flagged: flagged.map(\.name), details: details, share: share)
    }

    /// G2: group convolution raises memory access cost; flagged when moving its bytes at full bandwidth takes
    /// longer than its FLOPs at peak (intensity below the machine balance).
    func groupConvTraffic() -> GuidelineFinding {
        let title = "group convolution raises memory access cost"
        let group = ops.filter { ($0.conv?.groups ?? 1) > 1 }
        guard !group.isEmpty else {
            return GuidelineFinding(id: "G2", title: title, verdict: "No group or depthwise convolutions.", flagged: [], details: [], share: 0)
        }
        let rows = Dictionary(uniqueKeysWithValues: group.map { ($0.step, row($0)) })
        let flagged = slowestFirst(group.filter { rows[$0.step]!.memoryNanoseconds(on: machine) > rows[$0.step]!.computeNanoseconds(on: machine) })
        let flops = share(flops: group), time = timeShare(group)
        guard !flagged.isEmpty else {
            return GuidelineFinding(id: "G2", title: title, verdict: "All \(group.count) group/depthwise convs are above the machine balance (\(fixed(machine.balance, 1)) FLOP/B): compute dominates their memory traffic here.",
                                    flagged: [], details: [], share: 0)
        }
        let share = timeShare(flagged)
        let traffic = flagged.reduce(0) { $0 + rows[$1.step]!.memoryNanoseconds(on: machine) }
        let measured = flagged.reduce(0) { $0 + $1.medianNanoseconds }
        let verdict = "\(flagged.count) of \(group.count) group/depthwise convs are memory-bound here (below \(fixed(machine.balance, 1)) FLOP/B, the machine balance): "
            + "moving their bytes at main-memory bandwidth would take \(milliseconds(traffic)); they ran in \(milliseconds(measured)). "
            + "Group convs take \(percent(time)) of the time for \(percent(flops)) of the FLOPs."
        let details = flagged.prefix(GuidelineFinding.detailLimit).map { op -> String in
            let c = op.conv!, r = rows[op.step]!
            let kind = c.isDepthwise ? "depthwise" : "\(c.groups) groups"
            return "\(op.name): \(kind) \(c.kernel.map(String.init).joined(separator: "x")), \(fixed(r.intensity, 2)) FLOP/B; "
                + "bytes need \(milliseconds(r.memoryNanoseconds(on: machine))) at \(fixed(machine.bandwidthGBs, 1)) GB/s, FLOPs \(milliseconds(r.computeNanoseconds(on: machine))) at peak; took \(milliseconds(op.medianNanoseconds))"
        }
        return GuidelineFinding(id: "G2", title: title, verdict: verdict, flagged: flagged.map(\.name), details: details, share: share)
    }

    /// G3: fragmentation (many small branches) lowers parallelism.
    func fragmentation() -> GuidelineFinding {
        let title = "fragmentation lowers parallelism"
        let s = graphStats
        let branchOps = ops.filter(\.branching)
        let small = ops.filter { $0.medianNanoseconds < Self.smallOpNanoseconds }
        var parts = ["the graph forks \(s.forks) time\(s.forks == 1 ? "" : "s")",
                     "has \(s.concats) concat\(s.concats == 1 ? "" : "s") and \(s.splits) split\(s.splits == 1 ? "" : "s")"]
        if s.shuffles > 0 { parts.append("\(s.shuffles) channel shuffle\(s.shuffles == 1 ? "" : "s")") }
        if s.slices > 0 { parts.append("\(s.slices) slice/gather op\(s.slices == 1 ? "" : "s")") }
        let freeViews = unscheduled.filter { $0.type.hasSuffix("Concat") || $0.type.hasSuffix("Split") }.count
            + ops.filter { $0.isFree && ($0.type.hasSuffix("Concat") || $0.type.hasSuffix("Split")) }.count
        var verdict = "Of \(s.nodes) nodes, " + parts.joined(separator: ", ") + "."
        if freeViews > 0 { verdict += " \(freeViews) concat/split node\(freeViews == 1 ? " is a free view" : "s are free views") (no copy of their own)." }
        verdict += " Kite runs ops one after another, each split across \(threads) thread\(threads == 1 ? "" : "s"): "
            + "\(small.count) of \(ops.count) ops take under \(Int(Self.smallOpNanoseconds / 1000)) µs each (\(percent(timeShare(small))) of the time), "
            + "too little work to keep the threads busy."
        let details = slowestFirst(branchOps).prefix(GuidelineFinding.detailLimit).map {
            "\($0.name): \($0.type), \(milliseconds($0.medianNanoseconds)), output \($0.outputShapes.map(shapeText).joined(separator: ", "))"
        }
        return GuidelineFinding(id: "G3", title: title, verdict: verdict, flagged: branchOps.map(\.name), details: Array(details),
                                share: timeShare(branchOps))
    }

    /// G4: element-wise ops have few FLOPs but high memory access cost, and are not free.
    func elementwiseShare() -> GuidelineFinding {
        let title = "element-wise ops are not free"
        let elementwise = ops.filter { $0.category == .elementwise }
        let moves = ops.filter { $0.category == .dataMovement }
        let fusedActivations = ops.filter { op in op.fused.contains { $0 != "residual" } }.count
        let fusedResiduals = ops.filter { $0.fused.contains("residual") }.count
        func types(_ list: [OpProfile]) -> String {
            let names = list.reduce(into: [String]()) { if !$0.contains($1.type) { $0.append($1.type) } }
            return names.isEmpty ? "" : " (" + names.prefix(4).joined(separator: ", ") + (names.count > 4 ? ", ..." : "") + ")"
        }
        var verdict: String
        if elementwise.isEmpty && moves.isEmpty {
            verdict = "No element-wise or data-movement op runs on its own."
        } else {
            verdict = "\(elementwise.count) element-wise op\(elementwise.count == 1 ? "" : "s")\(types(elementwise)) take \(percent(timeShare(elementwise))) of the time for \(percent(share(flops: elementwise))) of the FLOPs; "
                + "\(moves.count) data-movement op\(moves.count == 1 ? "" : "s")\(types(moves)) take \(percent(timeShare(moves))) with no FLOPs."
        }
        if fusedActivations + fusedResiduals > 0 {
            verdict += " Fused into their producers (no pass of their own): \(fusedActivations) activation\(fusedActivations == 1 ? "" : "s"), \(fusedResiduals) residual add\(fusedResiduals == 1 ? "" : "s")."
        }
        let flagged = slowestFirst(elementwise + moves)
        let details = flagged.prefix(GuidelineFinding.detailLimit).map {
            "\($0.name): \($0.type), \(formatByteCount(Double($0.cost.totalBytes))) moved, \(milliseconds($0.medianNanoseconds)) (\(percent(share($0.medianNanoseconds))))"
        }
        return GuidelineFinding(id: "G4", title: title, verdict: verdict, flagged: flagged.map(\.name), details: Array(details),
                                share: timeShare(flagged))
    }

    private func share(flops list: [OpProfile]) -> Double {
        let total = Double(totalCost.flops)
        return total > 0 ? Double(list.reduce(0) { $0 + $1.cost.flops }) / total : 0
    }
}

/// "12.3%".
func percent(_ fraction: Double) -> String { String(format: fraction < 0.001 && fraction > 0 ? "%.2f%%" : "%.1f%%", fraction * 100) }
/// A number with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String { value.isFinite ? String(format: "%.\(digits)f", value) : "-" }
/// A duration for prose: "1.234 ms", or "12.3 µs" under 0.1 ms.
func milliseconds(_ ns: Double) -> String {
    ns < 100_000 ? String(format: "%.1f µs", ns / 1e3) : String(format: "%.3f ms", ns / 1e6)
}
/// Bytes as B, KB, MB, GB (powers of 1024).
func formatByteCount(_ n: Double) -> String {
    if n < 1024 { return String(format: "%.0f B", n) }
    if n < 1024 * 1024 { return String(format: "%.1f KB", n / 1024) }
    if n < 1024 * 1024 * 1024 { return String(format: "%.2f MB", n / 1024 / 1024) }
    return String(format: "%.2f GB", n / 1024 / 1024 / 1024)
}
