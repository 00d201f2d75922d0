// swift-tools-version:6.0
import PackageDescription

/// Kernels and the executor are compiled for the host CPU: without a target CPU
/// swiftc emits SSE only and `addingProduct` becomes a libm call per lane.
let hostCPU: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-march=native", "-enforce-exclusivity=unchecked"]),
]

let package = Package(
    name: "Kite",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Kite", targets: ["Kite"]),
        .executable(name: "kite", targets: ["kite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // libprotobuf-c from the system (Debian: libprotobuf-c-dev).
        .systemLibrary(
            name: "CLibProtobufC",
            path: "Sources/CLibProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // protoc-c output for Schemas/*.proto (`make schemas` regenerates it).
        .target(
            name: "CProtobuf",
            dependencies: ["CLibProtobufC"],
            path: "CProtobuf",
            publicHeadersPath: "include",
            cSettings: [.unsafeFlags(["-w"])]
        ),
        .target(name: "KiteCore"),
        .target(name: "KiteONNX", dependencies: ["KiteCore", "CProtobuf"]),
        .target(name: "KiteOptimizer", dependencies: ["KiteCore"]),
        .target(name: "KiteFormat", dependencies: ["KiteCore", "CProtobuf"]),
        .target(name: "KiteKernels", swiftSettings: hostCPU),
        .target(name: "KiteRuntime", dependencies: ["KiteCore", "KiteKernels"], swiftSettings: hostCPU),
        .target(name: "KiteProfiler", dependencies: ["KiteCore", "KiteRuntime", "KiteKernels"], swiftSettings: hostCPU),
        .target(name: "Kite", dependencies: [
            "KiteCore", "KiteONNX", "KiteOptimizer", "KiteFormat", "KiteRuntime", "KiteProfiler",
        ]),
        .executableTarget(name: "kite", dependencies: [
            "Kite", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "KiteCoreTests", dependencies: ["KiteCore"]),
        .testTarget(name: "KiteONNXTests", dependencies: ["KiteONNX", "KiteCore"]),
        .testTarget(name: "KiteOptimizerTests", dependencies: ["KiteOptimizer", "KiteCore"]),
        .testTarget(name: "KiteFormatTests", dependencies: ["KiteFormat", "KiteCore"]),
        .testTarget(name: "KiteKernelsTests", dependencies: ["KiteKernels"], swiftSettings: hostCPU),
        .testTarget(name: "KiteRuntimeTests", dependencies: ["KiteRuntime", "KiteCore", "KiteKernels"], swiftSettings: hostCPU),
        .testTarget(name: "KiteProfilerTests", dependencies: ["KiteProfiler", "KiteRuntime", "KiteCore"]),
        .testTarget(name: "KiteEndToEndTests", dependencies: ["Kite"]),
    ]
)
