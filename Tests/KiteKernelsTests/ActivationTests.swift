import Foundation
import XCTest
@testable import KiteKernels

final class ActivationTests: XCTestCase {
    func testFastExpAccuracy() {
        var worst: Double = 0
        var x: Float = -87
        while x <= 88 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.001 })
            let e = fastExp(v)
            for i in 0..<8 {
                let ref = Foundation.exp(Double(v[i]))
                worst = max(worst, abs(Double(e[i]) - ref) / ref)
            }
            x += 0.0137
        }
        XCTAssertLessThan(worst, 1e-6, "fastExp relative error")
        XCTAssertEqual(fastExp(0), 1)
        XCTAssertFalse(fastExp(Float(1000)).isInfinite)
        XCTAssertGreaterThanOrEqual(fastExp(Float(-1000)), 0)
    }

    func testActivationsVectorScalarAndInPlace() {
        var rng = SeededRNG(seed: 1)
        let xs = rng.floats(67, in: -10...10) + [0, -0, 6, -3, 3, 100, -100, 88, -88]
        for act in allActivations {
            let expected = xs.map { referenceActivation(act, Double($0)) }
            let scalar = xs.map { act.apply($0) }
            assertClose(scalar, expected, tol: 1e-6, "scalar \(act)")
            var vec = [Float]()
            var i = 0
            while i < xs.count {
                var v = SIMD8<Float>()
                for j in 0..<8 where i + j < xs.count { v[j] = xs[i + j] }
                let r = act.apply(v)
                for j in 0..<8 where i + j < xs.count { vec.append(r[j]) }
                i += 8
            }
            assertClose(vec, expected, tol: 1e-6, "simd8 \(act)")
            var v16 = SIMD16<Float>()
            for j in 0..<16 { v16[j] = xs[j] }
            let r16 = act.apply(v16)
            assertClose((0..<16).map { r16[$0] }, Array(expected[0..<16]), tol: 1e-6, "simd16 \(act)")
            // The 16-lane form the kernels' epilogues call (its own implementation for most activations).
            for start in stride(from: 0, to: xs.count - 15, by: 16) {
                var v = SIMD16<Float>()
                for j in 0..<16 { v[j] = xs[start + j] }
                let box = Vector16Box()
                act.visit(Apply16(input: v, box: box))
                assertClose((0..<16).map { box.value[$0] }, Array(expected[start..<(start + 16)]), tol: 1e-6, "kernel simd16 \(act)")
            }
            var inPlace = xs
            inPlace.withUnsafeMutableBufferPointer { act.apply(to: $0.baseAddress!, count: $0.count) }
            assertClose(inPlace, expected, tol: 1e-6, "in place \(act)")
        }
    }
}

private final class Vector16Box { var value = SIMD16<Float>() }

private struct Apply16: ActivationVisitor {
    let input: SIMD16<Float>
    let box: Vector16Box
    func visit<A: VectorActivation>(_ activation: A) { box.value = activation(input) }
}
