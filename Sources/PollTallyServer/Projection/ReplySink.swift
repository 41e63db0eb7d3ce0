/// Where a projection actor sends finished replies: a connection, addressed by reply slot.
///
/// `deliver` is called from a projection actor's queue, or from the log writer's thread after a
/// sync (`ReplyDeliveries`), and must only hand the replies over (to the connection's own queue);
/// slots may arrive in any order and the sink puts them back in order.
protocol ReplySink: AnyObject, Sendable {
    func deliver(_ replies: [(slot: Int, text: String)])
}
