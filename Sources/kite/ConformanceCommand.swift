import ArgumentParser
import Foundation
import Kite

struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run ONNX backend node test cases (written by tools/conformance_export.py) and print passed/failed per op."
    )

    @Argument(help: "Folder of case folders (model.onnx, test_data_set_0/).")
    var folder: String

    @Flag(help: "List every failing case with its reason.")
    var verbose = false

    func run() throws {
        let results = try Conformance.run(root: folder)
        var byOp: [String: (passed: Int, failed: Int)] = [:]
        for r in results { byOp[r.opType, default: (0, 0)].passed += r.passed ? 1 : 0; byOp[r.opType, default: (0, 0)].failed += r.passed ? 0 : 1 }
        print("op                     passed  failed")
        for op in byOp.keys.sorted() {
            let c = byOp[op]!
            print(op.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: " %6d  %6d", c.passed, c.failed))
        }
        let passed = results.filter(\.passed).count
        print("failing cases:")
        for r in results where !r.passed {
            print("  \(r.name) [\(r.opType)]: \(verbose ? r.reason : String(r.reason.prefix(160)))")
        }
        print(String(format: "%d passed, %d failed (%.1f%%)", passed, results.count - passed, 100 * Double(passed) / Double(max(results.count, 1))))
    }
}
