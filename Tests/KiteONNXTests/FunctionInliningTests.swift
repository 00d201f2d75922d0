import KiteCore
@testable import KiteONNX
import XCTest

/// Model-local functions (inlined before lowering) and `If` with a condition known when
/// converting (the taken branch lowered in its place), as PyTorch's dynamo exporter writes them.
final class FunctionInliningTests: XCTestCase {
    func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "",
              _ attributes: [(String, ONNXAttribute)] = []) -> ONNXNode {
        ONNXNode(name: name, opType: op, domain: domain, inputs: inputs, outputs: outputs,
                 attributes: Dictionary(uniqueKeysWithValues: attributes), attributeOrder: attributes.map(\.0))
    }

    func function(_ name: String, domain: String = "lib", inputs: [String], outputs: [String], attributes: [String] = [],
                  defaults: [String: ONNXAttribute] = [:], _ nodes: [ONNXNode]) -> ONNXFunction {
        ONNXFunction(name: name, domain: domain, overload: "", inputs: inputs, outputs: outputs,
                     attributeNames: attributes + Array(defaults.keys), attributeDefaults: defaults, nodes: nodes,
                     opsetImports: [(domain: "", version: 18)])
    }

    /// `scaled_relu(x) = relu_fn(x * alpha)`: a reference with a default, and a nested call.
    var scaledRelu: [ONNXFunction] {
        [function("scaled_relu", inputs: ["x"], outputs: ["y"], defaults: ["alpha": .float(2)], [
            node("Constant", [], ["a"], [("value_float", .reference("alpha"))]),
            node("Mul", ["x", "a"], ["m"]),
            node("relu_fn", ["m"], ["y"], domain: "lib"),
         ]),
         function("relu_fn", inputs: ["v"], outputs: ["r"], [node("Relu", ["v"], ["r"])])]
    }

    func testCallsTakeTheirAttributeOrTheDefaultAndNestedCallsAreInlined() throws {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 2, 2, 2])
        m.node("scaled_relu", ["x"], ["three"], name: "call_three", domain: "lib", ["alpha": .float(3)])
        m.node("scaled_relu", ["x"], ["two"], name: "call_default", domain: "lib")
        m.output("three")
        m.output("two")
        var model = m.model
        model.functions = scaledRelu
        let graph = try Lowering.lower(model)
        let x = ramp([1, 2, 2, 2], start: -4)
        let out = try runReference(graph, ["x": x])
        assertTensor(out["three"], [1, 2, 2, 2], x.floats.map { max(0, $0 * 3) })
        assertTensor(out["two"], [1, 2, 2, 2], x.floats.map { max(0, $0 * 2) })
        // Values of the two calls are renamed under their callers, so they never clash.
        XCTAssertTrue(graph.nodes.contains { $0.name.hasPrefix("call_three/") }, "\(graph.nodes.map(\.name))")
        XCTAssertTrue(graph.nodes.contains { $0.name.hasPrefix("call_default/") }, "\(graph.nodes.map(\.name))")
    }

    func testAReferenceWithNeitherValueNorDefaultLeavesTheAttributeOut() throws {
        // Clip's bounds are inputs from opset 11; `min` left out means no lower bound.
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 4])
        m.node("clamp", ["x", "", "hi"], ["y"], name: "c", domain: "lib")
        m.weight("hi", [], [1.5])
        m.output("y")
        var model = m.model
        model.functions = [function("clamp", inputs: ["x", "lo", "hi"], outputs: ["y"], attributes: ["unused"], [
            node("Clip", ["x", "lo", "hi"], ["y"], [("ignored", .reference("unused"))]),
        ])]
        let out = try runReference(try Lowering.lower(model), ["x": Tensor(shape: [1, 4], floats: [-3, 0.5, 1.5, 4])])
        assertTensor(out["y"], [1, 4], [-3, 0.5, 1.5, 1.5])
    }

    func testRecursiveFunctionsAreRefusedNotFollowed() {
        for pair in [false, true] {
            var m = ModelBuilder(opset: 18)
            m.input("x", [1, 2])
            m.node("f", ["x"], ["y"], name: "outer", domain: "lib")
            m.output("y")
            var model = m.model
            model.functions = [function("f", inputs: ["a"], outputs: ["b"], [node(pair ? "g" : "f", ["a"], ["b"], domain: "lib")]),
                               function("g", inputs: ["a"], outputs: ["b"], [node("f", ["a"], ["b"], domain: "lib")])]
            guard let e = lowerError({ try Lowering.lower(model) }) else { return }
            XCTAssertTrue(e.description.contains("calls itself"), e.description)
            XCTAssertTrue(e.description.contains("test.onnx"), e.description)
        }
    }

    func testCallsThatDoubleAtEachLevelAreRefusedBeforeTheyAreBuilt() {
        // f0 is a Relu, f(k) calls f(k-1) twice: f40 would inline to 2^40 nodes.
        var functions = [function("f0", inputs: ["a"], outputs: ["b"], [node("Relu", ["a"], ["b"])])]
        for k in 1...40 {
            functions.append(function("f\(k)", inputs: ["a"], outputs: ["b"], [
                node("f\(k - 1)", ["a"], ["m"], domain: "lib"), node("f\(k - 1)", ["m"], ["b"], domain: "lib"),
            ]))
        }
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 2])
        m.node("f40", ["x"], ["y"], name: "outer", domain: "lib")
        m.output("y")
        var model = m.model
        model.functions = functions
        guard let e = lowerError({ try Lowering.lower(model) }) else { return }
        XCTAssertTrue(e.description.contains("more than \(FunctionInlining.maximumNodes) nodes"), e.description)
        // Ten levels (1,024 Relus) inline and run.
        model.graph.nodes[0].opType = "f10"
        XCTAssertNoThrow(XCTAssertEqual(try Lowering.lower(model).nodes.count, 1024))
    }

    func testABodyReadingAnUndefinedValueNamesTheFunction() {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 2])
        m.node("f", ["x"], ["y"], name: "outer", domain: "lib")
        m.output("y")
        var model = m.model
        model.functions = [function("f", inputs: ["a"], outputs: ["b"], [node("Add", ["a", "ghost"], ["b"])])]
        guard let e = lowerError({ try Lowering.lower(model) }) else { return }
        XCTAssertTrue(e.description.contains("function 'f'"), e.description)
        XCTAssertTrue(e.description.contains("'ghost'"), e.description)
    }

    func testACallWithMoreInputsThanTheFunctionIsInvalid() {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 2])
        m.node("f", ["x", "x"], ["y"], name: "outer", domain: "lib")
        m.output("y")
        var model = m.model
        model.functions = [function("f", inputs: ["a"], outputs: ["b"], [node("Relu", ["a"], ["b"])])]
        guard let e = lowerError({ try Lowering.lower(model) }) else { return }
        XCTAssertTrue(e.description.contains("node 'outer'"), e.description)
        XCTAssertTrue(e.description.contains("2 inputs"), e.description)
    }

    // MARK: If

    /// `If(rank(x) != rank(w))`, as the dynamo exporter guards a convolution: then adds a
    /// batch dimension, else passes `x` through; each branch reads `x` from around it.
    func rankGuard(_ m: inout ModelBuilder, input: String, output: String) {
        m.node("Shape", [input], ["\(output)_s0"])
        m.node("Size", ["\(output)_s0"], ["\(output)_r0"])
        m.node("Shape", ["w"], ["\(output)_s1"])
        m.node("Size", ["\(output)_s1"], ["\(output)_r1"])
        m.node("Equal", ["\(output)_r0", "\(output)_r1"], ["\(output)_eq"])
        m.node("Not", ["\(output)_eq"], ["\(output)_cond"])
        let thenBranch = ONNXGraph(name: "then", nodes: [
            node("Constant", [], ["axes"], [("value_ints", .ints([0]))]),
            node("Unsqueeze", [input, "axes"], ["t"]),
        ], initializers: [], inputs: [], outputs: [ONNXValueInfo(name: "t", elementType: .float, dims: nil)], valueInfo: [])
        let elseBranch = ONNXGraph(name: "else", nodes: [node("Identity", [input], ["e"])], initializers: [], inputs: [],
                                   outputs: [ONNXValueInfo(name: "e", elementType: .float, dims: nil)], valueInfo: [])
        m.node("If", ["\(output)_cond"], [output], name: "guard_\(output)",
               ["then_branch": .graph(thenBranch), "else_branch": .graph(elseBranch)])
    }

    func testIfTakesTheBranchItsShapeConditionSelects() throws {
        for rank3 in [false, true] {
            var m = ModelBuilder(opset: 18)
            m.input("x", rank3 ? [2, 3, 3] : [1, 2, 3, 3])
            m.weight("w", [2, 2, 1, 1], [1, 0, 0, 1])   // identity 1x1 convolution
            rankGuard(&m, input: "x", output: "xb")
            m.node("Conv", ["xb", "w"], ["y"])
            m.output("y")
            let graph = try m.lower()
            XCTAssertFalse(graph.nodes.contains { $0.op.typeName == "If" })
            let x = ramp(rank3 ? [2, 3, 3] : [1, 2, 3, 3], start: -5)
            let out = try runReference(graph, ["x": x])
            assertTensor(out["y"], [1, 2, 3, 3], x.floats)
        }
    }

    func testBranchValuesDoNotClashAcrossTwoIfs() throws {
        // Both Ifs' branches name their values "axes", "t" and "e".
        var m = ModelBuilder(opset: 18)
        m.input("x", [2, 3, 3])
        m.weight("w", [2, 2, 1, 1], [2, 0, 0, 2])
        rankGuard(&m, input: "x", output: "a")
        m.node("Conv", ["a", "w"], ["c"])
        m.node("Squeeze", ["c", "zero"], ["c3"])
        m.ints("zero", [0])
        rankGuard(&m, input: "c3", output: "b")
        m.node("Conv", ["b", "w"], ["y"])
        m.output("y")
        let x = ramp([2, 3, 3], start: -5)
        let out = try runReference(try m.lower(), ["x": x])
        assertTensor(out["y"], [1, 2, 3, 3], x.floats.map { $0 * 4 })
    }

    func testABranchMayReturnAnOuterValueAndNest() throws {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1, 3])
        m.node("Relu", ["x"], ["r"])
        m.weight("yes", [], [1])
        let inner = ONNXGraph(name: "inner", nodes: [node("Neg", ["r"], ["n"])], initializers: [], inputs: [],
                              outputs: [ONNXValueInfo(name: "n", elementType: .float, dims: nil)], valueInfo: [])
        let passThrough = ONNXGraph(name: "outer_else", nodes: [], initializers: [], inputs: [],
                                    outputs: [ONNXValueInfo(name: "r", elementType: .float, dims: nil)], valueInfo: [])
        let nested = ONNXGraph(name: "outer_then", nodes: [
            node("If", ["yes"], ["n2"], [("then_branch", .graph(inner)), ("else_branch", .graph(passThrough))]),
        ], initializers: [], inputs: [], outputs: [ONNXValueInfo(name: "n2", elementType: .float, dims: nil)], valueInfo: [])
        m.node("If", ["yes"], ["y"], name: "outer_if", ["then_branch": .graph(nested), "else_branch": .graph(passThrough)])
        m.node("If", ["no"], ["z"], name: "pass_if", ["then_branch": .graph(nested), "else_branch": .graph(passThrough)])
        m.initializers.append((name: "no", tensor: Tensor(elementType: .bool, shape: [], storage: .ints([0]))))
        m.output("y")
        m.output("z")
        let out = try runReference(try m.lower(), ["x": Tensor(shape: [1, 3], floats: [-1, 2, 3])])
        assertTensor(out["y"], [1, 3], [0, -2, -3])
        assertTensor(out["z"], [1, 3], [0, 2, 3])
    }

    func testIfOnARuntimeConditionIsUnsupportedWithAReason() {
        var m = ModelBuilder(opset: 18)
        m.input("x", [1])
        m.node("Greater", ["x", "zero"], ["cond"])
        m.weight("zero", [1], [0])
        let branch = ONNXGraph(name: "b", nodes: [node("Identity", ["x"], ["o"])], initializers: [], inputs: [],
                               outputs: [ONNXValueInfo(name: "o", elementType: .float, dims: nil)], valueInfo: [])
        m.node("If", ["cond"], ["y"], name: "dynamic_if", ["then_branch": .graph(branch), "else_branch": .graph(branch)])
        m.output("y")
        guard case .unsupported(let nodes)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(nodes.map(\.context.node), ["dynamic_if"])
        XCTAssertTrue(nodes[0].reason.contains("computed at runtime"), nodes[0].reason)
    }

    // MARK: The sample as the loader reads it

    func testLoaderReadsFunctionsAndAttributeReferences() throws {
        let path = LoweringSamplesTests.samplesRoot
            .appendingPathComponent("mobilenetv2_op18_functions/model.onnx").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("sample not generated") }
        let model = try ONNXLoader.load(path: path)
        XCTAssertTrue(model.graph.nodes.contains { $0.domain == "pkg.onnxscript.torch_lib" })
        guard let conv = model.functions.first(where: { $0.name == "_aten_convolution_onnx" }) else {
            return XCTFail("no _aten_convolution_onnx among \(model.functions.map(\.name))")
        }
        XCTAssertEqual(conv.inputs, ["input", "weight", "bias"])
        guard case .reference(let target)? = conv.nodes.first(where: { $0.opType == "Conv" })?.attributes["group"] else {
            return XCTFail("Conv's group is not a reference")
        }
        XCTAssertEqual(target, "groups")
        guard let add = model.functions.first(where: { $0.name == "aten_add" }), case .float(let alpha)? = add.attributeDefaults["alpha"] else {
            return XCTFail("aten_add has no default alpha")
        }
        XCTAssertEqual(alpha, 1)
        XCTAssertEqual(model.graph.nodes.filter { $0.opType == "If" }.count, 0)
        let lowered = try Lowering.lower(model)
        XCTAssertEqual(lowered.nodes.filter { $0.op.typeName == "Conv" }.count, 34)
    }
}
