import XCTest

final class LSegTestsPlaceholder: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
