extension Profile {
    /// The runs in Chrome's trace event format (opens in Perfetto and chrome://tracing): one complete
    /// ("ph":"X") slice per op per run, `ts`/`dur` in microseconds since the first timed run began,
    /// on the track of the thread that ran it, plus process and thread name metadata and an instant
    /// event marking each run's start.
    ///
    /// Ops run on the calling thread, which splits each op's work across the executor's worker pool;
    /// the executor reports per-step spans of the calling thread only, so every op slice is on tid 0
    /// ("executor"). Worker threads get no track of their own until the pool reports its spans.
    public func chromeTrace() -> String {
        var events: [JSONValue] = [
            .object([("name", .string("process_name")), ("ph", .string("M")), ("pid", .int(1)), ("tid", .int(0)),
                     ("args", .object([("name", .string("kite \(model.isEmpty ? "profile" : model)")) ]))]),
            .object([("name", .string("thread_name")), ("ph", .string("M")), ("pid", .int(1)), ("tid", .int(0)),
                     ("args", .object([("name", .string("executor (calling thread, \(threads) thread\(threads == 1 ? "" : "s") per op)"))]))]),
            .object([("name", .string("thread_sort_index")), ("ph", .string("M")), ("pid", .int(1)), ("tid", .int(0)),
                     ("args", .object([("sort_index", .int(0))]))]),
        ]
        for (run, start) in runStarts.enumerated() {
            events.append(.object([("name", .string("run \(run)")), ("ph", .string("i")), ("s", .string("t")), ("pid", .int(1)),
                                   ("tid", .int(0)), ("ts", .number(start / 1e3, digits: 3))]))
            for op in ops where run < op.nanoseconds.count {
                events.append(.object([
                    ("name", .string(op.name)),
                    ("cat", .string(op.type)),
                    ("ph", .string("X")),
                    ("pid", .int(1)),
                    ("tid", .int(0)),
                    ("ts", .number((start + op.startOffsets[run]) / 1e3, digits: 3)),
                    ("dur", .number(op.nanoseconds[run] / 1e3, digits: 3)),
                    ("args", .object([
                        ("run", .int(run)), ("step", .int(op.step)), ("kernel", .string(op.kernel)),
                        ("flops", .int(op.cost.flops)), ("bytes", .int(op.cost.totalBytes)),
                        ("output", .string(op.outputShapes.map(shapeText).joined(separator: ", "))),
                        ("origin", .string(op.origin.joined(separator: ", "))),
                    ])),
                ]))
            }
        }
        let trace: JSONValue = .object([
            ("traceEvents", .array(events)),
            ("displayTimeUnit", .string("ms")),
            ("otherData", .object([("schema_version", .int(Self.schemaVersion)), ("model", .string(model)),
                                   ("threads", .int(threads)), ("batch_items", .int(batchItems)), ("runs", .int(runs))])),
        ])
        return trace.rendered(pretty: true, inlineDepth: 2)
    }
}
