import Foundation

extension Profile {
    /// The report rows as CSV with a header line (RFC 4180 quoting): one row per op, type or ONNX node.
    /// Columns: name, type, kernel, kernel_reason, count, output_shape, time_ms, p90_ms, share, flops, bytes,
    /// activation_bytes_read, weight_bytes_read, bytes_written, intensity, gflops, gbs, bound, roof_fraction, origin
    /// (ONNX nodes, or for ONNX-node rows the native ops, separated by "|").
    public func csv(groupBy: GroupBy = .op) -> String {
        var lines = ["name,type,kernel,kernel_reason,count,output_shape,time_ms,p90_ms,share,flops,bytes,activation_bytes_read,weight_bytes_read,bytes_written,intensity,gflops,gbs,bound,roof_fraction,origin"]
        for r in rows(groupBy: groupBy) {
            let cells: [String] = [
                r.name, r.type, r.kernel, r.reason, "\(r.count)", r.outputShape,
                csvNumber(r.medianNanoseconds / 1e6, 6), csvNumber(r.p90Nanoseconds / 1e6, 6), csvNumber(r.share, 6),
                "\(Int(r.flops.rounded()))", "\(Int(r.bytes.rounded()))", "\(Int(r.activationBytesRead.rounded()))",
                "\(Int(r.weightBytesRead.rounded()))", "\(Int(r.bytesWritten.rounded()))",
                csvNumber(r.intensity, 4), csvNumber(r.gflops, 4), csvNumber(r.gbs, 4), r.bound(on: machine),
                csvNumber(r.roofFraction(on: machine), 4), r.origin.joined(separator: "|"),
            ]
            lines.append(cells.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func csvNumber(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "" }
    var s = String(format: "%.\(digits)f", v)
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}

func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
