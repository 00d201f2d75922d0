import KiteCore
import XCTest

/// Concat, split, shuffle, gather, reshape, transpose, pad and slice.
final class DataMovementTests: XCTestCase {
    /// One value per channel (the channel index), so the channel order is visible.
    func channelTagged(_ c: Int, hw: Int = 2) -> Tensor {
        T([1, c, 1, hw], (0..<c).flatMap { [Float](repeating: Float($0), count: hw) })
    }

    func testChannelShuffleOrder() throws {
        // C = 6: groups 2 views channels as [[0,1,2],[3,4,5]], transposed [[0,3],[1,4],[2,5]].
        let x = channelTagged(6)
        let y2 = try eval(.channelShuffle(ChannelShuffle(groups: 2)), x)
        XCTAssertEqual(stride(from: 0, to: 12, by: 2).map { y2.floats[$0] }, [0, 3, 1, 4, 2, 5])
        let y3 = try eval(.channelShuffle(ChannelShuffle(groups: 3)), x)
        XCTAssertEqual(stride(from: 0, to: 12, by: 2).map { y3.floats[$0] }, [0, 2, 4, 1, 3, 5])
        XCTAssertEqual(ChannelShuffle(groups: 3).sourceChannel(of: 1, channels: 6), 2)
    }

    func testChannelShuffleEqualsReshapeTransposeReshape() throws {
        var r = Random(seed: 4)
        for (n, c, h, w, g) in [(1, 12, 3, 2, 3), (2, 8, 2, 2, 2), (1, 24, 1, 3, 8), (1, 5, 2, 2, 1)] {
            let x = r.tensor([n, c, h, w])
            let g0 = NativeGraph(
                inputs: [ValueInfo(name: "x", shape: [n, c, h, w])], outputs: [ValueInfo(name: "y", shape: [n, c, h, w])],
                nodes: [
                    NativeNode(name: "r1", op: .reshape(Reshape(shape: [n, g, c / g, h, w])), inputs: ["x"], outputs: ["a"]),
                    NativeNode(name: "t", op: .transpose(Transpose(perm: [0, 2, 1, 3, 4])), inputs: ["a"], outputs: ["b"]),
                    NativeNode(name: "r2", op: .reshape(Reshape(shape: [n, c, h, w])), inputs: ["b"], outputs: ["y"]),
                ],
                shapes: [:])
            var explicit = g0
            try explicit.reinferShapes()
            let want = try ReferenceExecutor.run(explicit, inputs: ["x": x])["y"]!
            assertClose(try eval(.channelShuffle(ChannelShuffle(groups: g)), x), want, tolerance: 0, "c \(c) g \(g)")
        }
        assertShapeError(try ChannelShuffle(groups: 4).inferShapes([[1, 6, 2, 2]]), "6 channels in 4 groups")
        assertShapeError(try ChannelShuffle(groups: 0).inferShapes([[1, 6, 2, 2]]), "0 groups")
    }

    func testSplitConcatRoundTrip() throws {
        var r = Random(seed: 5)
        let x = r.tensor([2, 7, 3, 2])
        let split = Split(axis: 1, sizes: [3, 0, 4])
        XCTAssertEqual(split.typeName, "ChannelSplit")
        XCTAssertEqual(Split(axis: 2, sizes: [1, 2]).typeName, "Split")
        let parts = try split.reference([x])
        XCTAssertEqual(parts.map(\.shape), [[2, 3, 3, 2], [2, 0, 3, 2], [2, 4, 3, 2]])
        assertClose(parts[0], channels(x, 0..<3))
        assertClose(parts[2], channels(x, 3..<7))
        assertClose(try Concat(axis: 1).reference(parts)[0], x, tolerance: 0)
        // Along the last axis, by a negative axis.
        let halves = try Split(axis: -1, sizes: [1, 1]).reference([x])
        assertClose(try Concat(axis: -1).reference(halves)[0], x, tolerance: 0)
        assertShapeError(try Split(axis: 1, sizes: [3, 3]).inferShapes([[2, 7, 3, 2]]), "sizes add up to 6, not 7")
        assertShapeError(try Split(axis: 1, sizes: [8, -1]).inferShapes([[2, 7, 3, 2]]), "negative size")
        assertShapeError(try Concat(axis: 1).inferShapes([[1, 2, 3, 3], [1, 2, 3, 4]]), "W differs")
        assertShapeError(try Concat(axis: 1).inferShapes([[1, 2, 3, 3], [1, 2, 3]]), "rank differs")
        assertShapeError(try Concat(axis: 4).inferShapes([[1, 2, 3, 3]]), "axis out of range")
        assertShapeError(try Concat(axis: 0).inferShapes([]), "no inputs")
    }

    func testGatherOnChannels() throws {
        let x = channelTagged(5)
        // CondenseNet's index select: any order, repeats, and a negative index (-1 = the last channel).
        let g = Gather(axis: 1, indices: [4, 0, 0, -1, 2], indicesShape: [5])
        let y = try eval(.gather(g), x)
        XCTAssertEqual(y.shape, [1, 5, 1, 2])
        XCTAssertEqual(y.floats, [4, 4, 0, 0, 0, 0, 4, 4, 2, 2])
        // A scalar index removes the axis; a 2-D index array adds its dims.
        XCTAssertEqual(try eval(.gather(Gather(axis: 1, indices: [3], indicesShape: [])), x).shape, [1, 1, 2])
        let y2 = try eval(.gather(Gather(axis: 0, indices: [2, 0, 1, 1], indicesShape: [2, 2])), T([3, 2], [0, 1, 10, 11, 20, 21]))
        assertClose(y2, [2, 2, 2], [20, 21, 0, 1, 10, 11, 10, 11])
        assertShapeError(try Gather(axis: 1, indices: [5], indicesShape: [1]).inferShapes([[1, 5, 1, 2]]), "index 5 of 5")
        assertShapeError(try Gather(axis: 1, indices: [-6], indicesShape: [1]).inferShapes([[1, 5, 1, 2]]), "index -6 of 5")
        assertShapeError(try Gather(axis: 1, indices: [1, 2], indicesShape: [3]).inferShapes([[1, 5, 1, 2]]), "indices vs shape")
    }

    func testTransposeAndReshape() throws {
        let x = iota([2, 3])
        assertClose(try eval(.transpose(Transpose(perm: [1, 0])), x), [3, 2], [0, 3, 1, 4, 2, 5])
        let y = iota([2, 3, 4])
        let t = try eval(.transpose(Transpose(perm: [2, 0, 1])), y)
        XCTAssertEqual(t.shape, [4, 2, 3])
        // t[k][i][j] = y[i][j][k] = 12i + 4j + k.
        XCTAssertEqual(t.floats[(3 * 2 + 1) * 3 + 2], 12 + 8 + 3)
        assertShapeError(try Transpose(perm: [0, 0, 1]).inferShapes([[2, 3, 4]]), "not a permutation")
        assertShapeError(try Transpose(perm: [1, 0]).inferShapes([[2, 3, 4]]), "perm too short")
        assertClose(try eval(.reshape(Reshape(shape: [3, 2])), x), [3, 2], [0, 1, 2, 3, 4, 5])
        assertShapeError(try Reshape(shape: [4, 2]).inferShapes([[2, 3]]), "6 vs 8 elements")
        assertShapeError(try Reshape(shape: [-1, 2]).inferShapes([[2, 3]]), "unresolved -1")
    }

    func testPad() throws {
        let x = T([1, 2], [1, 2])
        // [begin_0, begin_1, end_0, end_1]: one row above, one column on each side.
        assertClose(try eval(.pad(Pad(pads: [1, 1, 0, 1], value: 9)), x), [2, 4], [9, 9, 9, 9, 9, 1, 2, 9])
        // Negative pads crop.
        assertClose(try eval(.pad(Pad(pads: [0, -1, 0, 2], value: 0)), x), [1, 3], [2, 0, 0])
        assertShapeError(try Pad(pads: [0, 0], value: 0).inferShapes([[1, 2]]), "pads for rank 1")
        assertShapeError(try Pad(pads: [0, -2, 0, -1], value: 0).inferShapes([[1, 2]]), "cropped below zero")
    }

    func testSlice() throws {
        let x = iota([2, 5])
        // Rows 0..<2, columns 1, 3 (step 2, end 4).
        assertClose(try eval(.slice(Slice(starts: [0, 1], ends: [2, 4], steps: [1, 2])), x), [2, 2], [1, 3, 6, 8])
        // A negative step walks backwards; end -1 means "through index 0".
        assertClose(try eval(.slice(Slice(starts: [1, 4], ends: [-1, -1], steps: [-1, -2])), x), [2, 3], [9, 7, 5, 4, 2, 0])
        // An end beyond the axis is clamped (INT_MAX means "to the end").
        assertClose(try eval(.slice(Slice(starts: [1, 3], ends: [Int.max, Int.max], steps: [1, 1])), x), [1, 2], [8, 9])
        XCTAssertEqual(try Slice(starts: [0, 3], ends: [2, 1], steps: [1, 1]).inferShapes([[2, 5]]), [[2, 0]])
        assertShapeError(try Slice(starts: [0], ends: [1], steps: [1]).inferShapes([[2, 5]]), "bounds for one of two axes")
        assertShapeError(try Slice(starts: [0, 0], ends: [2, 5], steps: [1, 0]).inferShapes([[2, 5]]), "step 0")
        assertShapeError(try Slice(starts: [0, 6], ends: [2, 5], steps: [1, 1]).inferShapes([[2, 5]]), "start beyond the axis")
    }

    func testConstant() throws {
        let c = Constant(T([2], [1, 2]))
        XCTAssertEqual(try c.inferShapes([]), [[2]])
        XCTAssertEqual(try c.reference([]), [T([2], [1, 2])])
        assertShapeError(try c.inferShapes([[2]]), "a constant takes no inputs")
        let ints = Constant(Tensor(shape: [3], ints: [1, 2, 3]))
        XCTAssertEqual(try ints.reference([])[0].ints, [1, 2, 3])
        assertShapeError(try Constant(Tensor(elementType: .float, shape: [4], storage: .floats([1]))).inferShapes([]), "short data")
    }
}
