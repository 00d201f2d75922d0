import Foundation
import KiteCore
import KiteFormat
import XCTest

/// Runs the built `kite` executable as a user would and checks exit status and output.
final class CommandLineTests: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `kite` binary next to the test bundle (swift build puts products together).
    var kiteBinary: URL {
        var dir = Bundle(for: CommandLineTests.self).bundleURL
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("kite").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("kite")
    }

    func kite(_ args: String...) throws -> Result { try kite(args) }

    func kite(_ args: [String]) throws -> Result {
        let process = Process()
        process.executableURL = kiteBinary
        process.arguments = args
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    var folder: URL!
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: kiteBinary.path), "kite binary not built")
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("kite-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = folder.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// A failure is one line on stderr naming the file, exit status 1, nothing on stdout.
    func assertCleanFailure(_ r: Result, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected one line, got: \(r.stderr)", file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "'\(r.stderr)' should mention '\(m)'", file: file, line: line) }
        XCTAssertFalse(r.stderr.contains("Fatal error"), file: file, line: line)
    }

    func testBadModelFilesFailCleanly() throws {
        for command in ["inspect", "run", "convert", "profile", "bench"] {
            var extra: [String] = []
            if command == "convert" { extra = ["-o", folder.appendingPathComponent("x.kite").path] }
            let missing = try kite([command, folder.appendingPathComponent("missing.onnx").path] + extra)
            assertCleanFailure(missing, mentions: ["missing.onnx", "no such file"])
            let empty = try kite([command, file("empty.onnx", [])] + extra)
            assertCleanFailure(empty, mentions: ["empty.onnx", "empty"])
            let garbage = try kite([command, file("garbage.onnx", Array("hello, not protobuf".utf8) + [0xFF, 0xFF, 0xFF, 0xFF])] + extra)
            assertCleanFailure(garbage, mentions: ["garbage.onnx"])
            let dir = try kite([command, folder.path] + extra)
            assertCleanFailure(dir, mentions: ["directory"])
            let kiteGarbage = try kite([command, file("bad.kite", [0x08, 0x63, 0x12])] + extra)
            XCTAssertEqual(kiteGarbage.status, 1, command)
        }
    }

    /// A one-node .kite file whose input needs 2^40 floats (8 TB in and out): run and profile say
    /// so in one line instead of aborting in the allocator.
    func testModelNeedingMoreMemoryThanTheMachineFailsCleanly() throws {
        let shape = [1, 1 << 20, 1 << 10, 1 << 10]
        let graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: shape)], outputs: [ValueInfo(name: "y", shape: shape)],
                                nodes: [NativeNode(name: "relu", op: .activation(ActivationOp(.relu)), inputs: ["x"], outputs: ["y"])],
                                shapes: ["x": shape, "y": shape])
        let path = file("huge.kite", KiteFormat.encode(KiteModelFile(producer: "test", source: "test.onnx", graph: graph)))
        for command in ["run", "profile"] {
            let r = try kite(command, path)
            assertCleanFailure(r, mentions: ["kite: error: \(path): the model needs 8796.1 GB of activation memory, more than this machine's"])
            XCTAssertEqual(r.stdout, "")
        }
        // With --reference there is no arena: the random input is what would not fit.
        assertCleanFailure(try kite("run", path, "--reference"),
                           mentions: ["tensor 'x': the model needs 4398.0 GB of memory for a random input"])
        assertCleanFailure(try kite("convert", path), mentions: ["\(path): is already a .kite file; convert takes an ONNX model"])
    }

    /// Twelve activations of 32 MB each under a 400 MB address-space limit (`ulimit -v`): the fast
    /// path reuses two buffers and runs, the reference executor, which holds every value, says in
    /// one line that the values do not fit instead of aborting in the allocator.
    func testReferenceRunHoldingTooManyValuesFailsCleanly() throws {
        let shape = [1, 1, 2048, 4096]
        let names = ["x"] + (1...12).map { "v\($0)" }
        let nodes = (1...12).map { i in
            NativeNode(name: "act\(i)", op: .activation(ActivationOp(i % 2 == 0 ? .relu : .sigmoid)), inputs: [names[i - 1]], outputs: [names[i]])
        }
        let graph = NativeGraph(inputs: [ValueInfo(name: "x", shape: shape)], outputs: [ValueInfo(name: "v12", shape: shape)],
                                nodes: nodes, shapes: Dictionary(uniqueKeysWithValues: names.map { ($0, shape) }))
        let path = file("chain.kite", KiteFormat.encode(KiteModelFile(producer: "test", source: "test.onnx", graph: graph)))
        func limited(_ args: String) throws -> Result {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v 400000 && exec \"$0\" \(args)", kiteBinary.path]
            let err = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = err
            try process.run()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Result(status: process.terminationStatus, stdout: "", stderr: String(decoding: e, as: UTF8.self))
        }
        let fast = try limited("run \(path) --threads 1")
        XCTAssertEqual(fast.status, 0, fast.stderr)
        assertCleanFailure(try limited("run \(path) --reference"),
                           mentions: ["memory for the values the reference executor holds", "ulimit -v"])
    }

    /// `bench --floor`: the FLOPs are the profiler's total for the same graph, and the floor is
    /// those FLOPs at the measured peak.
    func testBenchReportsTheFlopFloor() throws {
        let model = Samples.root + "/mobilenetv1_op9/model.onnx"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model))
        let bench = try kite("bench", model, "--runs", "3", "--warmup", "1", "--threads", "1", "--floor", "--json")
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let profile = try kite("profile", model, "--runs", "1", "--warmup", "0", "--threads", "1", "--format", "json")
        XCTAssertEqual(profile.status, 0, profile.stderr)
        guard let b = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any],
              let p = try JSONSerialization.jsonObject(with: Data(profile.stdout.utf8)) as? [String: Any],
              let totals = p["totals"] as? [String: Any], let profiledFlops = totals["flops"] as? Int,
              let flops = b["flops"] as? Int, let peak = b["peak_gflops"] as? Double,
              let floor = b["floor_ms"] as? Double, let ratio = b["floor_ratio"] as? Double,
              let median = b["median_ms"] as? Double else {
            return XCTFail("missing fields in \(bench.stdout)")
        }
        XCTAssertEqual(flops, profiledFlops)
        XCTAssertGreaterThan(flops, 1_000_000)
        XCTAssertGreaterThan(peak, 1)
        XCTAssertEqual(floor, Double(flops) / (peak * 1e6), accuracy: 1e-9)
        XCTAssertEqual(ratio, median / floor, accuracy: 1e-9)
        // Without --floor no peak is measured.
        let plain = try kite("bench", model, "--runs", "1", "--warmup", "0", "--json")
        XCTAssertFalse(plain.stdout.contains("floor_ms"), plain.stdout)
        XCTAssertTrue(plain.stdout.contains("\"flops\""), plain.stdout)
    }

    func testRunRejectsBadInputs() throws {
        let model = Samples.root + "/mobilenetv1_op9/model.onnx"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model))
        let wrongShape = folder.appendingPathComponent("wrong.npy").path
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 5, 5), }"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let padded = header + String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        bytes += [UInt8(padded.utf8.count & 0xFF), UInt8(padded.utf8.count >> 8)] + Array(padded.utf8) + [UInt8](repeating: 0, count: 75 * 4)
        FileManager.default.createFile(atPath: wrongShape, contents: Data(bytes))
        // A tensor of the wrong shape for a fixed-size input.
        assertCleanFailure(try kite("run", model, "--input", "input=\(wrongShape)", "--shape", "input=1x3x64x64"), mentions: ["input"])
        assertCleanFailure(try kite("run", model, "--input", "nosuch=\(wrongShape)"), mentions: ["nosuch"])
        assertCleanFailure(try kite("run", model, "--input", "input=\(file("bad.npy", [1, 2, 3]))"), mentions: ["bad.npy"])
    }

    /// Paths that cannot be written or read as files: one line naming the path and what is wrong
    /// with it, not Foundation's error text ("NSCocoaErrorDomain error 512").
    func testUnusablePathsFailCleanly() throws {
        let model = Samples.root + "/mobilenetv1_op9/model.onnx"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model))
        let plainFile = file("plain.txt", [1])
        assertCleanFailure(try kite("run", model, "--output-dir", plainFile), mentions: ["plain.txt", "not a directory"])
        assertCleanFailure(try kite("convert", model, "-o", ""), mentions: ["no file name given"])
        assertCleanFailure(try kite("convert", model, "-o", folder.path), mentions: [folder.lastPathComponent, "is a directory"])
        let missingDir = folder.appendingPathComponent("nowhere/m.kite").path
        assertCleanFailure(try kite("convert", model, "-o", missingDir), mentions: ["m.kite", "does not exist"])
        assertCleanFailure(try kite("inspect", "/dev/null"), mentions: ["/dev/null", "not a regular file"])
    }

    func testRunWritesOutputsAndTopFive() throws {
        let sample = Samples.root + "/mobilenetv2_op13"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: sample + "/model.onnx"))
        let out = folder.appendingPathComponent("out").path
        let r = try kite("run", sample + "/model.onnx", "--input", "input=\(sample)/inputs/input.npy", "--output-dir", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("#1"), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/output.npy"))
    }

    /// `kite run` on a .kite file converted at batch 1 takes a batch of N, item by item; `bench`
    /// times the batch and counts its FLOPs; `profile` times every item's steps and counts the batch's costs.
    func testConvertedGraphTakesABatch() throws {
        let sample = Samples.root + "/mobilenetv2_op13"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: sample + "/model.onnx"))
        let model = folder.appendingPathComponent("m.kite").path
        let converted = try kite("convert", sample + "/model.onnx", "-o", model)
        XCTAssertEqual(converted.status, 0)
        XCTAssertTrue(converted.stdout.contains("batch:  any, item by item"), converted.stdout)
        XCTAssertTrue(try kite("inspect", model).stdout.contains("batch:        any"))
        XCTAssertTrue(try kite("inspect", model, "--json").stdout.contains("\"runs_any_batch\" : true"))
        let x = try NPY.read(path: sample + "/inputs/input.npy").tensor
        let batch = folder.appendingPathComponent("batch.npy").path
        try NPY.write(Tensor(stackingBatchItems: [x, x]), path: batch)
        let out = folder.appendingPathComponent("out").path
        let r = try kite("run", model, "--input", "input=\(batch)", "--output-dir", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("output output: 2x10") && r.stdout.contains("item 1"), r.stdout)
        let y = try NPY.read(path: out + "/output.npy").tensor
        XCTAssertEqual(y.batchItem(0), y.batchItem(1))
        XCTAssertLessThan(relativeError(y.batchItem(0), try NPY.read(path: sample + "/outputs/output.npy").tensor), 1e-4)
        func flops(_ args: String...) throws -> Double {
            let b = try kite(["bench", model, "--runs", "1", "--warmup", "0", "--json"] + args)
            let object = try JSONSerialization.jsonObject(with: Data(b.stdout.utf8)) as? [String: Any]
            return try XCTUnwrap(object?["flops"] as? Double, b.stdout + b.stderr)
        }
        XCTAssertEqual(try flops("--shape", "input=3x3x96x96"), 3 * (try flops()))
        let text = try kite("bench", model, "--runs", "1", "--warmup", "0", "--shape", "input=3x3x96x96").stdout
        XCTAssertTrue(text.contains("batch    3, item by item"), text)
        // `profile` runs every item of the batch in each run: the batch's FLOPs and shapes, its steps' summed times.
        func profile(_ args: String...) throws -> [String: Any] {
            let p = try kite(["profile", model, "--runs", "2", "--warmup", "0", "--format", "json"] + args)
            XCTAssertEqual(p.status, 0, p.stderr)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any], p.stdout + p.stderr)
        }
        let one = try profile(), three = try profile("--shape", "input=3x3x96x96")
        XCTAssertEqual(one["batch_items"] as? Int, 1)
        XCTAssertEqual(three["batch_items"] as? Int, 3)
        func totals(_ p: [String: Any]) -> [String: Int] { (p["totals"] as? [String: Any] ?? [:]).compactMapValues { $0 as? Int } }
        for key in ["flops", "weight_bytes_read", "bytes_written"] {
            XCTAssertEqual(totals(three)[key], totals(one)[key].map { 3 * $0 }, key)
        }
        XCTAssertEqual(totals(three)["flops"].map(Double.init), try flops("--shape", "input=3x3x96x96"))
        let firstOp = try XCTUnwrap((three["ops"] as? [[String: Any]])?.first)
        XCTAssertEqual((firstOp["output_shape"] as? [[Int]])?.first?.first, 3, "\(firstOp)")
        let table = try kite("profile", model, "--runs", "1", "--warmup", "0", "--shape", "input=2x3x96x96")
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("batch 2 item by item") && table.stdout.contains("2x8x48x48"), table.stdout)
    }
}
