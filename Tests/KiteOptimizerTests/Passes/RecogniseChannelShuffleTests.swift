import KiteCore
@testable import KiteOptimizer
import XCTest

final class RecogniseChannelShuffleTests: XCTestCase {
    let pass = RecogniseChannelShuffle()

    /// Reshape -> Transpose -> Reshape back, which must become ChannelShuffle(groups)
    /// with the same outputs (the reference executor checks the group count).
    func check(input: [Int] = [2, 12, 3, 4], view: [Int], perm: [Int], groups: Int,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var b = GraphBuilder(input: input)
        let c = b.conv("x", out: input[1])
        let r = b.reshape(c, view, name: "view")
        let t = b.transpose(r, perm, name: "perm")
        let y = b.reshape(t, b.shape(c), name: "flatten")
        b.output(b.conv(y, out: 5))
        let (g, _) = try optimize(&b, [pass], file: file, line: line)
        XCTAssertEqual(kinds(g), ["conv", "channelShuffle", "conv"], file: file, line: line)
        XCTAssertEqual(g.nodes[1].op, .channelShuffle(ChannelShuffle(groups: groups)), file: file, line: line)
        XCTAssertEqual(g.nodes[1].origin, ["view", "perm", "flatten"], file: file, line: line)
        XCTAssertEqual(g.nodes[1].outputs, [y], file: file, line: line)
    }

    func testGroupsFirstFiveDimensional() throws {
        try check(view: [2, 3, 4, 3, 4], perm: [0, 2, 1, 3, 4], groups: 3)
    }

    func testChannelsPerGroupFirstIsAShuffleWithCOverGGroups() throws {
        try check(view: [2, 4, 3, 3, 4], perm: [0, 2, 1, 3, 4], groups: 4)
    }

    func testFlattenedSpatialFourDimensional() throws {
        try check(view: [2, 2, 6, 12], perm: [0, 2, 1, 3], groups: 2)
    }

    func testBatchOneThreeDimensional() throws {
        try check(input: [1, 12, 3, 4], view: [6, 2, 12], perm: [1, 0, 2], groups: 6)
    }

    func testShuffleNetV2ReferenceShuffleWithGathersBecomesShuffleAndSplit() throws {
        // x.reshape(C/2, 2, H*W).permute(1, 0, 2).reshape(2, -1, C/2, H, W); x[0], x[1]
        var b = GraphBuilder(input: [1, 8, 3, 3])
        let c = b.conv("x", out: 8)
        let r = b.reshape(c, [4, 2, 9])
        let t = b.transpose(r, [1, 0, 2])
        let v = b.reshape(t, [2, 1, 4, 3, 3])
        let odd = b.node(.gather(Gather(axis: 0, indices: [1], indicesShape: [])), v, name: "odd")
        let even = b.node(.gather(Gather(axis: 0, indices: [0], indicesShape: [])), v, name: "even")
        b.output(b.conv(even, out: 3), b.conv(odd, out: 3))
        let (g, report) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), ["conv", "channelShuffle", "split", "conv", "conv"])
        XCTAssertEqual(g.nodes[1].op, .channelShuffle(ChannelShuffle(groups: 4)))
        XCTAssertEqual(g.nodes[2].outputs, [even, odd])
        XCTAssertEqual(report.summaryLines, ["recognised 1 channel shuffle (1 with a channel split)"])
    }

    func testLeavesOtherPermutationsAndSharedIntermediates() throws {
        var b = GraphBuilder(input: [1, 12, 2, 2])
        // Not swapping axes 1 and 2.
        let t1 = b.transpose(b.reshape("x", [1, 3, 4, 2, 2]), [0, 1, 2, 4, 3])
        let o1 = b.reshape(t1, [1, 12, 2, 2])
        // The transposed view is read twice.
        let t2 = b.transpose(b.reshape("x", [1, 3, 4, 2, 2]), [0, 2, 1, 3, 4])
        let o2 = b.reshape(t2, [1, 12, 2, 2])
        // Not back to the input's shape.
        let t3 = b.transpose(b.reshape("x", [1, 3, 4, 2, 2]), [0, 2, 1, 3, 4])
        let o3 = b.reshape(t3, [1, 12, 4])
        b.output(o1, o2, t2, o3)
        let before = kinds(b.graph)
        let (g, _) = try optimize(&b, [pass])
        XCTAssertEqual(kinds(g), before)
    }
}
