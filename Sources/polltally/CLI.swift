#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Dispatches `polltally <subcommand> [flags]`.
enum CLI {
    static let commands: [any Command.Type] = [ServeCommand.self, WatchCommand.self, ReplayCommand.self, VerifyCommand.self, DumpCommand.self, BenchCommand.self]

    static var usage: String {
        var text = "usage: polltally <command> [flags]\n\ncommands:\n"
        for command in commands {
            text += "  " + command.name.padding(8) + command.summary + "\n"
        }
        text += "\nRun 'polltally <command> --help' for its flags."
        return text
    }

    static func main(_ arguments: [String]) -> Int32 {
        guard let name = arguments.first else {
            Output.err(usage)
            return 2
        }
        if name == "--help" || name == "-h" || name == "help" {
            Output.out(usage)
            return 0
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            Output.err("polltally: unknown command '\(name)'")
            Output.err(usage)
            return 2
        }
        do throws(Arguments.UsageError) {
            let parsed = try Arguments(Array(arguments.dropFirst()), flags: command.flags, positionals: command.positionals)
            if parsed.wantsHelp {
                Output.out(command.usage)
                return 0
            }
            return try command.run(parsed)
        } catch {
            Output.err("polltally \(name): \(error.message)")
            Output.err(command.usage)
            return 2
        }
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
