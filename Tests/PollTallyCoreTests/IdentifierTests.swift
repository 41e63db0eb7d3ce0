import Testing
@testable import PollTallyCore

@Suite("Identifier")
struct IdentifierTests {
    @Test("isAllowed is exactly A-Z a-z 0-9 _ - . : @, for every byte")
    func allowedBytes() {
        let allowed = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@".utf8))
        for byte in UInt8.min...UInt8.max {
            #expect(Identifier.isAllowed(byte) == allowed.contains(byte), "byte \(byte)")
        }
    }

    @Test("isValid: 1 to 64 allowed bytes")
    func validIDs() {
        #expect(Identifier.isValid("p"))
        #expect(Identifier.isValid(String(repeating: "x", count: 64)))
        #expect(!Identifier.isValid(String(repeating: "x", count: 65)))
        #expect(!Identifier.isValid(""))
        #expect(Identifier.isValid("voter-1.a:b@c_d"))
        for bad in ["a b", "a\u{0}", "é", "a/b", "a,b", "a\n"] { #expect(!Identifier.isValid(bad), "\(bad)") }
    }
}
