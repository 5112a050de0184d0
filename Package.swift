// swift-tools-version: 6.0
import PackageDescription

// System libraries (Debian): libzstd-dev, libopenblas-dev, libpng-dev, libjpeg62-turbo-dev,
// libprotobuf-c-dev. scripts/install-deps installs them.
let package = Package(
    name: "lseg-kit",
    products: [
        // The device product: Runtime and LSeg only (no protobuf-c, Convert or Quantize), as are
        // lseg-run and the C API library (liblseg.so, include/lseg.h). EdgeTests checks this.
        .library(name: "LSegRuntime", targets: ["Runtime", "LSeg"]),
        .library(name: "lseg", type: .dynamic, targets: ["LSegC"]),
        // For the libFuzzer package in Fuzz/, which fuzzes the ONNX reader too.
        .library(name: "LSegConvert", targets: ["Convert"]),
        .executable(name: "lseg-convert", targets: ["lseg-convert"]),
        .executable(name: "lseg-quantize", targets: ["lseg-quantize"]),
        .executable(name: "lseg-run", targets: ["lseg-run"]),
        .executable(name: "lseg-inspect", targets: ["lseg-inspect"]),
        .executable(name: "lseg-bench", targets: ["lseg-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims over system libraries, and our own intrinsics kernels.
        .target(name: "CZstd", linkerSettings: [.linkedLibrary("zstd")]),
        .target(name: "COpenBLAS", linkerSettings: [.linkedLibrary("openblas")]),
        .target(name: "CImageIO", linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),
        .target(name: "COnnx", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "CHash", cSettings: [.unsafeFlags(["-O3"])]),

        .target(name: "Runtime", dependencies: ["CZstd", "COpenBLAS", "CKernels"]),
        .target(name: "LSeg", dependencies: ["Runtime", "CImageIO"]),
        .target(name: "Convert", dependencies: ["Runtime", "COnnx", "CHash"]),
        .target(name: "Quantize", dependencies: ["Runtime", "LSeg"]),
        .target(name: "LSegC", dependencies: ["Runtime", "LSeg"]),

        .executableTarget(name: "lseg-convert", dependencies: [
            "Convert", "LSeg", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "lseg-quantize", dependencies: [
            "Quantize", "LSeg", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // No ArgumentParser: it imports Foundation, which would be linked into the static device binary.
        .executableTarget(name: "lseg-run", dependencies: ["Runtime", "LSeg"]),
        .executableTarget(name: "lseg-inspect", dependencies: [
            "Runtime", "Convert", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "lseg-bench", dependencies: [
            "Runtime", "LSeg", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .target(name: "TestSupport", dependencies: ["Runtime"], path: "Tests/TestSupport"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"]),
        .testTarget(name: "ConvertTests", dependencies: ["Convert", "Runtime", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LSegTests", dependencies: ["LSeg", "Runtime", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "QuantizeTests", dependencies: ["Quantize", "Convert", "LSeg", "Runtime", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "GoldenTests", dependencies: ["Convert", "Runtime", "LSeg", "TestSupport"]),
        .testTarget(name: "EdgeTests", dependencies: ["Convert", "Runtime", "LSeg", "LSegC", "TestSupport"]),
        .testTarget(name: "HostileTests", dependencies: ["Convert", "Runtime", "LSeg", "TestSupport"], exclude: ["Corpus"]),
    ]
)
