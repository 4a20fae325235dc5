// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "finetop",
    // Linux only, and honest about it: the dashboard waits on inotify, reads st_mtim and Linux's
    // signal set, and only Linux is built and tested (no macOS platform is claimed here).
    products: [
        .executable(name: "finetop", targets: ["finetop"]),
        .library(name: "FinetopCore", targets: ["FinetopCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // ncursesw's headers are in the default include path; pkg-config would add flags SwiftPM refuses.
        .systemLibrary(name: "CNcurses", providers: [.apt(["libncurses-dev"])]),
        // Protos/ holds the trimmed TensorBoard .proto files; their Swift code is committed in Generated/.
        .target(
            name: "FinetopCore",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"]),
        .target(name: "FinetopDiagnosis", dependencies: ["FinetopCore"]),
        .target(name: "FinetopTUI", dependencies: ["FinetopCore", "FinetopDiagnosis", "CNcurses"]),
        .target(name: "FinetopDemo", dependencies: ["FinetopCore"]),
        // Code only the benchmark, the fuzzer and the tests use (a TensorBoard writer, the fuzz
        // target), kept out of the modules `finetop` ships.
        .target(name: "FinetopTestSupport", dependencies: ["FinetopCore"]),
        .executableTarget(
            name: "finetop",
            dependencies: [
                "FinetopCore", "FinetopDiagnosis", "FinetopTUI", "FinetopDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "finetop-bench",
            dependencies: ["FinetopCore", "FinetopDiagnosis", "FinetopTUI", "FinetopTestSupport"]),
        .testTarget(name: "FinetopCoreTests", dependencies: ["FinetopCore", "FinetopTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FinetopDiagnosisTests", dependencies: ["FinetopDiagnosis", "FinetopCore"],
                    resources: [.copy("Corpus")]),
        .testTarget(name: "FinetopTUITests", dependencies: ["FinetopTUI", "FinetopCore", "FinetopDiagnosis"],
                    resources: [.copy("Snapshots")]),
        .testTarget(name: "FinetopDemoTests", dependencies: ["FinetopDemo", "FinetopCore"]),
        // Drives the built `finetop` binary: tmux for the dashboard, real Keras for the helpers.
        .testTarget(name: "EndToEndTests", dependencies: ["FinetopCore", "finetop"],
                    exclude: ["keras_toggle_job.py"]),
    ]
)
