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
}
