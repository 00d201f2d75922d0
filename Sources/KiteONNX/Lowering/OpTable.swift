import KiteCore

/// Evaluates a node whose inputs are all constants; returns one tensor per output.
typealias FoldFunction = @Sendable (NodeContext) throws -> [Tensor]
/// Lowers a node with at least one runtime input into native nodes (or constants/aliases).
typealias LowerFunction = @Sendable (NodeContext) throws -> Void

/// How one version of one ONNX op is lowered.
///
/// A version applies from opset `since` until the next listed version.
/// `fold` runs when every input is a constant; `lower` otherwise (or when
/// there is no `fold`, with constant inputs materialized as Constant nodes).
/// An op with only `fold` is shape arithmetic: a runtime input is unsupported.
struct OpRule: Sendable {
    var opType: String
    var since: Int
    var fold: FoldFunction?
    var lower: LowerFunction?

    init(_ opType: String, since: Int = 1, fold: FoldFunction? = nil, lower: LowerFunction? = nil) {
        self.opType = opType
        self.since = since
        self.fold = fold
        self.lower = lower
    }
}

/// The lowering table, keyed by op type and opset: each family file lists its rules.
enum OpTable {
    /// The newest opset this table was written against (assumed when a model declares none).
    static let newestKnownOpset = 21

    static let families: [[OpRule]] = [
        ConvLowering.rules,
        NormalizationLowering.rules,
        ActivationLowering.rules,
        ElementwiseLowering.rules,
        ShapeOpLowering.rules,
        SliceLowering.rules,
        SplitConcatLowering.rules,
        GatherLowering.rules,
        PadLowering.rules,
        MatMulLowering.rules,
        PoolingLowering.rules,
        ReduceLowering.rules,
        SoftmaxLowering.rules,
        PassThroughLowering.rules,
        ShapeArithmeticLowering.rules,
    ]

    /// Every version of every op, oldest first.
    static let rules: [String: [OpRule]] = {
        var table: [String: [OpRule]] = [:]
        for family in families {
            for rule in family { table[rule.opType, default: []].append(rule) }
        }
        return table.mapValues { $0.sorted { $0.since < $1.since } }
    }()

    /// The newest version of `opType` not above `opset`.
    static func rule(for opType: String, opset: Int) -> OpRule? {
        rules[opType]?.last { $0.since <= opset }
    }

    /// The oldest opset at which `opType` can be lowered, if at all.
    static func oldestVersion(of opType: String) -> Int? {
        rules[opType]?.first?.since
    }

    /// Attributes an opset turned into inputs (or dropped), with that opset and what replaced
    /// them. The rules of newer versions do not read them, so a node that still carries one (a
    /// model whose opset import does not match its nodes) would run as if it were absent: Clip
    /// with `min`/`max` at opset 13 computed no clipping at all.
    static let retiredAttributes: [String: (names: [String], since: Int, replacement: String)] = [
        "Clip": (["min", "max"], 11, "the bounds are inputs"),
        "Pad": (["pads", "value"], 11, "the pads and the value are inputs"),
        "Slice": (["starts", "ends", "axes"], 10, "starts, ends and axes are inputs"),
        "Split": (["split"], 13, "the sizes are an input"),
        "Squeeze": (["axes"], 13, "the axes are an input"),
        "Unsqueeze": (["axes"], 13, "the axes are an input"),
        "ReduceSum": (["axes"], 13, "the axes are an input"),
        "ReduceMean": (["axes"], 18, "the axes are an input"),
        "ReduceProd": (["axes"], 18, "the axes are an input"),
        "ReduceMax": (["axes"], 18, "the axes are an input"),
        "ReduceMin": (["axes"], 18, "the axes are an input"),
        "Reshape": (["shape"], 5, "the shape is an input"),
        "Upsample": (["scales"], 9, "the scales are an input"),
        "Add": (["broadcast", "axis"], 7, "inputs broadcast as in NumPy"),
        "Sub": (["broadcast", "axis"], 7, "inputs broadcast as in NumPy"),
        "Mul": (["broadcast", "axis"], 7, "inputs broadcast as in NumPy"),
        "Div": (["broadcast", "axis"], 7, "inputs broadcast as in NumPy"),
        "BatchNormalization": (["spatial"], 9, "statistics are always per channel"),
    ]

    /// Throws when the node carries an attribute its opset retired (`retiredAttributes`).
    static func checkRetiredAttributes(_ ctx: NodeContext) throws {
        guard let retired = retiredAttributes[ctx.opType], ctx.opset >= retired.since else { return }
        for name in retired.names where ctx.has(name) {
            throw ctx.invalid(
                "\(ctx.opType) has no attribute '\(name)' at opset \(ctx.opset): from opset \(retired.since) \(retired.replacement)",
                attribute: name)
        }
    }
}
