import Foundation
import TestSupport
import XCTest

/// Files under Tests/LSegTests/Fixtures (made by the make_*.py scripts there).
enum FixtureFiles {
    static let folder = repositoryRoot.appendingPathComponent("Tests/LSegTests/Fixtures")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw LSegTestError.missingFixture(name)
        }
        return [UInt8](data)
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes(name)))
    }
}

enum LSegTestError: Error { case missingFixture(String) }
