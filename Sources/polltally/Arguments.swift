/// A small flag parser: `--name value` or `--name=value`, and `--help`. Anything else is a usage
/// error, reported in one line followed by the usage, exit status 2.
struct Arguments {
    /// A command line the command cannot use; `message` is the one line printed above the usage.
    struct UsageError: Error {
        var message: String
    }

    private var values: [String: String] = [:]
    /// Positional arguments, in order.
    private(set) var positional: [String] = []
    private(set) var wantsHelp = false

    /// Parses `arguments` against the flags in `flags` (names without `--`); `positionals` is the most allowed.
    init(_ arguments: [String], flags: Set<String>, positionals: Int = 0) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" {
                wantsHelp = true
                continue
            }
            guard argument.hasPrefix("--") else {
                guard positional.count < positionals else { throw UsageError(message: "unexpected argument '\(argument)'") }
                positional.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard flags.contains(name) else { throw UsageError(message: "unknown flag '--\(name)'") }
            if value == nil {
                guard index < arguments.count else { throw UsageError(message: "flag '--\(name)' needs a value") }
                value = arguments[index]
                index += 1
            }
            values[name] = value
        }
    }

    func string(_ name: String) -> String? { values[name] }

    /// An integer flag within `range`, or the default.
    func integer<T: FixedWidthInteger>(_ name: String, default fallback: T, in range: ClosedRange<T>) throws(UsageError) -> T {
        guard let text = values[name] else { return fallback }
        guard let value = T(text), range.contains(value) else {
            throw UsageError(message: "--\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }
}
