/// A `polltally` subcommand.
protocol Command: Sendable {
    static var name: String { get }
    static var summary: String { get }
    static var usage: String { get }
    static var flags: Set<String> { get }
    static var positionals: Int { get }
    /// Runs with parsed arguments; returns the exit status.
    static func run(_ arguments: Arguments) throws(Arguments.UsageError) -> Int32
}

extension Command {
    static var positionals: Int { 0 }
}
