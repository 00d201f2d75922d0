import ArgumentParser
import Kite

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's producer, opsets, inputs, outputs, op histogram and parameters."
    )

    @Argument(help: "An .onnx or .kite model file.")
    var model: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let summary = try inspectModel(path: model)
        print(json ? summary.json : summary.text)
    }
}
