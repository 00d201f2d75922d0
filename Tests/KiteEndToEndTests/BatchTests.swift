import Foundation
import Kite
import KiteCore
import XCTest

/// A `.kite` graph converted at batch 1 runs a batch of N item by item: each item's outputs are
/// those of a run on that item alone, and onnxruntime's for the sample's own input.
final class BatchTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("kite-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// The sample's input and two others made from it, stacked: [x, 0.5 x + 0.1, -x].
    func batchOfThree(_ x: Tensor) -> Tensor {
        let v = x.floats
        return Tensor(stackingBatchItems: [x, Tensor(shape: x.shape, floats: v.map { 0.5 * $0 + 0.1 }), Tensor(shape: x.shape, floats: v.map { -$0 })])
    }

    func testConvertedSamplesRunBatchesItemByItem() throws {
        var failures: [String] = []
        var checked = 0
        for sample in try Samples.all() {
            do {
                let path = folder.appendingPathComponent(sample.name + ".kite").path
                try Converter.convert(path: sample.modelPath, to: path)
                for threads in [1, 2] {
                    let session = try Session(path: path, options: SessionOptions(threads: threads))
                    guard session.runsAnyBatch else { failures.append("\(sample.name): does not run batches"); break }
                    var single: [String: Tensor] = [:], batch: [String: Tensor] = [:]
                    for name in sample.inputs.keys {
                        single[name] = try sample.input(name)
                        batch[name] = batchOfThree(try sample.input(name))
                    }
                    let outputs = try session.run(batch)
                    for item in 0..<3 {
                        let alone = try session.run(batch.mapValues { $0.batchItem(item) })
                        for (name, want) in alone where outputs[name]?.batchItem(item) != want {
                            failures.append("\(sample.name), \(threads) threads: item \(item) of '\(name)' differs from its own run")
                        }
                    }
                    for name in sample.outputs.keys {
                        let got = try XCTUnwrap(outputs[name], sample.name)
                        XCTAssertEqual(got.shape, [3] + (sample.outputs[name] ?? []).dropFirst(), sample.name)
                        if relativeError(got.batchItem(0), try sample.expected(name)) > 1e-4 {
                            failures.append("\(sample.name): item 0 differs from onnxruntime")
                        }
                    }
                }
                checked += 1
            } catch {
                failures.append("\(sample.name): \(error)")
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(checked, 13)
    }

    func testBatchErrors() throws {
        let sample = Samples.root + "/mobilenetv2_op13"
        let path = folder.appendingPathComponent("m.kite").path
        try Converter.convert(path: sample + "/model.onnx", to: path)
        let session = try Session(path: path)
        XCTAssertThrowsError(try session.run(["input": Tensor.zeros([2, 3, 96, 95])])) {
            XCTAssertTrue("\($0)".contains("any batch: [N, 3, 96, 96]"), "\($0)")
        }
        XCTAssertThrowsError(try session.run(["input": Tensor.zeros([0, 3, 96, 96])])) {
            XCTAssertTrue("\($0)".contains("has shape [0, 3, 96, 96]"), "\($0)")
        }
        // Opening with a batch sets the inputs a caller makes; other dims stay fixed.
        let four = try Session(path: path, options: SessionOptions(inputShapes: ["input": [4, 3, 96, 96]]))
        XCTAssertEqual(four.inputs.map(\.shape), [[4, 3, 96, 96]])
        XCTAssertEqual(four.graph.inputs.map(\.shape), [[1, 3, 96, 96]])
        XCTAssertThrowsError(try Session(path: path, options: SessionOptions(inputShapes: ["input": [4, 3, 64, 64]]))) {
            XCTAssertTrue("\($0)".contains("reconvert with --shape"), "\($0)")
        }
    }

    /// An ONNX model whose batch is fixed at 1 (exported without a dynamic batch) runs a batch
    /// asked of it item by item, as its converted graph does.
    func testFixedBatchModelRunsABatchItemByItem() throws {
        let sample = try XCTUnwrap(try Samples.all().first { $0.name == "mobilenetv1_op9" })
        let x = try sample.input("input")
        let session = try Session(path: sample.modelPath, options: SessionOptions(inputShapes: ["input": [3] + x.shape.dropFirst()]))
        XCTAssertEqual(session.inputs.map(\.shape), [[3] + x.shape.dropFirst()])
        XCTAssertEqual(session.graph.inputs.map(\.shape), [x.shape])
        let outputs = try session.run(["input": batchOfThree(x)])
        let got = try XCTUnwrap(outputs["output"])
        XCTAssertEqual(got.shape, [3, 10])
        XCTAssertLessThan(relativeError(got.batchItem(0), try sample.expected("output")), 1e-4)
        XCTAssertEqual(got.batchItem(2), try session.run(["input": batchOfThree(x).batchItem(2)])["output"])
        // Other dims stay as declared.
        XCTAssertThrowsError(try Session(path: sample.modelPath, options: SessionOptions(inputShapes: ["input": [3, 3, 64, 64]]))) {
            XCTAssertTrue("\($0)".contains("given shape [3, 3, 64, 64] contradicts the declared shape"), "\($0)")
        }
    }
}
