/// One poll's newest durable tally as an `UPDATE` line, rendered once per tick and shared by
/// every watcher of the poll (the bytes are one copy-on-write array, never copied per watcher).
struct WatchUpdate: Sendable {
    let poll: String
    let seq: UInt64
    /// The whole line, ending in `\n`.
    let line: [UInt8]
}

/// Something that receives pushed `UPDATE` lines: a connection that sent `WATCH`.
protocol WatchSubscriber: AnyObject, Sendable {
    var id: Int { get }
    /// Hands over the newest update of each changed poll. Called on the hub's queue; must not
    /// block: it either writes straight to a socket that takes the bytes at once or keeps them
    /// for the subscriber's own queue.
    func offer(_ updates: [WatchUpdate])
}
