/// How reports fold the per-op numbers.
public enum GroupBy: String, CaseIterable, Sendable {
    /// One row per native op (executed step), in run order.
    case op
    /// One row per native op type, slowest first.
    case type
    /// One row per original ONNX node. A fused op's time, FLOPs and bytes are split across the ONNX
    /// nodes it was made from in proportion to those nodes' own FLOPs (`Profile.onnxNodeFLOPs`), or
    /// evenly when none of them has FLOPs or they are unknown. An op with no recorded origin counts
    /// as an ONNX node of its own name.
    case onnxNode = "onnx-node"
}

/// One row of a report: a native op, an op type or an ONNX node, with its time and cost.
///
/// Times are medians over runs; a group's median is the sum of its members' medians (so rows add
/// up to the total) and its p90 is the 90th percentile of its per-run sums.
public struct ProfileRow: Sendable {
    public var name: String
    /// The op type (for ONNX-node rows: the native types it ran in, joined with "+").
    public var type: String
    /// Native ops in the row.
    public var count: Int
    public var kernel: String
    public var reason: String
    /// Op rows: the ONNX nodes it came from. ONNX-node rows: the native ops it ran in.
    public var origin: [String]
    public var outputShape: String
    /// Fused epilogue of an op row ("residual", "ReLU6").
    public var fused: [String]
    public var medianNanoseconds: Double
    public var p90Nanoseconds: Double
    /// Fraction of the profile's total (sum of op medians).
    public var share: Double
    public var flops: Double
    public var activationBytesRead: Double
    public var weightBytesRead: Double
    public var bytesWritten: Double

    public var bytesRead: Double { activationBytesRead + weightBytesRead }
    public var bytes: Double { bytesRead + bytesWritten }
    public var milliseconds: Double { medianNanoseconds / 1e6 }
    /// Arithmetic intensity: FLOPs per byte moved (0 when nothing moves).
    public var intensity: Double { bytes > 0 ? flops / bytes : 0 }
    /// Achieved GFLOP/s at the median time.
    public var gflops: Double { medianNanoseconds > 0 ? flops / medianNanoseconds : 0 }
    /// Achieved GB/s (bytes read and written) at the median time.
    public var gbs: Double { medianNanoseconds > 0 ? bytes / medianNanoseconds : 0 }

    /// "memory" when the intensity is below the machine balance (moving the bytes at full bandwidth
    /// takes longer than the FLOPs at peak), "compute" above it, "-" for rows that do no work.
    public func bound(on machine: Machine) -> String {
        if flops == 0 && bytes == 0 { return "-" }
        return intensity < machine.balance ? "memory" : "compute"
    }

    /// The fraction of the roofline reached: achieved GFLOP/s over the attainable GFLOP/s at this
    /// intensity (for ops without FLOPs, achieved over peak bandwidth).
    public func roofFraction(on machine: Machine) -> Double {
        if flops == 0 { return machine.bandwidthGBs > 0 ? gbs / machine.bandwidthGBs : 0 }
        let roof = machine.attainableGFLOPS(intensity: intensity)
        return roof > 0 ? gflops / roof : 0
    }

    /// Nanoseconds the bytes take at full bandwidth, and the FLOPs at peak.
    public func memoryNanoseconds(on machine: Machine) -> Double { machine.bandwidthGBs > 0 ? bytes / machine.bandwidthGBs : 0 }
    public func computeNanoseconds(on machine: Machine) -> Double { machine.peakGFLOPS > 0 ? flops / machine.peakGFLOPS : 0 }
}

extension Profile {
    /// The report rows for a grouping.
    public func rows(groupBy: GroupBy) -> [ProfileRow] {
        switch groupBy {
        case .op: return ops.map(row)
        case .type: return typeRows()
        case .onnxNode: return onnxNodeRows()
        }
    }

    func share(_ ns: Double) -> Double {
        let total = totalNanoseconds
        return total > 0 ? ns / total : 0
    }

    func row(_ op: OpProfile) -> ProfileRow {
        ProfileRow(name: op.name, type: op.type, count: 1, kernel: op.kernel, reason: op.reason, origin: op.origin,
                   outputShape: op.outputShapes.map(shapeText).joined(separator: ", "), fused: op.fused,
                   medianNanoseconds: op.medianNanoseconds, p90Nanoseconds: op.p90Nanoseconds,
                   share: share(op.medianNanoseconds), flops: Double(op.cost.flops),
                   activationBytesRead: Double(op.cost.activationBytesRead), weightBytesRead: Double(op.cost.weightBytesRead),
                   bytesWritten: Double(op.cost.bytesWritten))
    }

    /// Accumulates weighted members into rows keyed by name, in first-seen order.
    struct Accumulator {
        var order: [String] = []
        var rows: [String: ProfileRow] = [:]
        var perRun: [String: [Double]] = [:]
        var kernels: [String: [String]] = [:]
        var types: [String: [String]] = [:]

        mutating func add(_ key: String, _ op: OpProfile, fraction: Double, origin: String?) {
            if rows[key] == nil {
                order.append(key)
                rows[key] = ProfileRow(name: key, type: "", count: 0, kernel: "", reason: "", origin: [], outputShape: "",
                                       fused: [], medianNanoseconds: 0, p90Nanoseconds: 0, share: 0, flops: 0,
                                       activationBytesRead: 0, weightBytesRead: 0, bytesWritten: 0)
                perRun[key] = [Double](repeating: 0, count: op.nanoseconds.count)
            }
            rows[key]!.count += 1
            rows[key]!.medianNanoseconds += fraction * op.medianNanoseconds
            rows[key]!.flops += fraction * Double(op.cost.flops)
            rows[key]!.activationBytesRead += fraction * Double(op.cost.activationBytesRead)
            rows[key]!.weightBytesRead += fraction * Double(op.cost.weightBytesRead)
            rows[key]!.bytesWritten += fraction * Double(op.cost.bytesWritten)
            if let origin { rows[key]!.origin.append(origin) }
            for (r, ns) in op.nanoseconds.enumerated() where r < perRun[key]!.count { perRun[key]![r] += fraction * ns }
            if !kernels[key, default: []].contains(op.kernel) { kernels[key, default: []].append(op.kernel) }
            if !types[key, default: []].contains(op.type) { types[key, default: []].append(op.type) }
        }

        func finish(_ profile: Profile) -> [ProfileRow] {
            order.map { key in
                var row = rows[key]!
                row.p90Nanoseconds = quantile(perRun[key] ?? [], 0.9)
                row.share = profile.share(row.medianNanoseconds)
                row.kernel = (kernels[key] ?? []).joined(separator: ",")
                row.type = (types[key] ?? []).joined(separator: "+")
                return row
            }
        }
    }

    func typeRows(byKind: Bool = false) -> [ProfileRow] {
        var acc = Accumulator()
        for op in ops { acc.add(byKind ? op.kind : op.type, op, fraction: 1, origin: nil) }
        return acc.finish(self).sorted { $0.medianNanoseconds != $1.medianNanoseconds ? $0.medianNanoseconds > $1.medianNanoseconds : $0.name < $1.name }
    }

    /// How a fused op's numbers split across its ONNX origin nodes (see `GroupBy.onnxNode`).
    public func originShares(_ op: OpProfile) -> [(node: String, fraction: Double)] {
        let nodes = op.origin.isEmpty ? [op.name] : op.origin
        let weights = nodes.map { Double(max(onnxNodeFLOPs?[$0] ?? 0, 0)) }
        let sum = weights.reduce(0, +)
        if sum > 0 { return zip(nodes, weights).map { ($0, $1 / sum) } }
        return nodes.map { ($0, 1 / Double(nodes.count)) }
    }

    func onnxNodeRows() -> [ProfileRow] {
        var acc = Accumulator()
        for op in ops {
            for (node, fraction) in originShares(op) { acc.add(node, op, fraction: fraction, origin: op.name) }
        }
        var rows = acc.finish(self)
        // ONNX nodes that became views run no step: listed with no time so every origin is accounted for.
        var seen = Set(rows.map(\.name))
        for view in unscheduled {
            for node in (view.origin.isEmpty ? [view.name] : view.origin) where !seen.contains(node) {
                seen.insert(node)
                rows.append(ProfileRow(name: node, type: view.type, count: 0, kernel: "view", reason: "no step: a view or constant",
                                       origin: [view.name], outputShape: "", fused: [], medianNanoseconds: 0, p90Nanoseconds: 0,
                                       share: 0, flops: 0, activationBytesRead: 0, weightBytesRead: 0, bytesWritten: 0))
            }
        }
        return rows
    }
}

/// "1x3x224x224".
func shapeText(_ shape: [Int]) -> String { shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x") }
