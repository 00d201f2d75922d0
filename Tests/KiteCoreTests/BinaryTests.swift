import KiteCore
import XCTest

/// Element-wise arithmetic with numpy broadcasting.
final class BinaryTests: XCTestCase {
    func testPerChannelConstant() throws {
        // [1, C, 1, 1] against [N, C, H, W]: one value per channel.
        let x = iota([1, 2, 2, 2])
        let b = Binary(kind: .add, constant: T([1, 2, 1, 1], [100, 200]))
        assertClose(try eval(.binary(b), x), [1, 2, 2, 2], [100, 101, 102, 103, 204, 205, 206, 207])
    }

    func testSqueezeExciteScaleOverSpatial() throws {
        // Two runtime inputs: x [N, C, H, W] * s [N, C, 1, 1], a different scale per image and channel.
        let x = T([2, 2, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8])
        let s = T([2, 2, 1, 1], [1, 10, 100, 1000])
        let y = try Binary(kind: .mul).reference([x, s])[0]
        assertClose(y, [2, 2, 1, 2], [1, 2, 30, 40, 500, 600, 7000, 8000])
        // The operands can come in either order.
        assertClose(try Binary(kind: .mul).reference([s, x])[0], y)
    }

    func testScalarAndConstantOnLeft() throws {
        let x = T([2, 2], [1, 2, 4, 8])
        let scalar = T([], [8])
        assertClose(try eval(.binary(Binary(kind: .sub, constant: scalar)), x), [2, 2], [-7, -6, -4, 0])
        assertClose(try eval(.binary(Binary(kind: .sub, constant: scalar, constantOnLeft: true)), x), [2, 2], [7, 6, 4, 0])
        assertClose(try eval(.binary(Binary(kind: .div, constant: scalar, constantOnLeft: true)), x), [2, 2], [8, 4, 2, 1])
        assertClose(try eval(.binary(Binary(kind: .div, constant: scalar)), x), [2, 2], [0.125, 0.25, 0.5, 1])
    }

    func testRankExtension() throws {
        // [C] against [N, C]: the lower-rank operand is aligned on the right.
        let x = T([2, 3], [1, 2, 3, 4, 5, 6])
        let y = try Binary(kind: .add).reference([x, T([3], [10, 20, 30])])[0]
        assertClose(y, [2, 3], [11, 22, 33, 14, 25, 36])
        // Both operands broadcast: [2, 1] + [1, 3] -> [2, 3].
        let z = try Binary(kind: .add).reference([T([2, 1], [1, 2]), T([1, 3], [10, 20, 30])])[0]
        assertClose(z, [2, 3], [11, 21, 31, 12, 22, 32])
    }

    func testActivationAfterArithmetic() throws {
        let b = Binary(kind: .add, constant: T([1], [-1]), activation: .clip(min: 0, max: 6))
        assertClose(try eval(.binary(b), T([4], [-5, 0.5, 3, 10])), [4], [0, 0, 2, 6])
        XCTAssertEqual(b.typeName, "Add")
        XCTAssertEqual(Binary(kind: .div).typeName, "Div")
    }

    func testShapeErrors() {
        assertShapeError(try Binary(kind: .add).inferShapes([[2, 3], [2]]), "3 vs 2")
        assertShapeError(try Binary(kind: .add).inferShapes([[1, 4, 2, 2], [1, 3, 1, 1]]), "channels 4 vs 3")
        assertShapeError(try Binary(kind: .add).inferShapes([[2, 3]]), "one input without a constant")
        assertShapeError(try Binary(kind: .add, constant: T([1], [1])).inferShapes([[2, 3], [2, 3]]), "two inputs with a constant")
        let corrupt = Tensor(elementType: .float, shape: [3], storage: .floats([1]))
        assertShapeError(try Binary(kind: .add, constant: corrupt).inferShapes([[2, 3]]), "constant data shorter than its shape")
        XCTAssertEqual(broadcastShapes([1, 3, 1, 1], [2, 1, 4, 5]), [2, 3, 4, 5])
        XCTAssertNil(broadcastShapes([0], [3]))
        XCTAssertEqual(broadcastShapes([0], [1]), [0])
    }
}
