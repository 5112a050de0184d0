import XCTest

final class ConvertTestsPlaceholder: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
