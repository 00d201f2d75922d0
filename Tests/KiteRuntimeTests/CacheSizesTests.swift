import Foundation
@testable import KiteKernels
@testable import KiteRuntime
import XCTest

/// Cache sizes as Linux's sysfs writes them, and the streaming threshold taken from the L2.
final class CacheSizesTests: XCTestCase {
    func testParsesSysfsSizes() {
        XCTAssertEqual(CacheSizes.parse("512K\n"), 512 * 1024)
        XCTAssertEqual(CacheSizes.parse("8M"), 8 << 20)
        XCTAssertEqual(CacheSizes.parse("4096"), 4096)
        XCTAssertNil(CacheSizes.parse(""))
        XCTAssertNil(CacheSizes.parse("K"))
        XCTAssertNil(CacheSizes.parse("0K"))
    }

    func testStreamingThresholdIsThreeL2s() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["KITE_STREAMING_BYTES"] != nil, "threshold set by the environment")
        XCTAssertEqual(Planner.streamingThresholdBytes, 3 * (CacheSizes.level2 ?? 1024 * 1024))
        if let l2 = CacheSizes.level2 {
            // Every cache level the OS lists is at least 1 KiB, and the L2 is one of them.
            XCTAssertTrue(CacheSizes.all().contains { $0.level == 2 && $0.bytes == l2 })
            XCTAssertGreaterThanOrEqual(l2, 1024)
        }
        // Blocks with small 1x1 weights stream from half the L2 on Intel cores.
        let l2 = CacheSizes.level2OrDefault
        XCTAssertEqual(Planner.lightStreamingThresholdBytes, CPUFeatures.intel ? l2 / 2 : 3 * l2)
    }

    func testReadsTheVendorFromCPUInfo() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/proc/cpuinfo"), "no /proc/cpuinfo")
        let vendor = CPUFeatures.cpuInfoField("vendor_id")
        XCTAssertFalse(vendor.isEmpty)
        XCTAssertEqual(CPUFeatures.intel, vendor == "GenuineIntel")
        XCTAssertTrue(CPUFeatures.cpuInfoField("flags").split(separator: " ").contains("fpu"))
        XCTAssertEqual(CPUFeatures.cpuInfoField("no such field"), "")
    }
}
