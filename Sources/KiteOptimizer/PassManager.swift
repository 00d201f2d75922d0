import KiteCore

/// Which passes run and how.
public struct PassOptions: Sendable {
    /// Run the fusion passes; false (`--no-fuse`) runs only the cleanup passes.
    public var fuse: Bool
    /// Run exactly these passes, by name, in this order (nil: the default list).
    public var only: [String]?
    /// Stop after this many pass applications that changed the graph (nil: run
    /// to a fixed point). The report numbers those steps, so a wrong answer can
    /// be bisected: `stopAfter: k` is the graph as it was after step k.
    public var stopAfter: Int?
    /// Bound on rounds over the pass list.
    public var maxIterations: Int
    /// Check the graph (`validate()`) after every step; on by default in debug builds.
    public var checkEachStep: Bool

    public init(fuse: Bool = true, only: [String]? = nil, stopAfter: Int? = nil, maxIterations: Int = 10,
                checkEachStep: Bool = PassOptions.isDebugBuild) {
        self.fuse = fuse
        self.only = only
        self.stopAfter = stopAfter
        self.maxIterations = maxIterations
        self.checkEachStep = checkEachStep
    }

    /// Whether this module was compiled without optimisation (`-Onone`, DEBUG defined).
    public static var isDebugBuild: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }
}

/// One pass application that changed the graph.
public struct PassStep: Sendable, Equatable {
    /// 1-based, in run order (the number `stopAfter` counts).
    public var number: Int
    /// 1-based round over the pass list.
    public var iteration: Int
    /// The pass's name.
    public var pass: String
    /// Rewrites it made in this application.
    public var rewrites: Int
    /// Node count of the graph after it.
    public var nodesAfter: Int
}

/// What a run of the pass manager did.
public struct OptimizationReport: Sendable {
    /// Every pass that ran, in pass order, with its total rewrites (0 included).
    public var rewrites: [(name: String, rewrites: Int)]
    /// The applications that changed the graph, in order.
    public var steps: [PassStep]
    /// One readable line per pass that rewrote something ("fused 35 ReLU6 into their producers").
    public var summaryLines: [String]
    /// Rounds over the pass list that ran.
    public var iterations: Int
    /// Whether the last round changed nothing (false when stopped early or out of rounds).
    public var converged: Bool
    /// Whether `stopAfter` ended the run.
    public var stopped: Bool

    /// Total rewrites of one pass (0 when it did not run).
    public func rewrites(of pass: String) -> Int {
        rewrites.first { $0.name == pass }?.rewrites ?? 0
    }
}

/// Runs a list of passes over a graph, round after round, until a round
/// changes nothing (tract's optimiser loop), checking the graph after every
/// step in debug builds.
public struct PassManager: Sendable {
    /// Passes that only tidy up; `--no-fuse` runs these alone.
    public static let cleanupPasses: [any Pass] = [
        RemoveDeadNodes(), FoldConstants(), ShareConstants(), RemoveNoopReshape(),
    ]
    /// Pattern recognition and fusion, in the order they run within a round.
    public static let fusionPasses: [any Pass] = [
        RecogniseChannelShuffle(), RecogniseChannelSplit(), RecogniseHardSwish(),
        FoldPadIntoConv(), HoistOverChannelShuffle(), FoldScaleShiftIntoConv(), FuseFCBias(), DropReshapeAfterGlobalPool(),
        SinkBinaryBelowChannelShuffle(), FuseResidualAdd(), FuseActivation(),
    ]
    /// Every pass, by the name `--passes` uses.
    public static var allPasses: [any Pass] { cleanupPasses + fusionPasses }

    /// The pass called `name`, or nil.
    public static func pass(named name: String) -> (any Pass)? {
        allPasses.first { $0.name == name }
    }

    /// How the passes run and which are chosen.
    public var options: PassOptions
    /// Passes given explicitly (tests, tools); nil: chosen from `options`.
    public var explicitPasses: [any Pass]?

    /// A manager choosing its passes from `options` (default list, `fuse`, `only`).
    public init(options: PassOptions = PassOptions()) {
        self.options = options
    }

    /// A manager running exactly `passes`, in order (`options.only` and `fuse` are ignored).
    public init(passes: [any Pass], options: PassOptions = PassOptions()) {
        self.options = options
        self.explicitPasses = passes
    }

    /// The passes this manager runs, in order; throws for unknown names in `options.only`.
    public func passes() throws -> [any Pass] {
        if let explicitPasses { return explicitPasses }
        if let only = options.only {
            return try only.map { name in
                guard let p = Self.pass(named: name) else {
                    throw KiteError.invalidArgument("unknown pass '\(name)'; passes are: " + Self.allPasses.map(\.name).joined(separator: ", "))
                }
                return p
            }
        }
        return options.fuse ? Self.allPasses : Self.cleanupPasses
    }

    /// Optimises `graph` in place.
    @discardableResult
    public func run(_ graph: inout NativeGraph) throws -> OptimizationReport {
        try run(&graph, afterStep: nil)
    }

    /// Optimises `graph`, calling `afterStep` with each step and the graph after it.
    public func run(_ graph: inout NativeGraph, afterStep: ((PassStep, NativeGraph) throws -> Void)?) throws -> OptimizationReport {
        let passes = try passes()
        var totals = [Int](repeating: 0, count: passes.count)
        var tallies = [[String: Int]](repeating: [:], count: passes.count)
        var steps: [PassStep] = []
        var iterations = 0
        var converged = false
        var stopped = false
        rounds: while iterations < options.maxIterations {
            iterations += 1
            var changed = false
            for (k, pass) in passes.enumerated() {
                if let limit = options.stopAfter, steps.count >= limit {
                    stopped = true
                    break rounds
                }
                let n: Int
                do {
                    n = try pass.apply(&graph, tally: &tallies[k])
                } catch let e as KiteError {
                    throw e.prefixed("pass '\(pass.name)'")
                }
                guard n > 0 else { continue }
                changed = true
                totals[k] += n
                let step = PassStep(number: steps.count + 1, iteration: iterations, pass: pass.name, rewrites: n, nodesAfter: graph.nodes.count)
                steps.append(step)
                if options.checkEachStep {
                    do {
                        try graph.validate()
                    } catch let e as KiteError {
                        throw e.prefixed("graph invalid after step \(step.number) (pass '\(pass.name)')")
                    }
                }
                try afterStep?(step, graph)
            }
            if !changed {
                converged = true
                break
            }
        }
        // A pass listed twice reports once, with both counts.
        var rewrites: [(name: String, rewrites: Int)] = []
        var summary: [String] = []
        for (k, pass) in passes.enumerated() {
            if let j = rewrites.firstIndex(where: { $0.name == pass.name }) {
                rewrites[j].rewrites += totals[k]
            } else {
                rewrites.append((pass.name, totals[k]))
            }
            if totals[k] > 0 { summary.append(pass.summary(rewrites: totals[k], tally: tallies[k])) }
        }
        return OptimizationReport(rewrites: rewrites, steps: steps, summaryLines: summary, iterations: iterations,
                                  converged: converged, stopped: stopped)
    }
}

extension KiteError {
    /// The same error with its message prefixed ("pass 'x': ...").
    func prefixed(_ prefix: String) -> KiteError {
        switch self {
        case .io(let c, let m): return .io(c, "\(prefix): \(m)")
        case .malformed(let c, let m): return .malformed(c, "\(prefix): \(m)")
        case .invalidTensor(let c, let m): return .invalidTensor(c, "\(prefix): \(m)")
        case .invalidNode(let c, let m): return .invalidNode(c, "\(prefix): \(m)")
        case .shapeMismatch(let c, let m): return .shapeMismatch(c, "\(prefix): \(m)")
        case .tooLarge(let c, let m): return .tooLarge(c, "\(prefix): \(m)")
        case .invalidArgument(let m): return .invalidArgument("\(prefix): \(m)")
        case .unsupported: return self
        }
    }
}
