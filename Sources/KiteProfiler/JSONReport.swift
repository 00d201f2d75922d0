extension Profile {
    /// The layout version of `json()`; bumped when a key changes meaning or disappears.
    public static let schemaVersion = 1

    /// One JSON object: `schema_version`, `total_ms` (sum of op medians), `end_to_end_ms`, `ops` (one entry
    /// per native op in run order), `by_type`, `by_onnx_node`, `machine`, `totals`, `overhead` and `guidelines`.
    /// Times are milliseconds, bytes are bytes, `share` is a fraction of `total_ms`.
    public func json() -> String {
        jsonValue().rendered(pretty: true, inlineDepth: 3)
    }

    func jsonValue() -> JSONValue {
        let e2e = endToEndMedianNanoseconds
        let c = totalCost
        let machineObject: JSONValue = .object([
            ("cpu", .string(machine.cpu)),
            ("threads", .int(machine.threads)),
            ("peak_gflops", .number(machine.peakGFLOPS, digits: 3)),
            ("peak_gflops_per_core", .number(machine.peakGFLOPSPerCore, digits: 3)),
            ("bandwidth_gbs", .number(machine.bandwidthGBs, digits: 3)),
            ("balance_flops_per_byte", .number(machine.balance, digits: 4)),
            ("last_level_cache_bytes", .int(machine.lastLevelCacheBytes)),
            ("method", .string(machine.method)),
        ])
        return .object([
            ("schema_version", .int(Self.schemaVersion)),
            ("model", .string(model)),
            ("build", .string(build)),
            ("threads", .int(threads)),
            ("batch_items", .int(batchItems)),
            ("runs", .int(runs)),
            ("warmup", .int(warmup)),
            ("total_ms", .number(totalNanoseconds / 1e6)),
            ("end_to_end_ms", .number(e2e / 1e6)),
            ("end_to_end_p90_ms", .number(endToEndP90Nanoseconds / 1e6)),
            ("timed_run_ms", .number(timedRunMedianNanoseconds / 1e6)),
            ("unattributed_ms", .number(unattributedNanoseconds / 1e6)),
            ("overhead_fraction", .number(overheadFraction)),
            ("totals", .object([
                ("flops", .int(c.flops)),
                ("bytes", .int(c.totalBytes)),
                ("activation_bytes_read", .int(c.activationBytesRead)),
                ("weight_bytes_read", .int(c.weightBytesRead)),
                ("bytes_written", .int(c.bytesWritten)),
            ])),
            ("machine", machineObject),
            ("ops", .array(ops.map(opJSON))),
            ("by_type", .array(rows(groupBy: .type).map { rowJSON($0, extra: [("count", .int($0.count)), ("kernels", .string($0.kernel))]) })),
            ("by_onnx_node", .array(rows(groupBy: .onnxNode).map { rowJSON($0, extra: [("native_ops", .array($0.origin.map { .string($0) }))]) })),
            ("onnx_split_rule", .string(onnxNodeFLOPs == nil ? "even" : "flops")),
            ("unscheduled", .array(unscheduled.map { .object([("name", .string($0.name)), ("type", .string($0.type))]) })),
            ("kernels", .array(kernelChoices.map { .object([("kernel", .string($0.kernel)), ("reason", .string($0.reason)), ("count", .int($0.count))]) })),
            ("guidelines", .array(guidelineFindings.map { f in
                .object([("id", .string(f.id)), ("title", .string(f.title)), ("verdict", .string(f.verdict)),
                         ("share", .number(f.share)), ("ops", .array(f.flagged.map { .string($0) }))])
            })),
        ])
    }

    func opJSON(_ op: OpProfile) -> JSONValue {
        let r = row(op)
        return rowJSON(r, extra: [
            ("step", .int(op.step)),
            ("kernel", .string(op.kernel)),
            ("kernel_reason", .string(op.reason)),
            ("origin", .array(op.origin.map { .string($0) })),
            ("fused", .array(op.fused.map { .string($0) })),
            ("output_shape", .array(op.outputShapes.map { .array($0.map { .int($0) }) })),
            ("mult_adds", .int(op.multiplyAdds)),
            ("mac_elements", .int(op.memoryAccessElements)),
        ])
    }

    /// The keys every row carries (op, type and ONNX-node entries alike), then `extra`.
    func rowJSON(_ r: ProfileRow, extra: [(String, JSONValue)]) -> JSONValue {
        .object([
            ("name", .string(r.name)),
            ("type", .string(r.type)),
            ("time_ms", .number(r.medianNanoseconds / 1e6)),
            ("p90_ms", .number(r.p90Nanoseconds / 1e6)),
            ("share", .number(r.share)),
            ("flops", .int(Int(r.flops.rounded()))),
            ("bytes", .int(Int(r.bytes.rounded()))),
            ("activation_bytes_read", .int(Int(r.activationBytesRead.rounded()))),
            ("weight_bytes_read", .int(Int(r.weightBytesRead.rounded()))),
            ("bytes_written", .int(Int(r.bytesWritten.rounded()))),
            ("intensity", .number(r.intensity, digits: 4)),
            ("gflops", .number(r.gflops, digits: 4)),
            ("gbs", .number(r.gbs, digits: 4)),
            ("bound", .string(r.bound(on: machine))),
            ("roof_fraction", .number(r.roofFraction(on: machine), digits: 4)),
        ] + extra)
    }
}
