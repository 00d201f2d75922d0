import Foundation
import KiteCore
import KiteProfiler
import KiteRuntime
import XCTest

/// The reports agree with each other: JSON and CSV parse and add up to the table's totals, the trace has
/// one slice per op per run, the HTML page is self-contained. No assertion is about speed.
final class ReportTests: XCTestCase {
    static let runs = 3
    /// Profiled once for all tests (an 8x8 sample: milliseconds even on the reference path).
    static let profile: Profile = {
        let graph = sampleGraph(size: 8)
        let executor = try! Executor(graph: graph, threads: 2)
        var b = GraphBuilder(shape: [1])
        let input = Tensor(shape: graph.inputs[0].shape, floats: b.random(graph.inputs[0].shape.reduce(1, *)))
        let flops = ["/stem/Conv": 1000, "/stem/BatchNormalization": 0, "/stem/Clip": 250]
        return try! Profiler.profile(executor: executor, graph: graph, inputs: ["input": input], runs: runs, warmup: 1,
                                     machine: CostTests.machine, model: "sample", onnxNodeFLOPs: flops)
    }()

    func parseJSON(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// RFC 4180 parsing, enough for our own output.
    func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { row.append(field); field = "" }
            else if c == "\n" { row.append(field); rows.append(row); row = []; field = "" }
            else { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    func testProfileCoversEveryStep() {
        let p = Self.profile
        XCTAssertFalse(p.ops.isEmpty)
        XCTAssertEqual(p.ops.count + p.unscheduled.count, sampleGraph(size: 8).nodes.count)
        for op in p.ops {
            XCTAssertEqual(op.nanoseconds.count, Self.runs)
            XCTAssertEqual(op.startOffsets.count, Self.runs)
        }
        XCTAssertEqual(p.endToEndNanoseconds.count, Self.runs)
        XCTAssertEqual(p.timedRunNanoseconds.count, Self.runs)
        // Steps of one run do not overlap and come in run order.
        for run in 0..<Self.runs {
            for (a, b) in zip(p.ops, p.ops.dropFirst()) {
                XCTAssertLessThanOrEqual(a.startOffsets[run] + a.nanoseconds[run], b.startOffsets[run] + 1)
            }
        }
        XCTAssertEqual(p.totalNanoseconds, p.ops.reduce(0) { $0 + $1.medianNanoseconds }, accuracy: 1e-6)
    }

    func testJSONParsesAndAddsUp() throws {
        let p = Self.profile
        let json = try parseJSON(p.json())
        XCTAssertEqual(json["schema_version"] as? Int, Profile.schemaVersion)
        for key in ["total_ms", "ops", "by_type", "by_onnx_node", "end_to_end_ms", "machine", "totals", "guidelines"] {
            XCTAssertNotNil(json[key], "missing \(key)")
        }
        let machine = try XCTUnwrap(json["machine"] as? [String: Any])
        XCTAssertEqual(machine["peak_gflops"] as? Double, 100)
        XCTAssertEqual(machine["bandwidth_gbs"] as? Double, 10)
        let ops = try XCTUnwrap(json["ops"] as? [[String: Any]])
        XCTAssertEqual(ops.count, p.ops.count)
        for op in ops {
            for key in ["name", "type", "time_ms", "flops", "bytes", "kernel", "origin", "output_shape", "intensity", "gflops", "gbs", "bound"] {
                XCTAssertNotNil(op[key], "op entry without \(key)")
            }
        }
        let total = try XCTUnwrap(json["total_ms"] as? Double)
        XCTAssertEqual(ops.reduce(0) { $0 + ($1["time_ms"] as! Double) }, total, accuracy: 1e-5)
        let totals = try XCTUnwrap(json["totals"] as? [String: Any])
        XCTAssertEqual(ops.reduce(0) { $0 + ($1["flops"] as! Int) }, totals["flops"] as? Int)
        XCTAssertEqual(ops.reduce(0) { $0 + ($1["bytes"] as! Int) }, totals["bytes"] as? Int)
        XCTAssertEqual(totals["flops"] as? Int, p.totalCost.flops)
        let byType = try XCTUnwrap(json["by_type"] as? [[String: Any]])
        XCTAssertEqual(byType.reduce(0) { $0 + ($1["time_ms"] as! Double) }, total, accuracy: 1e-5)
        XCTAssertEqual(byType.reduce(0) { $0 + ($1["count"] as! Int) }, p.ops.count)
        XCTAssertEqual(byType.reduce(0) { $0 + ($1["flops"] as! Int) }, p.totalCost.flops)
        let byNode = try XCTUnwrap(json["by_onnx_node"] as? [[String: Any]])
        XCTAssertEqual(byNode.reduce(0) { $0 + ($1["time_ms"] as! Double) }, total, accuracy: 1e-5)
        // The table prints the same total.
        XCTAssertTrue(p.table().contains(String(format: "total     %.3f ms", total)), "table total differs from JSON total_ms")
    }

    func testCSVParsesAndAddsUp() throws {
        let p = Self.profile
        for groupBy in GroupBy.allCases {
            let rows = parseCSV(p.csv(groupBy: groupBy))
            let header = try XCTUnwrap(rows.first)
            XCTAssertEqual(Array(header.prefix(3)), ["name", "type", "kernel"])
            let body = rows.dropFirst()
            XCTAssertTrue(body.allSatisfy { $0.count == header.count }, "\(groupBy): ragged rows")
            let time = header.firstIndex(of: "time_ms")!, flops = header.firstIndex(of: "flops")!
            XCTAssertEqual(body.reduce(0) { $0 + Double($1[time])! }, p.totalNanoseconds / 1e6, accuracy: 1e-4, "\(groupBy)")
            if groupBy != .onnxNode {
                XCTAssertEqual(body.reduce(0) { $0 + Int($1[flops])! }, p.totalCost.flops, "\(groupBy)")
            }
            if groupBy == .op { XCTAssertEqual(body.count, p.ops.count) }
        }
    }

    func testTypeTableMatchesOpTotals() {
        let p = Self.profile
        let byType = p.rows(groupBy: .type)
        XCTAssertEqual(byType.reduce(0) { $0 + $1.share }, 1, accuracy: 1e-9)
        XCTAssertEqual(byType.first { $0.name == "Conv" }?.count, p.ops.filter { $0.type == "Conv" }.count)
        let table = p.table(groupBy: .type)
        XCTAssertTrue(table.contains("Conv"))
        XCTAssertTrue(table.contains("reconciliation"))
    }

    /// A fused op's numbers split across its ONNX nodes by their FLOPs: stem's origins have 1000, 0 and 250.
    func testONNXNodeSplitFollowsFLOPs() throws {
        let p = Self.profile
        let rows = Dictionary(uniqueKeysWithValues: p.rows(groupBy: .onnxNode).map { ($0.name, $0) })
        let stem = try XCTUnwrap(p.ops.first { $0.name == "stem" })
        let conv = try XCTUnwrap(rows["/stem/Conv"]), bn = try XCTUnwrap(rows["/stem/BatchNormalization"]), clip = try XCTUnwrap(rows["/stem/Clip"])
        XCTAssertEqual(conv.medianNanoseconds, stem.medianNanoseconds * 0.8, accuracy: 1e-6)
        XCTAssertEqual(bn.medianNanoseconds, 0)
        XCTAssertEqual(clip.flops, Double(stem.cost.flops) * 0.2, accuracy: 1e-6)
        // Origins with no FLOPs known split evenly.
        let b1 = try XCTUnwrap(p.ops.first { $0.name == "b1.expand" })
        XCTAssertEqual(rows["/b1/expand/Conv"]!.medianNanoseconds, b1.medianNanoseconds / 2, accuracy: 1e-6)
        XCTAssertEqual(rows["/b1/expand/Clip"]!.medianNanoseconds, b1.medianNanoseconds / 2, accuracy: 1e-6)
        XCTAssertEqual(rows["/b1/expand/Conv"]!.origin, ["b1.expand"])
    }

    /// Steps the planner made free (kernel "none" or "view") move nothing themselves.
    func testFreeStepsCostNothing() {
        for op in Self.profile.ops where OpProfile.freeKernels.contains(op.kernel) {
            XCTAssertTrue(op.isFree)
            XCTAssertEqual(op.cost, .zero, op.name)
        }
        for op in Self.profile.ops where !OpProfile.freeKernels.contains(op.kernel) { XCTAssertFalse(op.isFree) }
    }

    /// Each unfused node's FLOPs go to its origin nodes, shared evenly.
    func testOriginFLOPsOfAnUnfusedGraph() {
        let graph = sampleGraph(size: 8)
        let flops = Profiler.originFLOPs(of: graph)
        let stem = graph.nodes[0]
        let cost = stem.op.nativeOperator.cost(inputs: [graph.shapes["input"]!], outputs: [graph.shapes["stem"]!])
        XCTAssertEqual(flops["/stem/Conv"], cost.flops / 3)
        XCTAssertEqual(flops["/stem/Clip"], cost.flops / 3)
        XCTAssertEqual(flops["fire.squeeze"], graph.nodes.first { $0.name == "fire.squeeze" }!.op.nativeOperator
            .cost(inputs: [graph.shapes["b2.project"]!], outputs: [graph.shapes["fire.squeeze"]!]).flops)
        XCTAssertEqual(flops["flatten"], 0)
    }

    func testTraceHasOneSlicePerOpPerRun() throws {
        let p = Self.profile
        let trace = try parseJSON(p.chromeTrace())
        let events = try XCTUnwrap(trace["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(slices.count, p.ops.count * Self.runs)
        var perName: [String: Int] = [:]
        for s in slices {
            perName[s["name"] as! String, default: 0] += 1
            XCTAssertNotNil(s["ts"] as? Double ?? (s["ts"] as? Int).map(Double.init))
            XCTAssertGreaterThanOrEqual((s["dur"] as? NSNumber)?.doubleValue ?? -1, 0)
            XCTAssertNotNil(s["tid"])
            XCTAssertNotNil(s["pid"])
        }
        XCTAssertTrue(p.ops.allSatisfy { perName[$0.name] == Self.runs })
        let metadata = events.filter { $0["ph"] as? String == "M" }.compactMap { $0["name"] as? String }
        XCTAssertTrue(metadata.contains("process_name"))
        XCTAssertTrue(metadata.contains("thread_name"))
    }

    func testHTMLIsSelfContained() {
        let html = Self.profile.html()
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        for section in ["by-type", "timeline", "roofline", "guidelines", "ops"] {
            XCTAssertTrue(html.contains("<section id=\"\(section)\""), "missing section \(section)")
        }
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: "<svg").count - 1, 3)
        XCTAssertFalse(html.lowercased().contains("http"), "external reference")
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<link"))
        XCTAssertFalse(html.contains("src="))
        XCTAssertFalse(html.contains("@import"))
        for id in ["G1", "G2", "G3", "G4"] { XCTAssertTrue(html.contains(">\(id)<"), "missing \(id)") }
        XCTAssertTrue(html.contains("b1.expand"))
    }

    func testGuidelinesFlagTheExpectedOps() throws {
        let findings = Dictionary(uniqueKeysWithValues: Self.profile.guidelineFindings.map { ($0.id, $0) })
        // G1: 16->96, 96->24, 24->144 and 144->24 are 4:1 or more apart; 8->16 and 16->8... squeeze 24->8 is 3:1.
        XCTAssertEqual(Set(try XCTUnwrap(findings["G1"]).flagged), ["b1.expand", "b1.project", "b2.expand", "b2.project"])
        // G2: with balance 10 FLOP/B every group/depthwise conv here is below it.
        XCTAssertEqual(Set(try XCTUnwrap(findings["G2"]).flagged), ["b1.dw", "b2.dw", "gconv"])
        let g3 = try XCTUnwrap(findings["G3"])
        XCTAssertTrue(g3.verdict.contains("1 concat"))
        XCTAssertTrue(Set(g3.flagged).isSuperset(of: ["fire.concat", "shuffle"]))
        // G4: the element-wise and data-movement ops that ran a step (a reshape may be a free view).
        let expected = Set(["bn", "hswish", "add", "fire.concat", "shuffle", "flatten"]).filter { name in Self.profile.ops.contains { $0.name == name } }
        XCTAssertEqual(Set(try XCTUnwrap(findings["G4"]).flagged), expected)
    }

    func testMachineMeasurementIsCachedAndSane() {
        let m = Machine.measure(threads: 1)
        XCTAssertTrue(m.peakGFLOPS.isFinite && m.peakGFLOPS > 0)
        XCTAssertTrue(m.bandwidthGBs.isFinite && m.bandwidthGBs > 0)
        XCTAssertEqual(Machine.measure(threads: 1), m)
        XCTAssertEqual(m.balance, m.peakGFLOPS / m.bandwidthGBs, accuracy: 1e-9)
    }
}
