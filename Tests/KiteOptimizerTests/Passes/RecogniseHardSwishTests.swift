import KiteCore
@testable import KiteOptimizer
import XCTest

final class RecogniseHardSwishTests: XCTestCase {
    let pass = RecogniseHardSwish()
    let three = Tensor(shape: [1], floats: [3])
    let six = Tensor(shape: [], floats: [6])
    let sixth = Tensor(shape: [1], floats: [0.16666667])

    /// Builds hardswish(x) in one exporter style and checks it becomes one ActivationOp.
    func check(_ name: String, fusedAdd: Bool = false, _ build: (inout GraphBuilder, String, String) -> String,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var b = GraphBuilder(input: [1, 4, 3, 3])
        let x = b.conv("x", out: 4, name: "conv")
        let relu6: String
        if fusedAdd {
            relu6 = b.binary(.add, x, constant: three, activation: .clip(min: 0, max: 6), name: "add3")
        } else {
            relu6 = b.act(b.binary(.add, x, constant: three, onLeft: true, name: "add3"), .clip(min: 0, max: 6), name: "clip")
        }
        let y = build(&b, x, relu6)
        b.output(y)
        let (g, report) = try optimize(&b, [pass], file: file, line: line)
        XCTAssertEqual(kinds(g), ["conv", "activation"], name, file: file, line: line)
        guard case .activation(let a) = g.nodes[1].op else { return XCTFail(name, file: file, line: line) }
        XCTAssertEqual(a.activation, .hardSwish, file: file, line: line)
        XCTAssertEqual(g.nodes[1].inputs, [x], file: file, line: line)
        XCTAssertEqual(g.nodes[1].outputs, [y], file: file, line: line)
        XCTAssertEqual(g.nodes[1].origin.first, "add3", file: file, line: line)
        XCTAssertEqual(report.rewrites(of: pass.name), 1, file: file, line: line)

        // ... and then fuses into the convolution.
        var h = g
        _ = try FuseActivation().apply(&h)
        XCTAssertEqual(kinds(h), ["conv"], file: file, line: line)
        XCTAssertEqual(h.conv(0)?.activation, .hardSwish, file: file, line: line)
    }

    func testClipVariants() throws {
        try check("(x * r) / 6") { b, x, r in b.binary(.div, b.binary(.mul, x, r), constant: six) }
        try check("(r * x) * 1/6") { b, x, r in b.binary(.mul, b.binary(.mul, r, x), constant: sixth) }
        try check("1/6 * (x * r)") { b, x, r in b.binary(.mul, b.binary(.mul, x, r), constant: sixth, onLeft: true) }
        try check("x * (r / 6)") { b, x, r in b.binary(.mul, x, b.binary(.div, r, constant: six)) }
        try check("(r * 1/6) * x") { b, x, r in b.binary(.mul, b.binary(.mul, r, constant: sixth), x) }
        try check("add with fused ReLU6", fusedAdd: true) { b, x, r in b.binary(.div, b.binary(.mul, x, r), constant: six) }
    }

    func testHardSigmoidVariants() throws {
        for swapped in [false, true] {
            var b = GraphBuilder(input: [1, 4, 3, 3])
            let x = b.conv("x", out: 4)
            let h = b.act(x, .hardSigmoid(alpha: 0.16666667, beta: 0.5))
            b.output(swapped ? b.binary(.mul, h, x) : b.binary(.mul, x, h))
            let (g, _) = try optimize(&b, [pass])
            XCTAssertEqual(kinds(g), ["conv", "activation"])
        }
    }

    func testLeavesLookalikes() throws {
        var b = GraphBuilder(inputs: ["x": [1, 4, 3, 3], "z": [1, 4, 3, 3]])
        // HardSigmoid with ONNX's default alpha 0.2 is not 1/6.
        let o1 = b.binary(.mul, "x", b.act("x", .hardSigmoid(alpha: 0.2, beta: 0.5)))
        // The multiply takes another value than the clip's input.
        let r = b.act(b.binary(.add, "x", constant: three), .clip(min: 0, max: 6))
        let o2 = b.binary(.div, b.binary(.mul, "z", r), constant: six)
        // Plus 2, not 3.
        let r3 = b.act(b.binary(.add, "x", constant: Tensor(shape: [1], floats: [2])), .clip(min: 0, max: 6))
        let o3 = b.binary(.div, b.binary(.mul, "x", r3), constant: six)
        // The hardsigmoid is also read elsewhere (SE gate reused).
        let h = b.act("x", .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        let o4 = b.binary(.mul, "x", h)
        b.output(o1, o2, o3, o4, h)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
