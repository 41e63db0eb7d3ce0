/// The rules for poll, option and voter ids: 1–64 bytes of `A-Z a-z 0-9 _ - . : @`.
///
/// Ids are kept as `String`s everywhere; this type only says which byte strings are ids, so the
/// parser, the codec and `verify` apply one rule.
public enum Identifier {
    /// The longest id, in bytes.
    public static let maxLength = 64

    /// Whether `byte` may appear in an id.
    @inlinable
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    /// Whether `bytes` is a valid id.
    public static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        let count = bytes.count
        guard count >= 1, count <= maxLength else { return false }
        return bytes.allSatisfy(isAllowed)
    }

    /// Whether `string` is a valid id.
    public static func isValid(_ string: String) -> Bool {
        isValid(string.utf8)
    }
}
