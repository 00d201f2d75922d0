import Foundation
import Kite
import KiteCore
import KiteFormat
import XCTest

/// Every sample, as real exporters write it, matches onnxruntime: ONNX opened directly,
/// converted to .kite and reloaded, at 1 and 2 threads.
final class SampleAccuracyTests: XCTestCase {
    func testSamplesMatchOnnxruntime() throws {
        let samples = try Samples.all()
        XCTAssertGreaterThanOrEqual(samples.count, 13, "the thirteen networks must ship as samples")
        var failures: [String] = []
        for sample in samples {
            do {
                var inputs: [String: Tensor] = [:]
                for name in sample.inputs.keys { inputs[name] = try sample.input(name) }
                let onnx1 = try Session(path: sample.modelPath, options: SessionOptions(threads: 1))
                let onnx2 = try Session(path: sample.modelPath, options: SessionOptions(threads: 2))
                let out1 = try onnx1.run(inputs)
                let out2 = try onnx2.run(inputs)
                for name in sample.outputs.keys {
                    let want = try sample.expected(name)
                    guard let got1 = out1[name], let got2 = out2[name] else { failures.append("\(sample.name): no output \(name)"); continue }
                    XCTAssertEqual(got1.shape, want.shape, sample.name)
                    let e1 = relativeError(got1, want)
                    let e2 = relativeError(got2, want)
                    if e1 > 1e-4 || e2 > 1e-4 { failures.append("\(sample.name): error \(e1) (1 thread), \(e2) (2 threads)") }
                    if relativeError(got1, got2) > 1e-5 { failures.append("\(sample.name): 1 and 2 threads disagree") }
                }
            } catch {
                failures.append("\(sample.name): \(error)")
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    /// The activation arena of every sample stays within 1.2x the lower bound (the largest set of
    /// buffers alive at once), at 1 and 2 threads.
    func testActivationArenasStayNearTheLowerBound() throws {
        for sample in try Samples.all() {
            for threads in [1, 2] {
                let session = try Session(path: sample.modelPath, options: SessionOptions(threads: threads))
                let executor = try XCTUnwrap(session.executor, sample.name)
                XCTAssertGreaterThanOrEqual(executor.arenaBytes, executor.arenaLowerBound, sample.name)
                XCTAssertLessThanOrEqual(Double(executor.arenaBytes), 1.2 * Double(executor.arenaLowerBound),
                                         "\(sample.name) at \(threads) threads: arena \(executor.arenaBytes), bound \(executor.arenaLowerBound)")
            }
        }
    }

    func testConvertedSamplesMatchUnconverted() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kite-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var failures: [String] = []
        for sample in try Samples.all() {
            do {
                var inputs: [String: Tensor] = [:]
                for name in sample.inputs.keys { inputs[name] = try sample.input(name) }
                let path = folder.appendingPathComponent(sample.name + ".kite").path
                let report = try Converter.convert(path: sample.modelPath, to: path)
                let again = folder.appendingPathComponent(sample.name + "-2.kite").path
                _ = try Converter.convert(path: sample.modelPath, to: again)
                if FileManager.default.contents(atPath: path) != FileManager.default.contents(atPath: again) {
                    failures.append("\(sample.name): converting twice gave different bytes")
                }
                XCTAssertLessThanOrEqual(report.nodesAfter, report.nodesBefore, sample.name)
                let plain = try Session(path: sample.modelPath, options: SessionOptions(optimize: false, threads: 1, useReferenceExecutor: true))
                let converted = try Session(path: path, options: SessionOptions(threads: 1))
                let a = try plain.run(inputs)
                let b = try converted.run(inputs)
                for name in sample.outputs.keys {
                    guard let x = a[name], let y = b[name] else { failures.append("\(sample.name): missing \(name)"); continue }
                    let e = relativeError(y, x)
                    if e > 1e-5 { failures.append("\(sample.name): converted differs from unconverted by \(e)") }
                    let want = try sample.expected(name)
                    if relativeError(y, want) > 1e-4 { failures.append("\(sample.name): converted differs from onnxruntime") }
                }
            } catch {
                failures.append("\(sample.name): \(error)")
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    /// Converted MobileNet, ShuffleNet, IGC and ResNeXt samples keep no BatchNorm (ScaleShift),
    /// no standalone Clip/ReLU, no Identity/Dropout and no Reshape-Transpose-Reshape shuffle.
    func testConvertedGraphsAreFused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kite-fused-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let families = ["mobilenet", "shufflenet", "igc", "resnext"]
        var checked = 0
        for sample in try Samples.all() where families.contains(where: { sample.name.hasPrefix($0) }) {
            let path = folder.appendingPathComponent(sample.name + ".kite").path
            try Converter.convert(path: sample.modelPath, to: path)
            let graph = try KiteFormat.read(path: path).graph
            let leftovers = graph.nodes.map(\.op.typeName).filter { ["ScaleShift", "Activation", "Reshape", "Transpose"].contains($0) }
            XCTAssertEqual(leftovers, [], "\(sample.name) keeps unfused ops")
            if sample.name.hasPrefix("shufflenet") || sample.name.hasPrefix("igc") {
                XCTAssertTrue(graph.nodes.contains { $0.op.typeName == "ChannelShuffle" }, "\(sample.name): shuffle not recognised")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 10)
    }

    func testInspectAgreesWithOnnxPackage() throws {
        for sample in try Samples.all() {
            let summary = try inspectModel(path: sample.modelPath)
            XCTAssertEqual(summary.nodeCount, sample.nodes, sample.name)
            XCTAssertEqual(summary.parameterCount, sample.parameters, sample.name)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: summary.ops.map { ($0.op, $0.count) }), sample.ops, sample.name)
        }
    }
}
