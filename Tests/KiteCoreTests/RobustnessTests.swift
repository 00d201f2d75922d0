import KiteCore
import XCTest

/// Ops built from arbitrary (as a corrupt file could hold) parameters and shapes
/// must either infer shapes and run, or throw: never trap.
final class RobustnessTests: XCTestCase {
    /// Names from a broken file may hold any bytes; the error still prints as one line.
    func testErrorWithControlCharactersInNamesPrintsOneLine() {
        let error = KiteError.invalidTensor(ErrorContext(file: "m.onnx", tensor: "a\nb\r\u{1}c\u{2028}"), "float_data has 0 values\tbut 4 needed")
        XCTAssertEqual(error.description, "m.onnx: tensor 'a\\nb\\r\\u{1}c\\u{2028}': float_data has 0 values\\tbut 4 needed")
        XCTAssertEqual(KiteError.invalidArgument("plain 'name' é").description, "plain 'name' é")
    }

    func testRandomParametersNeverTrap() throws {
        var r = Random(seed: 11)
        func small() -> Int { r.int(-2...4) }
        func list(_ n: Int) -> [Int] { (0..<n).map { _ in small() } }
        func shape() -> [Int] { (0..<r.int(0...4)).map { _ in r.int(-1...4) } }
        func weight(_ rank: Int) -> Tensor {
            let s = (0..<rank).map { _ in r.int(-1...3) }
            let n = checkedElementCount(s) ?? 0
            // Sometimes the data does not match the shape.
            let count = r.int(0...3) == 0 ? r.int(0...5) : n
            return Tensor(elementType: .float, shape: s, storage: .floats([Float](repeating: 1, count: count)))
        }
        var ran = 0, threw = 0
        for _ in 0..<10000 {
            let op: Op
            switch r.int(0...22) {
            case 0: op = .conv(Convolution(weight: weight(r.int(2...5)), bias: r.int(0...1) == 0 ? nil : [1, 2], groups: small(),
                                           strides: list(r.int(1...3)), pads: list(r.int(3...5)), dilations: list(r.int(1...3)),
                                           residual: r.int(0...3) == 0))
            case 1: op = .pool(Pooling(kind: r.int(0...1) == 0 ? .max : .average, kernel: list(2), strides: list(2), pads: list(4),
                                       dilations: list(2), ceilMode: r.int(0...1) == 0, countIncludePad: r.int(0...1) == 0))
            case 2: op = .split(Split(axis: small(), sizes: list(r.int(0...3))))
            case 3: op = .concat(Concat(axis: small()))
            case 4: op = .channelShuffle(ChannelShuffle(groups: small()))
            case 5: op = .gather(Gather(axis: small(), indices: list(r.int(0...3)), indicesShape: list(r.int(0...2))))
            case 6: op = .reshape(Reshape(shape: list(r.int(0...3))))
            case 7: op = .transpose(Transpose(perm: list(r.int(0...4))))
            case 8: op = .pad(Pad(pads: list(r.int(0...8)), value: 0))
            case 9: op = .slice(Slice(starts: list(r.int(0...4)), ends: list(r.int(0...4)), steps: list(r.int(0...4))))
            case 10: op = .reduceMean(ReduceMean(axes: list(r.int(0...3)), keepDims: r.int(0...1) == 0))
            case 11: op = .fullyConnected(FullyConnected(weight: weight(r.int(1...3)), bias: r.int(0...1) == 0 ? nil : [1]))
            case 12: op = .binary(Binary(kind: .div, constant: r.int(0...1) == 0 ? nil : weight(r.int(0...3))))
            case 14:
                let n = r.int(0...3)
                op = .pool(Pooling(kind: r.int(0...1) == 0 ? .max : .average, kernel: list(n), strides: list(r.int(n...n + 1)),
                                   pads: list(2 * n), dilations: list(n), ceilMode: r.int(0...1) == 0,
                                   countIncludePad: r.int(0...1) == 0, withIndices: r.int(0...1) == 0, columnMajorIndices: r.int(0...1) == 0))
            case 15: op = .pad(Pad(pads: list(r.int(0...8)), value: 0, mode: PadMode.allCases[r.int(0...3)]))
            case 16: op = .cast(Cast(to: ElementType.allCases[r.int(0...ElementType.allCases.count - 1)], saturate: r.int(0...1) == 0))
            case 17: op = .elementwiseBinary(ElementwiseBinary(ElementwiseBinary.Kind.allCases[r.int(0...ElementwiseBinary.Kind.allCases.count - 1)]))
            case 18: op = .whereSelect(Where())
            case 19: op = .unary(Unary(Unary.Kind.allCases[r.int(0...Unary.Kind.allCases.count - 1)]))
            case 20: op = .reduce(Reduce(kind: Reduce.Kind.allCases[r.int(0...3)], axes: list(r.int(0...3)), keepDims: r.int(0...1) == 0))
            case 21: op = .matMul(MatMul())
            case 22: op = .dropout(Dropout(ratio: Float(small()) / 4, training: r.int(0...1) == 0, seed: 3, withMask: r.int(0...1) == 0))
            default: op = .scaleShift(ScaleShift(scale: [1, 2], shift: list(r.int(1...3)).map(Float.init)))
            }
            let inputs = (0..<r.int(0...3)).map { _ in shape() }
            let k = op.nativeOperator
            _ = op.parameterSummary
            guard let outs = try? k.inferShapes(inputs) else {
                threw += 1
                continue
            }
            _ = k.cost(inputs: inputs, outputs: outs)
            let tensors = inputs.map { Tensor.zeros($0) }
            do {
                let results = try k.reference(tensors)
                XCTAssertEqual(results.map(\.shape), outs, "\(op)")
                ran += 1
            } catch {
                XCTFail("inferShapes accepted \(inputs) but the reference threw \(error) for \(op)")
            }
        }
        XCTAssertGreaterThan(ran, 100)
        XCTAssertGreaterThan(threw, 100)
    }
}
