import ArgumentParser
import Foundation
import Kite
import KiteCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on .npy inputs (or a seeded random input) and write its outputs as .npy."
    )

    @Argument(help: "An .onnx or .kite model file.")
    var model: String

    @Option(name: .customLong("input"), help: "NAME=FILE.npy (repeatable). Without it, a seeded random input is used.")
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: "Write each output as DIR/<output name>.npy.")
    var outputDir: String?

    @Option(name: .customLong("shape"), help: "NAME=DIMS for symbolic input dims, e.g. input=1x3x224x224.")
    var shapes: [String] = []

    @Option(help: "Seed of the random input.")
    var seed: UInt64 = 0

    @Option(help: "Threads (default: one per core).")
    var threads: Int = 0

    @Flag(help: "Run with the plain reference implementations (slow; for checking).")
    var reference = false

    func validate() throws {
        guard threads >= 0 else { throw ValidationError("--threads must not be negative (0: one per core)") }
    }

    func run() throws {
        var inputShapes = try parseShapes(shapes)
        var tensors: [String: Tensor] = [:]
        for (name, file) in try parseAssignments(inputs, option: "--input") {
            let loaded = try NPY.read(path: file)
            if loaded.converted {
                FileHandle.standardError.write(Data("note: \(file): converted \(loaded.dtype) to float32\n".utf8))
            }
            tensors[name] = loaded.tensor
            if inputShapes[name] == nil { inputShapes[name] = loaded.tensor.shape }
        }
        let session = try Session(path: model, options: SessionOptions(inputShapes: inputShapes, threads: threads, useReferenceExecutor: reference))
        for note in session.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        var random = SeededRandom(seed: seed)
        for v in session.inputs where tensors[v.name] == nil {
            if !inputs.isEmpty {
                throw KiteError.invalidArgument("missing --input for '\(v.name)' (shape \(v.shape))")
            }
            tensors[v.name] = try random.tensor(v.shape, name: v.name)
            print("input  \(v.name): random \(v.shape.map(String.init).joined(separator: "x")), seed \(seed)")
        }
        let start = DispatchTime.now()
        let outputs = try session.run(tensors)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        if let outputDir {
            try FileAccess.makeDirectory(outputDir)
        }
        for v in session.outputs {
            guard let t = outputs[v.name] else { continue }
            print("output \(v.name): \(t.shape.map(String.init).joined(separator: "x"))")
            let classes = t.shape.filter { $0 > 1 }
            if classes.count == 1, classes[0] >= 2 {
                for (rank, entry) in topK(t.floats, k: min(5, classes[0])).enumerated() {
                    print(String(format: "  #%d  class %4d  score %.6f", rank + 1, entry.index, entry.score))
                }
            } else if t.rank == 2, t.shape[0] > 1, t.shape[1] >= 2 {
                // A batch of score rows: the best class of each item.
                let values = t.floats, width = t.shape[1]
                for item in 0..<t.shape[0] {
                    guard let best = topK(Array(values[item * width ..< (item + 1) * width]), k: 1).first else { continue }
                    print(String(format: "  item %d  class %4d  score %.6f", item, best.index, best.score))
                }
            }
            if let outputDir {
                let safe = v.name.map { "/\\: ".contains($0) ? "_" : $0 }
                let path = (outputDir as NSString).appendingPathComponent(String(safe) + ".npy")
                try NPY.write(t, path: path)
                print("  wrote \(path)")
            }
        }
        print(String(format: "time   %.2f ms", ms))
    }
}
