import ArgumentParser
import Foundation
import Kite

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert an ONNX model into an optimised native .kite file."
    )

    @Argument(help: "The ONNX model.")
    var model: String

    @Option(name: .shortAndLong, help: "The .kite file to write (default: MODEL with .kite).")
    var output: String?

    @Flag(name: .customLong("no-fuse"), help: "Lower only; run no fusion passes.")
    var noFuse = false

    @Option(help: "Comma-separated pass names to run (default: all).")
    var passes: String?

    @Option(name: .customLong("shape"), help: "NAME=DIMS for symbolic input dims.")
    var shapes: [String] = []

    @Flag(help: "Check each pass on a seeded input and name the first whose outputs drift beyond 1e-5.")
    var verify = false

    @Flag(name: .customLong("fp16-weights"), help: "Store weights as float16.")
    var fp16Weights = false

    @Option(name: .customLong("stop-after"), help: "Stop after the N-th pass run that changed the graph (bisecting).")
    var stopAfter: Int?

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func run() throws {
        let destination = output ?? ((model as NSString).deletingPathExtension + ".kite")
        let options = ConversionOptions(inputShapes: try parseShapes(shapes), noFuse: noFuse,
                                        passes: passes.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                                        verify: verify, fp16Weights: fp16Weights, stopAfter: stopAfter)
        let report = try Converter.convert(path: model, to: destination, options: options)
        for note in report.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        print(json ? report.json : report.text)
    }
}
