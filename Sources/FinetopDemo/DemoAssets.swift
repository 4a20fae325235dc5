import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the data the demo ships under `assets/`, from a clean clone as well as from a build
/// directory: `$FINETOP_ASSETS`, then the folders above the executable (`.build/<config>/finetop`
/// and its resolved `.build/<triple>/<config>/finetop`), then the source tree this file is in.
public enum DemoAssets {
    public static let digits = "data/digits.csv.gz"

    /// Every place looked at, in order, for an asset at `relativePath` (under an `assets` folder).
    public static func candidates(for relativePath: String, environment: [String: String],
                                  executablePaths: [String], sourceFile: String = #filePath) -> [String] {
        var roots: [String] = []
        if let dir = environment["FINETOP_ASSETS"], !dir.isEmpty { roots.append(dir) }
        for exe in executablePaths {
            for ancestor in ancestors(of: exe).prefix(5) {
                roots.append(ancestor + "/assets")
                roots.append(ancestor + "/share/finetop/assets")
            }
        }
        // Sources/FinetopDemo/DemoAssets.swift → the package root.
        if let root = ancestors(of: sourceFile).dropFirst(2).first { roots.append(root + "/assets") }
        var seen = Set<String>()
        return roots.map { $0 + "/" + relativePath }.filter { seen.insert($0).inserted }
    }

    /// The first candidate that exists, or an error that lists where finetop looked.
    public static func locate(_ relativePath: String, environment: [String: String],
                              executablePaths: [String] = currentExecutablePaths()) throws(DemoError) -> String {
        let places = candidates(for: relativePath, environment: environment, executablePaths: executablePaths)
        if let found = places.first(where: FileSystem.exists) { return found }
        throw DemoError("""
            cannot find the demo's data (\(relativePath)); looked in:
              \(places.joined(separator: "\n  "))
            Set FINETOP_ASSETS to the assets folder of a finetop checkout.
            """)
    }

    /// The directories containing `path`, nearest first (`/a/b/c` → `/a/b`, `/a`).
    static func ancestors(of path: String) -> [String] {
        var out: [String] = []
        var p = Substring(path)
        while let slash = p.lastIndex(of: "/") {
            p = p[..<slash]
            if p.isEmpty { break }
            out.append(String(p))
        }
        return out
    }

    /// This process's executable as invoked (`argv[0]`, made absolute) and as resolved by the kernel.
    public static func currentExecutablePaths() -> [String] {
        var paths: [String] = []
        if let argv0 = CommandLine.arguments.first, argv0.contains("/") {
            paths.append(argv0.hasPrefix("/") ? argv0 : currentDirectory() + "/" + argv0)
        }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            paths.append(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return paths
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
