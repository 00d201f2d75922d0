import KiteCore

/// How far a step moved the graph's outputs from the unoptimised graph's.
public struct Drift: Sendable, Equatable {
    /// The step (1-based, as in `OptimizationReport.steps`).
    public var step: Int
    /// The pass that made the step.
    public var pass: String
    /// max |out - ref| / max(1, max |ref|), the largest over the graph's outputs.
    public var error: Float
}

/// A verified run: the report, each step's drift and the first step beyond tolerance.
public struct VerificationResult: Sendable {
    /// What the passes did, as `run` reports it.
    public var report: OptimizationReport
    /// One entry per step, in order.
    public var drifts: [Drift]
    /// The first step whose outputs drifted beyond the tolerance (nil: none did).
    public var firstDrift: Drift?
}

extension PassManager {
    /// Runs the passes like `run`, and after every step runs the graph with the
    /// reference executor on `inputs`, comparing each output with the
    /// unoptimised graph's (this backs `kite convert --verify`). Every pass
    /// still runs; `firstDrift` names the first that went beyond `tolerance`.
    public func runVerifying(_ graph: inout NativeGraph, inputs: [String: Tensor], tolerance: Float = 1e-5) throws -> VerificationResult {
        let expected = try ReferenceExecutor.run(graph, inputs: inputs)
        var drifts: [Drift] = []
        let report = try run(&graph) { step, g in
            let got = try ReferenceExecutor.run(g, inputs: inputs)
            drifts.append(Drift(step: step.number, pass: step.pass, error: Self.drift(got, from: expected)))
        }
        return VerificationResult(report: report, drifts: drifts, firstDrift: drifts.first { !($0.error <= tolerance) })
    }

    /// max over outputs of max |got - expected| / max(1, max |expected|); infinity
    /// when an output is missing or has another shape, NaN-safe.
    public static func drift(_ got: [String: Tensor], from expected: [String: Tensor]) -> Float {
        var worst: Float = 0
        for (name, ref) in expected {
            guard let out = got[name], out.shape == ref.shape else { return .infinity }
            let a = out.floats, b = ref.floats
            guard a.count == b.count else { return .infinity }
            var scale: Float = 1
            for v in b where v.isFinite { scale = max(scale, abs(v)) }
            var diff: Float = 0
            for (x, y) in zip(a, b) {
                if x == y { continue }
                let d = abs(x - y)
                if d.isNaN { return .infinity }
                diff = max(diff, d)
            }
            worst = max(worst, diff / scale)
        }
        return worst
    }
}
