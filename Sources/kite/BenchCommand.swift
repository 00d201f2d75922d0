import ArgumentParser
import Foundation
import Kite
import KiteCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model's latency (median, p10, p90), load time and peak memory."
    )

    @Argument(help: "An .onnx or .kite model file.")
    var model: String

    @Option(help: "Threads (default: one per core).")
    var threads: Int = 0

    @Option(help: "Timed runs.")
    var runs: Int = 50

    @Option(help: "Untimed warm-up runs.")
    var warmup: Int = 5

    @Option(name: .customLong("shape"), help: "NAME=DIMS for symbolic input dims.")
    var shapes: [String] = []

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Also measure the machine's peak and report the FLOP floor (2 x MACs / peak) and the median's ratio to it.")
    var floor = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard threads >= 0 else { throw ValidationError("--threads must not be negative (0: one per core)") }
    }

    func run() throws {
        let session = try Session(path: model, options: SessionOptions(inputShapes: try parseShapes(shapes), threads: threads))
        var random = SeededRandom(seed: 0)
        var inputs: [String: Tensor] = [:]
        for v in session.inputs { inputs[v.name] = try random.tensor(v.shape, name: v.name) }
        let r = try Benchmark.run(session: session, inputs: inputs, runs: runs, warmup: warmup, measurePeak: floor)
        if json {
            print(r.json)
        } else {
            print("model    \(model)")
            print("threads  \(r.threads)")
            if let batch = session.itemBatch {
                print("batch    \(batch), item by item (the graph was converted at 1)")
            }
            print(String(format: "latency  median %.3f ms  p10 %.3f ms  p90 %.3f ms  (%d runs)", r.medianMilliseconds, r.p10Milliseconds, r.p90Milliseconds, r.runs))
            print(String(format: "load     %.1f ms", r.loadMilliseconds))
            print(String(format: "memory   peak RSS %.1f MB", r.peakRSSMegabytes) + (r.arenaBytes.map { ", activation arena \(formatBytes($0))" } ?? "")
                  + (r.arenaLowerBoundBytes.map { " (lower bound \(formatBytes($0)))" } ?? ""))
            var compute = String(format: "compute  %.3f GFLOP", Double(r.flops) / 1e9)
            if let peak = r.peakGFLOPS, let floorMs = r.floorMilliseconds {
                compute += String(format: ", floor %.3f ms at the measured peak %.1f GFLOP/s: median %.2fx the floor",
                                  floorMs, peak, r.medianMilliseconds / floorMs)
            }
            print(compute)
        }
    }
}
