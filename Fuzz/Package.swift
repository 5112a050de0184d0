// swift-tools-version: 6.0
import PackageDescription

// libFuzzer targets over lseg-kit's readers. Not part of the main build: scripts/fuzz builds
// them with -sanitize=fuzzer,address (each main.swift defines LLVMFuzzerTestOneInput and
// libFuzzer supplies main, hence -parse-as-library).
let package = Package(
    name: "lseg-fuzz",
    dependencies: [.package(name: "lseg-kit", path: "..")],
    targets: [
        .executableTarget(name: "FuzzONNX", dependencies: [.product(name: "LSegConvert", package: "lseg-kit")]),
        .executableTarget(name: "FuzzPack", dependencies: [.product(name: "LSegRuntime", package: "lseg-kit")]),
        .executableTarget(name: "FuzzNPY", dependencies: [.product(name: "LSegRuntime", package: "lseg-kit")]),
        .executableTarget(name: "FuzzImage", dependencies: [.product(name: "LSegRuntime", package: "lseg-kit")]),
    ]
)
