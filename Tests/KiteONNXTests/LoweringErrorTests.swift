import KiteCore
@testable import KiteONNX
import XCTest

/// Input shapes, unsupported nodes and invalid models: errors name the file,
/// the node and the op, and every unsupported node is listed at once.
final class LoweringErrorTests: XCTestCase {
    func symbolicModel() -> ModelBuilder {
        var m = ModelBuilder(opset: 13)
        m.input("x", ["batch", 3, "", 2])
        m.node("Relu", ["x"], ["y"])
        m.output("y")
        return m
    }

    func testSymbolicBatchTakesTheGivenShape() throws {
        let m = symbolicModel()
        let given = try Lowering.lowerWithNotes(m.model, inputShapes: ["x": [4, 3, 5, 2]])
        XCTAssertEqual(given.graph.inputs, [ValueInfo(name: "x", shape: [4, 3, 5, 2])])
        XCTAssertEqual(given.graph.outputs, [ValueInfo(name: "y", shape: [4, 3, 5, 2])])
        XCTAssertEqual(given.notes, [])
        let out = try runReference(given.graph, ["x": ramp([4, 3, 5, 2], start: -60)])
        XCTAssertEqual(out["y"]?.shape, [4, 3, 5, 2])
    }

    func testFreeBatchDefaultsToOneWithANoteAndFreeImageDimsMustBeGiven() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", ["batch", 3, 4, 2])
        m.node("Relu", ["x"], ["y"])
        m.output("y")
        let result = try Lowering.lowerWithNotes(m.model)
        XCTAssertEqual(result.graph.inputs, [ValueInfo(name: "x", shape: [1, 3, 4, 2])])
        XCTAssertEqual(result.notes, ["input 'x': dim 'batch' set to 1"])

        // An unknown dim 2 (and a named one): a 1x1 default would plan another network.
        guard let e = lowerError({ try symbolicModel().lower() }) else { return }
        XCTAssertTrue(e.description.contains("test.onnx: input 'x' has free dims [batch, 3, ?, 2]"), e.description)
        XCTAssertTrue(e.description.contains("give the size of dim 2 with --shape x=1x3x<dim2>x2"), e.description)
        m = ModelBuilder(opset: 13)
        m.input("x", [1, 3, "h", "w"])
        m.node("Relu", ["x"], ["y"])
        m.output("y")
        guard let named = lowerError({ try m.lower() }) else { return }
        XCTAssertTrue(named.description.contains("dims 'h', 'w' with --shape x=1x3x<h>x<w>"), named.description)
        XCTAssertEqual(try m.lower(["x": [1, 3, 5, 7]]).inputs, [ValueInfo(name: "x", shape: [1, 3, 5, 7])])
    }

    func testGivenShapeContradictingAFixedDimNamesTheInput() {
        let m = symbolicModel()
        guard let e = lowerError({ try m.lower(["x": [1, 4, 5, 2]]) }) else { return }
        XCTAssertTrue(e.description.contains("input 'x'"), e.description)
        XCTAssertTrue(e.description.contains("test.onnx"), e.description)
        guard let r = lowerError({ try m.lower(["x": [1, 3, 2]]) }) else { return }
        XCTAssertTrue(r.description.contains("rank"), r.description)
        guard let u = lowerError({ try m.lower(["nope": [1]]) }) else { return }
        XCTAssertTrue(u.description.contains("'nope'"), u.description)
    }

    func testUnsupportedErrorListsEveryOffendingNode() throws {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2, 4, 4])
        m.input("w", [2, 2, 1, 1])
        m.node("FancyOp", ["x"], ["a"], name: "fancy")
        m.node("Relu", ["a"], ["a_relu"], name: "after_fancy")          // downstream: not listed
        m.node("Custom", ["x"], ["b"], name: "custom", domain: "com.example")
        m.node("Conv", ["x", "w"], ["c"], name: "conv_runtime_weight")
        m.input("p", [8])
        m.node("Pad", ["x", "p"], ["d"], name: "runtime_pads")                  // pads computed at runtime
        m.node("Cast", ["x"], ["e"], name: "to_string", ["to": int(8)])
        m.node("Relu", ["x"], ["fine"], name: "fine")
        for o in ["a_relu", "b", "c", "d", "e", "fine"] { m.output(o) }
        guard case .unsupported(let nodes)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(nodes.map(\.context.node), ["fancy", "custom", "conv_runtime_weight", "runtime_pads", "to_string"])
        XCTAssertEqual(nodes.map(\.context.opType), ["FancyOp", "Custom", "Conv", "Pad", "Cast"])
        XCTAssertEqual(nodes[1].context.domain, "com.example")
        XCTAssertEqual(nodes[4].context.attribute, "to")
        XCTAssertTrue(nodes[3].reason.contains("pads"), nodes[3].reason)
        XCTAssertTrue(nodes.allSatisfy { $0.context.file == "test.onnx" && !$0.reason.isEmpty })
        // The opset is the node's domain's: 13 for ONNX nodes, unknown for a domain the model does not import.
        XCTAssertEqual(nodes.map(\.context.opset), [13, nil, 13, 13, 13])
        XCTAssertTrue(nodes[2].reason.contains("weight"), nodes[2].reason)
        let text = KiteError.unsupported(nodes).description
        XCTAssertTrue(text.hasPrefix("test.onnx: 5 unsupported nodes:"), text)
    }

    /// An attribute the model's opset moved to an input is an error naming it, not ignored: Clip
    /// with `min`/`max` attributes in an opset-13 model computed no clipping.
    func testAttributesRetiredByTheOpsetAreInvalid() throws {
        for (opset, fails) in [(6, false), (11, true), (13, true)] {
            var m = ModelBuilder(opset: opset)
            m.input("x", [1, 2])
            m.node("Clip", ["x"], ["y"], name: "clip", ["min": .float(0), "max": .float(6)])
            m.output("y")
            if !fails {
                let y = try runReference(try m.lower(), ["x": Tensor(shape: [1, 2], floats: [-1, 7])])["y"]
                XCTAssertEqual(y?.floats, [0, 6])
                continue
            }
            guard case .invalidNode(let ctx, let message)? = lowerError({ try m.lower() }) else { return XCTFail("opset \(opset)") }
            XCTAssertEqual(ctx.node, "clip")
            XCTAssertEqual(ctx.attribute, "min")
            XCTAssertTrue(message.contains("opset \(opset)") && message.contains("inputs"), message)
        }
        var r = ModelBuilder(opset: 13)
        r.input("x", [1, 2, 1])
        r.node("Squeeze", ["x"], ["y"], name: "squeeze", ["axes": .ints([2])])
        r.output("y")
        guard case .invalidNode(let ctx, _)? = lowerError({ try r.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.attribute, "axes")
    }

    /// Inputs that ONNX types with one type variable must agree, and normalisation takes floats
    /// only: a float tensor times an int64 one, or an int32 variance, is no valid model.
    func testInputsOfMismatchedTypesAreInvalid() {
        var mul = ModelBuilder(opset: 13)
        mul.input("x", [1, 2])
        mul.ints("k", [2, 3])
        mul.node("Mul", ["x", "k"], ["y"], name: "mul")
        mul.output("y")
        guard case .invalidNode(let ctx, let message)? = lowerError({ try mul.lower() }) else { return XCTFail("Mul") }
        XCTAssertEqual(ctx.node, "mul")
        XCTAssertTrue(message.contains("int64") && message.contains("float") && message.contains("'k'"), message)

        var bn = ModelBuilder(opset: 15)
        bn.input("x", [1, 2, 2, 2])
        bn.weight("scale", [2], [1, 1])
        bn.weight("B", [2], [0, 0])
        bn.weight("mean", [2], [0, 0])
        bn.initializers.append((name: "var", tensor: Tensor(elementType: .int32, shape: [2], storage: .ints([1, 1]))))
        bn.node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"], name: "bn")
        bn.output("y")
        guard case .invalidNode(let bctx, let bmessage)? = lowerError({ try bn.lower() }) else { return XCTFail("BatchNormalization") }
        XCTAssertEqual(bctx.node, "bn")
        XCTAssertTrue(bmessage.contains("int32") && bmessage.contains("'var'"), bmessage)

        // Constant shape arithmetic is not checked, and matching types still lower.
        var ok = ModelBuilder(opset: 13)
        ok.input("x", [1, 2])
        ok.weight("k", [2], [2, 3])
        ok.node("Mul", ["x", "k"], ["y"], name: "mul")
        ok.output("y")
        XCTAssertNoThrow(try ok.lower())
    }

    /// BatchNormalization's training_mode exists from opset 14; before, a node carrying it has
    /// an attribute its op does not know.
    func testTrainingModeBeforeOpset14IsInvalid() throws {
        for (opset, fails) in [(13, true), (14, false)] {
            var m = ModelBuilder(opset: opset)
            m.input("x", [1, 2, 1, 1])
            m.weight("scale", [2], [2, 1])
            m.weight("B", [2], [0, 1])
            m.weight("mean", [2], [0, 0])
            m.weight("var", [2], [1, 1])
            m.node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"], name: "bn",
                   ["training_mode": .int(0), "epsilon": .float(0)])
            m.output("y")
            if !fails {
                let y = try runReference(try m.lower(), ["x": Tensor(shape: [1, 2, 1, 1], floats: [3, 5])])["y"]
                XCTAssertEqual(y?.floats, [6, 6])
                continue
            }
            guard case .invalidNode(let ctx, let message)? = lowerError({ try m.lower() }) else { return XCTFail("opset \(opset)") }
            XCTAssertEqual(ctx.attribute, "training_mode")
            XCTAssertTrue(message.contains("opset 14"), message)
        }
    }

    /// BatchNormalization whose variance plus epsilon is not positive would give NaN outputs.
    func testBatchNormWithNonPositiveVarianceIsInvalid() {
        for (variance, epsilon) in [(Float(-1), Float(1e-5)), (0, -1e-3), (.nan, 1e-5)] {
            var m = ModelBuilder(opset: 13)
            m.input("x", [1, 2, 2, 2])
            m.weight("scale", [2], [1, 1])
            m.weight("B", [2], [0, 0])
            m.weight("mean", [2], [0, 0])
            m.weight("var", [2], [1, variance])
            m.node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"], name: "bn", ["epsilon": .float(epsilon)])
            m.output("y")
            guard case .invalidNode(let ctx, let message)? = lowerError({ try m.lower() }) else { return XCTFail("\(variance)") }
            XCTAssertEqual(ctx.node, "bn")
            XCTAssertTrue(message.contains("channel 1"), message)
        }
    }

    func testNodeReadingAMissingValueIsInvalid() {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Add", ["x", "ghost"], ["y"], name: "adder")
        m.output("y")
        guard case .invalidNode(let ctx, let message)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.node, "adder")
        XCTAssertEqual(ctx.file, "test.onnx")
        XCTAssertTrue(message.contains("'ghost'"), message)
    }

    func testWrongInputCountAndShapeMismatchNameTheNode() {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 3, 4, 4])
        m.weight("w", [2, 2, 1, 1], [1, 1, 1, 1])
        m.node("Conv", ["x", "w"], ["y"], name: "bad_conv")
        m.output("y")
        guard case .shapeMismatch(let ctx, _)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.node, "bad_conv")
        XCTAssertEqual(ctx.opType, "Conv")

        var n = ModelBuilder(opset: 13)
        n.input("x", [1, 2])
        n.node("Relu", [], ["y"], name: "empty_relu")
        n.output("y")
        guard case .invalidNode(let c2, _)? = lowerError({ try n.lower() }) else { return XCTFail() }
        XCTAssertEqual(c2.node, "empty_relu")
    }

    func testCycleAndDuplicateProducersAreInvalid() {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Add", ["x", "b"], ["a"], name: "first")
        m.node("Relu", ["a"], ["b"], name: "second")
        m.output("b")
        guard case .invalidNode(_, let message)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertTrue(message.contains("cycle"), message)

        var d = ModelBuilder(opset: 13)
        d.input("x", [1, 2])
        d.node("Relu", ["x"], ["y"], name: "one")
        d.node("Sigmoid", ["x"], ["y"], name: "two")
        d.output("y")
        guard case .invalidNode(let ctx, _)? = lowerError({ try d.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.node, "two")
    }

    func testOutOfRangeGatherIndexIsInvalidNotACrash() {
        var m = ModelBuilder(opset: 13)
        m.input("x", [1, 2])
        m.node("Shape", ["x"], ["s"])
        m.ints("i", [5], shape: [])
        m.node("Gather", ["s", "i"], ["g"], name: "gather")
        m.node("Unsqueeze", ["g", "zero"], ["u"])
        m.ints("zero", [0])
        m.node("Reshape", ["x", "u"], ["y"])
        m.output("y")
        guard case .invalidNode(let ctx, _)? = lowerError({ try m.lower() }) else { return XCTFail() }
        XCTAssertEqual(ctx.node, "gather")
    }
}
