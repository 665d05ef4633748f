import Foundation

/// The path of a file in this test target's Fixtures folder.
func fixture(_ name: String) -> String {
    Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!.path
}
