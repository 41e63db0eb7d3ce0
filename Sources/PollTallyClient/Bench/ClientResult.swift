/// What one load connection saw: replies, error replies (with a few samples), latencies, or why it stopped.
struct ClientResult: Sendable {
    var replies = 0
    var errors = 0
    var errorSamples: [String] = []
    var latency = LatencyHistogram()
    /// Set when the connection ended before every reply arrived.
    var failure: String?

    static let maxSamples = 5
}
