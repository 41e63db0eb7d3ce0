/// What the runner needs from each kind of server besides the load: setup before it, then
/// verification and a memory figure after it. One control connection, separate from the load.
protocol TargetDriver {
    /// Creates the polls (when `setup`) and returns the dialect the load speaks.
    func prepare(_ workload: Workload, setup: Bool) throws(ClientError) -> Dialect

    /// Compares the server's tallies with `expected`.
    func verify(_ workload: Workload, dialect: Dialect) throws(ClientError) -> Verification

    /// The server's own resident-set figure and where it came from, when no pid was given.
    func residentBytes() -> (bytes: Int, source: String)?

    func close()
}
