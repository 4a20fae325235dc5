import FinetopCore
@testable import FinetopDemo
import Foundation
import Testing

@Suite struct DataTests {
    @Test func shippedDigitsDecodeToAllRows() throws {
        let d = try digits()
        #expect(d.count == 1797)
        #expect(d.images.count == 1797 * 64)
        #expect(Set(d.labels) == Set(0...9))
        #expect(d.images.allSatisfy { (0...1).contains($0) })
        #expect(d.labels.prefix(3) == [0, 1, 2])
    }

    @Test func corruptGzipIsAnErrorNotACrash() throws {
        let path = try DemoAssets.locate(DemoAssets.digits, environment: [:], executablePaths: [])
        var bytes = try FileSystem.readFile(path)
        bytes[bytes.count / 2] ^= 0x55
        #expect(throws: GzipError.self) { try Gzip.decompress(bytes) }
        #expect(throws: GzipError.self) { try Gzip.decompress(Array(bytes.prefix(100))) }
        #expect(throws: GzipError.self) { try Gzip.decompress([1, 2, 3]) }
    }

    @Test func storedBlockInflates() throws {
        let text = Array("hi\n".utf8)
        let crc = CRC32.checksum(text)
        var gz: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]
        gz += [1, 3, 0, 0xFC, 0xFF] + text
        gz += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) } + [3, 0, 0, 0]
        #expect(try Gzip.decompress(gz) == text)
    }

    @Test func csvWithABadRowIsRejected() {
        #expect(throws: DemoError.self) { try Digits.parse(csv: Array("1,2,3\n".utf8), path: "x.csv") }
    }

    @Test func assetsAreLookedUpInOrder() {
        let places = DemoAssets.candidates(for: "data/x", environment: ["FINETOP_ASSETS": "/opt/a"],
                                           executablePaths: ["/src/finetop/.build/debug/finetop"],
                                           sourceFile: "/src/finetop/Sources/FinetopDemo/DemoAssets.swift")
        #expect(places.first == "/opt/a/data/x")
        #expect(places.contains("/src/finetop/assets/data/x"))
        #expect(places.firstIndex(of: "/src/finetop/.build/assets/data/x")
                    ?? 99 < places.firstIndex(of: "/src/finetop/assets/data/x") ?? 0)
    }

    @Test func missingAssetsSayWhereFinetopLooked() {
        #expect {
            try DemoAssets.locate("data/none.csv.gz", environment: ["FINETOP_ASSETS": "/nonexistent"],
                                  executablePaths: [])
        } throws: { error in
            "\(error)".contains("/nonexistent/data/none.csv.gz") && "\(error)".contains("FINETOP_ASSETS")
        }
    }
}
