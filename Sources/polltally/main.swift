#if canImport(Glibc)
@preconcurrency import Glibc
#endif

exit(CLI.main(Array(CommandLine.arguments.dropFirst())))
