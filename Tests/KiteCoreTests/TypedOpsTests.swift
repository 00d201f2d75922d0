import KiteCore
import XCTest

/// Element types beyond float32 and the reference-only ops, against hand-computed values.
final class TypedOpsTests: XCTestCase {
    func ints(_ type: ElementType, _ shape: [Int], _ v: [Int64]) -> Tensor {
        Tensor(elementType: type, shape: shape, storage: .ints(v))
    }

    func run(_ op: Op, _ inputs: Tensor...) throws -> [Tensor] { try op.nativeOperator.reference(inputs) }

    // MARK: Conversions

    func testCastFloatToIntegersTruncatesThenWraps() {
        let x = T([6], [300.7, -1.5, 127.9, -129, .nan, 2.5])
        XCTAssertEqual(x.cast(to: .int8).ints, [44, -1, 127, 127, 0, 2])         // 300 mod 256 = 44, -129 wraps to 127
        XCTAssertEqual(x.cast(to: .uint8).ints, [44, 255, 127, 127, 0, 2])
        XCTAssertEqual(x.cast(to: .bool).ints, [1, 1, 1, 1, 1, 1])               // NaN != 0
        // Floats out of a 4- or 2-bit type's range become 0, as ml_dtypes 0.7 (the ONNX reference's
        // conversions) gives them; in range they truncate toward zero.
        XCTAssertEqual(T([6], [-9, -8.7, 7.9, 8, 17, -0.5]).cast(to: .int4).ints, [0, -8, 7, 0, 0, 0])
        XCTAssertEqual(T([5], [-9, -1, 7, 15.5, 16]).cast(to: .uint4).ints, [0, 0, 7, 15, 0])
        XCTAssertEqual(T([5], [-3, -2, 1.5, 2, 3]).cast(to: .int2).ints, [0, -2, 1, 0, 0])
        XCTAssertEqual(T([3], [-1, 3, 5]).cast(to: .uint2).ints, [0, 3, 0])
        // Integers wrap to them, as to every integer type.
        XCTAssertEqual(ints(.int64, [3], [-9, 8, 17]).cast(to: .int4).ints, [7, -8, 1])
        XCTAssertEqual(ints(.int64, [2], [-1, 300]).cast(to: .uint8).ints, [255, 44])
        XCTAssertEqual(ints(.uint64, [1], [-1]).floats, [1.8446744e19])          // uint64 bit pattern
    }

    func testCastToNarrowFloatsRoundsToNearestEven() {
        XCTAssertEqual(T([1], [1.0 / 3]).cast(to: .float16).floats, [0.33325195])
        XCTAssertEqual(T([3], [0.81910545, 0.47892547, -.infinity]).cast(to: .bfloat16).floats, [0.8203125, 0.478515625, -.infinity])
        XCTAssertTrue(T([1], [.nan]).cast(to: .bfloat16).floats[0].isNaN)
        XCTAssertEqual(T([2], [65520, 1e-8]).cast(to: .float16).floats, [.infinity, 0])
    }

    func testFloat8SaturationAndFnuz() {
        let x = T([6], [0.47892547, 1e6, -.infinity, -1e-7, 460, 1e-3])
        // E4M3FN: 0.47892547 = 1.9157 * 2^-2 -> 1.875 * 2^-2; saturate clamps to 448; 1e-3 is 0.512 * 2^-9 -> 2^-9.
        XCTAssertEqual(x.cast(to: .float8e4m3fn).floats, [0.46875, 448, -448, -0.0, 448, 0.001953125])
        let noSat = x.cast(to: .float8e4m3fn, saturate: false).floats
        XCTAssertTrue(noSat[1].isNaN && noSat[2].isNaN)
        XCTAssertEqual(noSat[4], 448)                                             // 460 rounds to 448, in range
        // FNUZ: no negative zero; out of range without saturation is NaN.
        XCTAssertEqual(x.cast(to: .float8e4m3fnuz).floats[3].sign, .plus)
        XCTAssertEqual(x.cast(to: .float8e4m3fnuz).floats[1], 240)
        XCTAssertTrue(x.cast(to: .float8e5m2fnuz, saturate: false).floats[1].isNaN)
        // E5M2 keeps infinities without saturation, clamps to 57344 with it.
        XCTAssertEqual(x.cast(to: .float8e5m2, saturate: false).floats[1], .infinity)
        XCTAssertEqual(x.cast(to: .float8e5m2).floats[1], 57344)
        XCTAssertEqual(x.cast(to: .float8e5m2).floats[0], 0.5)
    }

    func testFloat4AndE8M0() {
        // E2M1 values: 0, 0.5, 1, 1.5, 2, 3, 4, 6; ties to even; no NaN or infinity (clamped to 6).
        XCTAssertEqual(T([6], [0.25, 1.05, -3.5, 9, .infinity, 0.75]).cast(to: .float4e2m1).floats, [0, 1, -4, 6, 6, 1])
        // E8M0 rounds up by default: 1.1 -> 2, 0.124 -> 0.125, powers of two stay, 0 is 2^-127.
        let e = T([4], [1.1, 0.124, 4, 0]).cast(to: .float8e8m0).floats
        XCTAssertEqual(Array(e.prefix(3)), [2, 0.125, 4])
        XCTAssertEqual(e[3], Float(sign: .plus, exponent: -127, significand: 1))
        XCTAssertEqual(T([1], [1.1]).cast(to: .float8e8m0, rounding: .down).floats, [1])
        XCTAssertEqual(T([2], [1.4, 1.6]).cast(to: .float8e8m0, rounding: .nearest).floats, [1, 2])
    }

    func testMiniFloatDecoding() {
        XCTAssertTrue(MiniFloatFormat.e4m3fn.decode(0x7F).isNaN)
        XCTAssertEqual(MiniFloatFormat.e4m3fn.decode(0x7E), 448)
        XCTAssertEqual(MiniFloatFormat.e4m3fn.decode(0x01), 0.001953125)        // 2^-9, the smallest subnormal
        XCTAssertEqual(MiniFloatFormat.e4m3fn.decode(0xB8), -1)
        XCTAssertEqual(MiniFloatFormat.e5m2.decode(0x7C), .infinity)
        XCTAssertTrue(MiniFloatFormat.e5m2.decode(0x7E).isNaN)
        XCTAssertTrue(MiniFloatFormat.e4m3fnuz.decode(0x80).isNaN)
        XCTAssertEqual(MiniFloatFormat.e4m3fnuz.decode(0x7F), 240)
        XCTAssertEqual(MiniFloatFormat.e2m1.decode(0x7), 6)
        XCTAssertEqual(MiniFloatFormat.e2m1.decode(0xB), -1.5)
        XCTAssertTrue(E8M0.decode(0xFF).isNaN)
        XCTAssertEqual(E8M0.decode(127), 1)
    }

    // MARK: Cast op

    func testCastOp() throws {
        let c = Cast(to: .int32)
        XCTAssertEqual(try c.inferShapes([[2, 3]]), [[2, 3]])
        XCTAssertEqual(c.outputTypes([.float], count: 1), [.int32])
        XCTAssertEqual(c.cost(inputs: [[2, 3]], outputs: [[2, 3]]).flops, 6)
        let y = try eval(.cast(c), T([2], [1.9, -1.9]))
        XCTAssertEqual(y.elementType, .int32)
        XCTAssertEqual(y.ints, [1, -1])
        assertShapeError(try Cast(to: .string).inferShapes([[1]]))
    }

    // MARK: Two-operand ops

    func testComparisonsGiveBoolWithBroadcasting() throws {
        let x = T([2, 2], [1, 5, 3, 2]), b = T([2], [2, 5])
        let less = try eval(.elementwiseBinary(ElementwiseBinary(.less)), x, b)
        XCTAssertEqual(less.elementType, .bool)
        XCTAssertEqual(less.shape, [2, 2])
        XCTAssertEqual(less.ints, [1, 0, 0, 1])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.equal)), x, b).ints, [0, 1, 0, 0])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.greaterOrEqual)), x, b).ints, [0, 1, 1, 0])
        let t = ints(.bool, [2], [1, 0]), f = ints(.bool, [1], [1])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.xor)), t, f).ints, [0, 1])
        XCTAssertEqual(ElementwiseBinary(.less).outputTypes([.float, .float], count: 1), [.bool])
        assertShapeError(try ElementwiseBinary(.less).inferShapes([[2, 3], [2]]))
    }

    func testMinMaxPowModOnIntegersAndFloats() throws {
        let a = ints(.uint8, [2], [200, 3]), b = ints(.uint8, [2], [100, 250])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.max)), a, b).ints, [200, 250])
        let s = ints(.int64, [2], [-1, 3]), u = ints(.uint64, [2], [-1, 3])           // uint64 -1 is 2^64-1
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.min)), s, ints(.int64, [1], [0])).ints, [-1, 0])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.min)), u, ints(.uint64, [1], [0])).ints, [0, 0])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.pow)), ints(.int32, [2], [2, -3]), ints(.int32, [1], [3])).ints, [8, -27])
        // Mod takes the divisor's sign, FMod the dividend's.
        let m = try eval(.elementwiseBinary(ElementwiseBinary(.mod)), ints(.int32, [2], [-7, 7]), ints(.int32, [2], [3, -3]))
        XCTAssertEqual(m.ints, [2, -2])
        XCTAssertEqual(try eval(.elementwiseBinary(ElementwiseBinary(.fmod)), T([2], [-7, 7]), T([2], [3, -3])).floats, [-1, 1])
        XCTAssertTrue(try eval(.elementwiseBinary(ElementwiseBinary(.max)), T([1], [.nan]), T([1], [1])).floats[0].isNaN)
        XCTAssertThrowsError(try eval(.elementwiseBinary(ElementwiseBinary(.mod)), ints(.int32, [1], [1]), ints(.int32, [1], [0])))
    }

    func testBinaryOnIntegersIsExactAndWraps() throws {
        let a = ints(.uint8, [3], [200, 7, 9]), b = ints(.uint8, [3], [100, 2, 4])
        XCTAssertEqual(try eval(.binary(Binary(kind: .add)), a, b).ints, [44, 9, 13])
        XCTAssertEqual(try eval(.binary(Binary(kind: .sub)), b, a).ints, [156, 251, 251])
        XCTAssertEqual(try eval(.binary(Binary(kind: .div)), a, b).ints, [2, 3, 2])
        // Signed division truncates toward zero; the constant operand is converted like the input.
        let d = try eval(.binary(Binary(kind: .div, constant: ints(.int32, [1], [-2]))), ints(.int32, [2], [-7, 7]))
        XCTAssertEqual(d.ints, [3, -3])
        XCTAssertEqual(d.elementType, .int32)
        let big = try eval(.binary(Binary(kind: .add)), ints(.int64, [1], [1 << 40]), ints(.int64, [1], [1]))
        XCTAssertEqual(big.ints, [(1 << 40) + 1])
        XCTAssertThrowsError(try eval(.binary(Binary(kind: .div)), ints(.int32, [1], [1]), ints(.int32, [1], [0])))
    }

    func testWhere() throws {
        let c = ints(.bool, [2, 1], [1, 0])
        let y = try eval(.whereSelect(Where()), c, T([2], [1, 2]), T([1], [9]))
        XCTAssertEqual(y.shape, [2, 2])
        XCTAssertEqual(y.floats, [1, 2, 9, 9])
        let i = try eval(.whereSelect(Where()), c, ints(.int8, [1], [5]), ints(.int8, [1], [-5]))
        XCTAssertEqual(i.ints, [5, -5])
        XCTAssertEqual(i.elementType, .int8)
        XCTAssertEqual(Where().outputTypes([.bool, .int8, .int8], count: 1), [.int8])
        assertShapeError(try Where().inferShapes([[2], [3], [1]]))
    }

    // MARK: Unary

    func testUnary() throws {
        assertClose(try eval(.unary(Unary(.exp)), T([2], [0, 1])), [2], [1, 2.7182817])
        assertClose(try eval(.unary(Unary(.sqrt)), T([2], [4, 2.25])), [2], [2, 1.5])
        XCTAssertEqual(try eval(.unary(Unary(.neg)), ints(.int8, [2], [-128, 5])).ints, [-128, -5])  // wraps like int8
        let not = try eval(.unary(Unary(.not)), ints(.bool, [2], [1, 0]))
        XCTAssertEqual(not.ints, [0, 1])
        XCTAssertEqual(not.elementType, .bool)
        XCTAssertEqual(try eval(.unary(Unary(.round)), T([3], [0.5, 1.5, -2.5])).floats, [0, 2, -2])
        XCTAssertEqual(Unary(.exp).cost(inputs: [[4]], outputs: [[4]]).flops, 32)
    }

    // MARK: Reductions and MatMul

    func testReduceKinds() throws {
        let x = iota([2, 3])   // [[0, 1, 2], [3, 4, 5]]
        XCTAssertEqual(try eval(.reduce(Reduce(kind: .sum, axes: [1], keepDims: true)), x).floats, [3, 12])
        XCTAssertEqual(try Reduce(kind: .sum, axes: [1], keepDims: true).inferShapes([[2, 3]]), [[2, 1]])
        XCTAssertEqual(try eval(.reduce(Reduce(kind: .max, axes: [0], keepDims: false)), x).floats, [3, 4, 5])
        XCTAssertEqual(try eval(.reduce(Reduce(kind: .min, axes: [-1], keepDims: false)), x).floats, [0, 3])
        XCTAssertEqual(try eval(.reduce(Reduce(kind: .prod, axes: [0, 1], keepDims: false)), T([2, 2], [1, 2, 3, 4])).shape, [])
        XCTAssertEqual(try eval(.reduce(Reduce(kind: .prod, axes: [0, 1], keepDims: false)), T([2, 2], [1, 2, 3, 4])).floats, [24])
        let i = try eval(.reduce(Reduce(kind: .sum, axes: [0], keepDims: false)), ints(.int64, [2], [1 << 40, 1]))
        XCTAssertEqual(i.ints, [(1 << 40) + 1])
        XCTAssertEqual(Reduce(kind: .sum, axes: [1], keepDims: true).cost(inputs: [[2, 3]], outputs: [[2, 1]]).flops, 6)
        assertShapeError(try Reduce(kind: .max, axes: [0], keepDims: true).inferShapes([[0, 2]]))
        assertShapeError(try Reduce(kind: .sum, axes: [2], keepDims: true).inferShapes([[2, 2]]))
    }

    func testBatchedMatMulBroadcastsBatchDims() throws {
        // A [2, 1, 2] (two 1x2 rows), B [2, 1]: each row dotted with [1, 10].
        let y = try eval(.matMul(MatMul()), T([2, 1, 2], [1, 2, 3, 4]), T([2, 1], [1, 10]))
        assertClose(y, [2, 1, 1], [21, 43])
        // A [2] (promoted to [1, 2]) with B [3, 2, 2]: the added axis is removed -> [3, 2].
        let b = T([3, 2, 2], [1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0])
        assertClose(try eval(.matMul(MatMul()), T([2], [5, 7]), b), [3, 2], [5, 7, 10, 14, 7, 5])
        XCTAssertEqual(MatMul().cost(inputs: [[2, 1, 2], [2, 1]], outputs: [[2, 1, 1]]).flops, 8)
        assertShapeError(try MatMul().inferShapes([[2, 3], [2, 3]]))
        assertShapeError(try MatMul().inferShapes([[2, 2, 3], [3, 3, 1]]))
    }

    // MARK: Dropout, Pad modes, N-d pooling

    func testDropoutInferenceAndTraining() throws {
        let x = T([2], [3, 4])
        let off = try run(.dropout(Dropout(ratio: 0.5, training: false, withMask: true)), x)
        XCTAssertEqual(off[0].floats, [3, 4])
        XCTAssertEqual(off[1].ints, [1, 1])
        XCTAssertEqual(off[1].elementType, .bool)
        // MT19937 seeded 0 gives 0.5488135, 0.71518937 (numpy's np.random.seed(0); np.random.random(2)).
        var rng = MersenneTwister(seed: 0)
        XCTAssertEqual(rng.nextDouble(), 0.5488135039273248, accuracy: 1e-15)
        XCTAssertEqual(rng.nextDouble(), 0.7151893663724195, accuracy: 1e-15)
        let on = try run(.dropout(Dropout(ratio: 0.6, training: true, seed: 0, withMask: true)), x)
        assertClose(on[0], [2], [0, 10])
        XCTAssertEqual(on[1].ints, [0, 1])
        XCTAssertEqual(try Dropout(ratio: 0.5, training: true, withMask: false).inferShapes([[2]]), [[2]])
        assertShapeError(try Dropout(ratio: 1, training: true, withMask: false).inferShapes([[2]]))
    }

    func testPadModes() throws {
        let x = T([1, 3], [1, 2, 3])
        func pad(_ mode: PadMode, _ pads: [Int] = [0, 2, 0, 2]) throws -> [Float] {
            try eval(.pad(Pad(pads: pads, value: 9, mode: mode)), x).floats
        }
        XCTAssertEqual(try pad(.constant), [9, 9, 1, 2, 3, 9, 9])
        XCTAssertEqual(try pad(.reflect), [3, 2, 1, 2, 3, 2, 1])
        XCTAssertEqual(try pad(.edge), [1, 1, 1, 2, 3, 3, 3])
        XCTAssertEqual(try pad(.wrap), [2, 3, 1, 2, 3, 1, 2])
        XCTAssertEqual(try pad(.edge, [0, -1, 0, 1]), [2, 3, 3])                    // crop then pad
        let i = try eval(.pad(Pad(pads: [1, 1], value: -1, mode: .constant)), ints(.int32, [1], [1 << 30]))
        XCTAssertEqual(i.ints, [-1, 1 << 30, -1])
        XCTAssertEqual(i.elementType, .int32)
        assertShapeError(try Pad(pads: [1, 0], value: 0, mode: .edge).inferShapes([[0]]))
    }

    func testPoolingOneAndThreeDimensionsAndIndices() throws {
        let p1 = Pooling(kind: .max, kernel: [2], strides: [2], pads: [0, 1])
        XCTAssertEqual(try p1.inferShapes([[1, 1, 5]]), [[1, 1, 3]])
        assertClose(try eval(.pool(p1), T([1, 1, 5], [1, 3, 2, 5, 4])), [1, 1, 3], [3, 5, 4])
        let a3 = Pooling(kind: .average, kernel: [2, 2, 2], strides: [1, 1, 1], pads: [0, 0, 0, 1, 0, 0], countIncludePad: true)
        // 2x2x2 ramp 0..7; depth padded by one at the end: windows at d 0 (mean 3.5) and d 1 (half in the pad: 22 / 8).
        assertClose(try eval(.pool(a3), iota([1, 1, 2, 2, 2])), [1, 1, 2, 1, 1], [3.5, 2.75])
        let withIndices = Pooling(kind: .max, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], withIndices: true)
        XCTAssertEqual(withIndices.outputTypes([.float], count: 2), [.float, .int64])
        let out = try run(.pool(withIndices), T([1, 2, 2, 2], [1, 4, 3, 2, 7, 5, 6, 8]))
        XCTAssertEqual(out[0].floats, [4, 8])
        XCTAssertEqual(out[1].ints, [1, 7])
        assertShapeError(try Pooling(kind: .average, kernel: [2], strides: [1], pads: [0, 0], withIndices: true).inferShapes([[1, 1, 2]]))
    }

    func testClipWithMinAboveMaxGivesMax() throws {
        // ONNX: min(max(x, min), max), so min > max gives max everywhere.
        XCTAssertEqual(try eval(.activation(ActivationOp(.clip(min: 2, max: 1))), T([3], [0, 1.5, 3])).floats, [1, 1, 1])
        XCTAssertEqual(try eval(.activation(ActivationOp(.clip(min: -1, max: 5))), ints(.int8, [3], [-100, 3, 100])).ints, [-1, 3, 5])
    }
}
