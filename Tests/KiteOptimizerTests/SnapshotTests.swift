import KiteCore
@testable import KiteOptimizer
import XCTest

/// The optimised mini networks' text dumps (with origins), compared line for
/// line with the ones recorded below. When a change is intended, copy the
/// dump the failure prints over the recorded one.
final class SnapshotTests: XCTestCase {
    func assertSnapshot(_ b: GraphBuilder, _ recorded: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var b = b
        let (g, _) = try optimize(&b, PassManager.allPasses, file: file, line: line)
        let dump = g.dump(origins: true)
        if dump != recorded {
            XCTFail("the optimised graph changed; if intended, record this dump:\n\(dump)", file: file, line: line)
        }
    }

    func testMobileNetV2Block() throws {
        try assertSnapshot(MiniNetworkTests.mobileNetV2Block(), """
            input x [1,8,6,6]
            conv1 Conv/PointwiseConv (x) -> (activation3_out [1,48,6,6]) k=1x1 s=1,1 p=0,0,0,0 d=1,1 g=1 cout=48 bias act=ReLU6 <- conv1, scaleshift2, activation3
            conv4 Conv/DepthwiseConv (activation3_out) -> (activation6_out [1,48,6,6]) k=3x3 s=1,1 p=1,1,1,1 d=1,1 g=48 cout=48 bias act=ReLU6 <- conv4, scaleshift5, activation6
            conv7 Conv/PointwiseConv (activation6_out, x) -> (add9_out [1,8,6,6]) k=1x1 s=1,1 p=0,0,0,0 d=1,1 g=1 cout=8 bias residual <- conv7, scaleshift8, add9
            globalaveragepool10 GlobalAveragePool (add9_out) -> (globalaveragepool10_out [1,8,1,1]) <- globalaveragepool10
            fullyconnected12 FullyConnected (globalaveragepool10_out) -> (add13_out [1,10]) n=10 k=8 bias <- reshape11, fullyconnected12, add13
            output add13_out [1,10]

            """)
    }

    func testShuffleNetV2Unit() throws {
        try assertSnapshot(MiniNetworkTests.shuffleNetV2Unit(), """
            input x [1,8,5,5]
            slice1 ChannelSplit (x) -> (slice1_out [1,4,5,5], slice2_out [1,4,5,5]) axis=1 sizes=4,4 <- slice1, slice2
            conv3 Conv/PointwiseConv (slice2_out) -> (activation5_out [1,4,5,5]) k=1x1 s=1,1 p=0,0,0,0 d=1,1 g=1 cout=4 bias act=ReLU <- conv3, scaleshift4, activation5
            conv6 Conv/DepthwiseConv (activation5_out) -> (scaleshift7_out [1,4,5,5]) k=3x3 s=1,1 p=1,1,1,1 d=1,1 g=4 cout=4 bias <- conv6, scaleshift7
            conv8 Conv/PointwiseConv (scaleshift7_out) -> (activation10_out [1,4,5,5]) k=1x1 s=1,1 p=0,0,0,0 d=1,1 g=1 cout=4 bias act=ReLU <- conv8, scaleshift9, activation10
            concat11 Concat (slice1_out, activation10_out) -> (concat11_out [1,8,5,5]) axis=1 <- concat11
            reshape14 ChannelShuffle (concat11_out) -> (reshape14_out [1,8,5,5]) groups=2 <- reshape12, transpose13, reshape14
            output reshape14_out [1,8,5,5]

            """)
    }
}
