import KiteCore
import XCTest

/// Pooling corners, hand-computed (each value also checked once against onnxruntime 1.32).
final class PoolingTests: XCTestCase {
    func pool(_ kind: PoolKind, k: Int, s: Int, p: [Int] = [0, 0, 0, 0], ceil: Bool = false, includePad: Bool = false,
              dilation: Int = 1) -> Pooling {
        Pooling(kind: kind, kernel: [k, k], strides: [s, s], pads: p, dilations: [dilation, dilation], ceilMode: ceil,
                countIncludePad: includePad)
    }

    func testCeilModeAddsALastPartialWindow() throws {
        let x = iota([1, 1, 4, 4])
        // floor((4 - 3) / 2) + 1 = 1, ceil gives 2: the second window covers rows/cols 2..3 only.
        assertClose(try eval(.pool(pool(.max, k: 3, s: 2)), x), [1, 1, 1, 1], [10])
        assertClose(try eval(.pool(pool(.max, k: 3, s: 2, ceil: true)), x), [1, 1, 2, 2], [10, 11, 14, 15])
    }

    func testCeilModeDropsAWindowStartingInTheRightPadding() throws {
        // in 5, k 2, s 2, pads 1+1: ceil((5 + 2 - 2) / 2) + 1 = 4, but window 4 would start at
        // 6 >= 5 + 1 (inside the right padding), so ONNX drops it: 3 = the floor result.
        let p = pool(.max, k: 2, s: 2, p: [1, 1, 1, 1], ceil: true)
        XCTAssertEqual(try p.inferShapes([[1, 1, 5, 5]]), [[1, 1, 3, 3]])
        XCTAssertEqual(Pooling.outputSize(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 1, padEnd: 1, ceilMode: true), 3)
        XCTAssertEqual(Pooling.outputSize(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: true), 3)
        XCTAssertEqual(Pooling.outputSize(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: false), 2)
    }

    func testAverageCountIncludePadBothWays() throws {
        let x = iota([1, 1, 3, 3], from: 1)
        // Windows of 3x3, stride 2, pad 1: each holds 4 valid values of 9 positions.
        assertClose(try eval(.pool(pool(.average, k: 3, s: 2, p: [1, 1, 1, 1])), x), [1, 1, 2, 2], [3, 4, 6, 7])
        assertClose(try eval(.pool(pool(.average, k: 3, s: 2, p: [1, 1, 1, 1], includePad: true)), x), [1, 1, 2, 2],
                    [12 / 9, 16 / 9, 24 / 9, 28 / 9])
    }

    func testAverageCeilModeWithPadding() throws {
        // 4x4 (0...15), k 3, s 2, pads 1, ceil: windows start at -1, 1, 3 on each axis.
        // Valid rows {0,1}, {1,2,3}, {3}; rows inside the padded input {-1,0,1}, {1,2,3}, {3,4}
        // (row 5 overhangs the padding because of ceil mode and is not counted).
        let x = iota([1, 1, 4, 4])
        assertClose(try eval(.pool(pool(.average, k: 3, s: 2, p: [1, 1, 1, 1], ceil: true)), x), [1, 1, 3, 3],
                    [2.5, 4, 5, 8.5, 10, 11, 12.5, 14, 15])
        assertClose(try eval(.pool(pool(.average, k: 3, s: 2, p: [1, 1, 1, 1], ceil: true, includePad: true)), x), [1, 1, 3, 3],
                    [10 / 9, 24 / 9, 10 / 6, 51 / 9, 10, 5.5, 25 / 6, 7, 3.75])
    }

    func testMaxIgnoresPadding() throws {
        // All values negative: a padded zero would win if it were counted.
        let x = T([1, 1, 4, 4], (0..<16).map { -1 - Float($0) })
        assertClose(try eval(.pool(pool(.max, k: 3, s: 2, p: [1, 1, 1, 1], ceil: true)), x), [1, 1, 3, 3],
                    [-1, -2, -4, -5, -6, -8, -13, -14, -16])
    }

    func testDilatedAverageWithAsymmetricPadsAndCeil() throws {
        // Recorded from onnxruntime 1.32 (AveragePool opset 19).
        let x = iota([1, 1, 6, 6])
        let p = Pooling(kind: .average, kernel: [2, 2], strides: [2, 2], pads: [1, 0, 1, 0], dilations: [2, 2], ceilMode: true,
                        countIncludePad: true)
        assertClose(try eval(.pool(p), x), [1, 1, 4, 3], [3.5, 4.5, 5, 13, 15, 16, 25, 27, 28, 31, 33, 34])
    }

    func testGlobalPooling() throws {
        let x = T([1, 2, 2, 2], [1, 2, 3, 6, -1, -2, -3, -4])
        assertClose(try eval(.globalPool(GlobalPooling(kind: .average)), x), [1, 2, 1, 1], [3, -2.5])
        assertClose(try eval(.globalPool(GlobalPooling(kind: .max)), x), [1, 2, 1, 1], [6, -1])
        XCTAssertEqual(GlobalPooling(kind: .average).typeName, "GlobalAveragePool")
        XCTAssertEqual(GlobalPooling(kind: .max).typeName, "GlobalMaxPool")
    }

    func testReduceMean() throws {
        let x = iota([2, 3, 2])
        let r = ReduceMean(axes: [-1, 1], keepDims: true)
        // Means over 3x2 blocks: 0...5 -> 2.5, 6...11 -> 8.5.
        assertClose(try eval(.reduceMean(r), x), [2, 1, 1], [2.5, 8.5])
        assertClose(try eval(.reduceMean(ReduceMean(axes: [1], keepDims: false)), x), [2, 2], [2, 3, 8, 9])
        assertClose(try eval(.reduceMean(ReduceMean(axes: [], keepDims: false)), x), [], [5.5])
        // Squeeze-excite form: mean over H, W of NCHW equals the global average pool.
        var rng = Random(seed: 3)
        let y = rng.tensor([2, 3, 4, 5])
        assertClose(try eval(.reduceMean(ReduceMean(axes: [2, 3], keepDims: true)), y),
                    try eval(.globalPool(GlobalPooling(kind: .average)), y))
        // A repeated axis (1 and -2 of rank 3) is reduced once, as onnxruntime does.
        assertClose(try eval(.reduceMean(ReduceMean(axes: [1, -2], keepDims: false)), x), [2, 2], [2, 3, 8, 9])
        assertShapeError(try ReduceMean(axes: [3], keepDims: true).inferShapes([[2, 3, 2]]), "axis out of range")
    }

    func testShapeErrors() {
        assertShapeError(try pool(.max, k: 3, s: 1).inferShapes([[1, 1, 2, 2]]), "window larger than input")
        assertShapeError(try pool(.max, k: 3, s: 1).inferShapes([[1, 4, 4]]), "rank 3")
        assertShapeError(try pool(.max, k: 3, s: 0).inferShapes([[1, 1, 4, 4]]), "stride 0")
        assertShapeError(try Pooling(kind: .max, kernel: [3], strides: [1, 1], pads: [0, 0, 0, 0]).inferShapes([[1, 1, 4, 4]]), "one kernel dim")
        assertShapeError(try GlobalPooling(kind: .max).inferShapes([[1, 4]]), "global pool on rank 2")
    }
}
