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
        SequenceLowering.rules,
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

    /// Attributes an opset introduced: before it they are unknown, and a node that carries one
    /// (a model whose opset import does not match its nodes) would run as if it were absent.
    static let introducedAttributes: [String: (names: [String], since: Int)] = [
        "BatchNormalization": (["training_mode"], 14),
    ]

    /// Inputs of one op that ONNX types with one type variable (`T`): an Add of a float tensor
    /// and an int64 one is no valid model, and converting one operand would compute something the
    /// model does not say. Per op: the input indices that must agree (empty: all of them).
    static let sameTypeInputs: [String: [Int]] = [
        "Add": [], "Sub": [], "Mul": [], "Div": [], "Mod": [], "Min": [], "Max": [],
        "Equal": [], "Less": [], "LessOrEqual": [], "Greater": [], "GreaterOrEqual": [],
        "Concat": [], "Conv": [], "Gemm": [], "MatMul": [], "Clip": [], "Where": [1, 2],
    ]

    /// Throws when inputs break the op's type constraints: `sameTypeInputs`, and
    /// BatchNormalization's inputs, which are all floating point (`T`, `T1`, `T2`) and before
    /// opset 15 of one type. Checked only for nodes with a runtime input: constant shape
    /// arithmetic folds as exporters wrote it.
    static func checkInputTypes(_ ctx: NodeContext) throws {
        let isBatchNorm = ctx.opType == "BatchNormalization"
        guard let listed = sameTypeInputs[ctx.opType] ?? (isBatchNorm ? [] : nil) else { return }
        let given = ctx.node.inputs.indices.filter { ctx.hasInput($0) }
        var anyRuntime = false
        for i in given {
            if case .runtime = try ctx.value(i) { anyRuntime = true }
        }
        guard anyRuntime else { return }
        if isBatchNorm {
            for i in given {
                let type = try ctx.elementType(i)
                if !type.isFloatingPoint {
                    throw ctx.invalid("input \(i) ('\(ctx.inputName(i))') has type \(type); \(ctx.opType) takes floating-point inputs only")
                }
            }
            if ctx.opset >= 15 { return }
        }
        let indices = listed.isEmpty ? given : listed.filter { given.contains($0) }
        guard let first = indices.first else { return }
        let type = try ctx.elementType(first)
        for i in indices.dropFirst() {
            let other = try ctx.elementType(i)
            if other != type {
                throw ctx.invalid("input \(i) ('\(ctx.inputName(i))') has type \(other) but input \(first) ('\(ctx.inputName(first))') has type \(type); "
                                  + "\(ctx.opType) takes inputs of one type")
            }
        }
    }

    /// Throws when the node carries an attribute its opset retired (`retiredAttributes`) or that
    /// its opset does not have yet (`introducedAttributes`).
    static func checkAttributesAgainstOpset(_ ctx: NodeContext) throws {
        if let introduced = introducedAttributes[ctx.opType], ctx.opset < introduced.since {
            for name in introduced.names where ctx.has(name) {
                throw ctx.invalid("\(ctx.opType) has no attribute '\(name)' at opset \(ctx.opset): it was introduced in opset \(introduced.since)",
                                  attribute: name)
            }
        }
        guard let retired = retiredAttributes[ctx.opType], ctx.opset >= retired.since else { return }
        for name in retired.names where ctx.has(name) {
            throw ctx.invalid(
                "\(ctx.opType) has no attribute '\(name)' at opset \(ctx.opset): from opset \(retired.since) \(retired.replacement)",
                attribute: name)
        }
    }
}
