#!/usr/bin/env python3
"""Holds N concurrent connections to a running PollTally server and reports its memory.

Most connections are idle; some vote every few hundred milliseconds (and time their replies);
some WATCH the poll (and count the UPDATE lines pushed to them). The server's resident memory
(VmRSS from /proc/<pid>/status) is printed before connecting, once all are connected and
answered PING, at the end of the hold, and after they all close; the memory per connection is
(connected - before) / N.

    polltally serve --port 0 --data "$(mktemp -d)/data" --fsync never &
    python3 Benchmarks/connections.py --port PORT --pid PID --connections 10000

Python 3 standard library only; raises its own open-file limit (resource.setrlimit).
"""

import argparse
import resource
import selectors
import socket
import sys
import time


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def threads_of(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class Client:
    __slots__ = ("sock", "role", "index", "buffer", "sent_at", "latencies", "updates", "replies", "next_vote", "votes",
                 "closed")

    def __init__(self, sock, role, index):
        self.sock = sock
        self.role = role
        self.index = index
        self.buffer = b""
        self.sent_at = []
        self.latencies = []
        self.updates = 0
        self.replies = []
        self.next_vote = 0.0
        self.votes = 0
        self.closed = False


def control_request(sock, line, block=False):
    sock.sendall(line.encode() + b"\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("the server closed the control connection")
        data += chunk
        if block and data.endswith(b"END\n"):
            return data.decode().splitlines()
        if not block and data.endswith(b"\n"):
            return data.decode().splitlines()


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's pid, for /proc/<pid>/status")
    parser.add_argument("--connections", "-n", type=int, default=10_000)
    parser.add_argument("--voters", type=int, default=200, help="connections that vote every --vote-interval")
    parser.add_argument("--watchers", type=int, default=200, help="connections that WATCH the poll")
    parser.add_argument("--vote-interval", type=float, default=0.3, help="seconds between a voter's votes")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold every connection open")
    parser.add_argument("--poll", default="conn")
    args = parser.parse_args()

    wanted = args.connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        sys.exit("open-file limit %d (hard %d) is below %d; raise the hard limit" % (soft, hard, wanted))

    control = socket.create_connection((args.host, args.port), timeout=30)
    reply = control_request(control, "CREATE %s a,b,c,d Connections benchmark" % args.poll)[0]
    if not (reply.startswith("OK") or reply.startswith("ERR poll-exists")):
        sys.exit("CREATE: " + reply)
    time.sleep(1.0)
    before = rss_kib(args.pid)
    threads_before = threads_of(args.pid)
    print("server pid %d: VmRSS before %d KiB, %d threads" % (args.pid, before, threads_before), flush=True)

    # Connect everyone (the kernel completes the handshakes; the server accepts as fast as it can).
    started = time.time()
    clients = []
    for i in range(args.connections):
        sock = socket.create_connection((args.host, args.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        role = "watch" if i < args.watchers else "vote" if i < args.watchers + args.voters else "idle"
        clients.append(Client(sock, role, i))
    connect_seconds = time.time() - started

    selector = selectors.DefaultSelector()
    for client in clients:
        client.sock.setblocking(False)
        selector.register(client.sock, selectors.EVENT_READ, client)

    def pump(until, on_line, done=lambda: False):
        """Reads whatever arrives until `until` (a time) or until on_line returns True for all."""
        while time.time() < until:
            events = selector.select(timeout=max(0.0, min(0.05, until - time.time())))
            for key, _ in events:
                client = key.data
                try:
                    data = client.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    client.closed = True
                    selector.unregister(client.sock)
                    continue
                client.buffer += data
                while b"\n" in client.buffer:
                    line, client.buffer = client.buffer.split(b"\n", 1)
                    on_line(client, line.decode("utf-8", "replace"))
            if done():
                return

    # Every connection answers PING: all accepted, none refused.
    waiting = {"n": len(clients)}
    refused = []

    def on_ping(client, line):
        if line == "PONG":
            waiting["n"] -= 1
        elif line.startswith("ERR too-many-connections"):
            refused.append(client.index)
            waiting["n"] -= 1
    for client in clients:
        client.sock.send(b"PING\n")
    pump(time.time() + 60, on_ping, lambda: waiting["n"] == 0)
    accepted_seconds = time.time() - started
    stats = control_request(control, "STATS", block=True)
    held = next((line for line in stats if line.startswith("STAT connections ")), "?")
    connected = rss_kib(args.pid)
    print("%d connections opened in %.1f s, all answered PING by %.1f s (%d refused, %d unanswered); server %s"
          % (len(clients), connect_seconds, accepted_seconds, len(refused), waiting["n"], held), flush=True)
    print("server VmRSS with %d connections: %d KiB (+%d KiB, %.1f KiB per connection), %d threads"
          % (len(clients), connected, connected - before, (connected - before) / len(clients), threads_of(args.pid)),
          flush=True)

    # Hold: watchers WATCH, voters vote every interval (staggered), the rest stay idle.
    for client in clients:
        if client.role == "watch":
            client.sock.send(("WATCH %s\n" % args.poll).encode())
    now = time.time()
    voters = [c for c in clients if c.role == "vote"]
    for n, client in enumerate(voters):
        client.next_vote = now + args.vote_interval * n / max(1, len(voters))

    def on_hold(client, line):
        if line.startswith("UPDATE "):
            client.updates += 1
        elif client.role == "vote" and client.sent_at:
            client.latencies.append(time.time() - client.sent_at.pop(0))
            client.replies.append(line)

    hold_end = time.time() + args.hold
    peak = connected
    next_sample = time.time() + 1
    options = "abcd"
    while time.time() < hold_end:
        now = time.time()
        for client in voters:
            if now >= client.next_vote and not client.closed:
                option = options[(client.index + client.votes) % 4]
                client.sock.send(("VOTE %s voter%d %s\n" % (args.poll, client.index, option)).encode())
                client.sent_at.append(time.time())
                client.votes += 1
                client.next_vote += args.vote_interval
        pump(min(hold_end, time.time() + 0.02), on_hold)
        if now >= next_sample:
            peak = max(peak, rss_kib(args.pid))
            next_sample = now + 1
    end_of_hold = rss_kib(args.pid)

    # Everyone still there?
    waiting["n"] = 0
    alive = {"n": 0}

    def on_final(client, line):
        if line == "PONG":
            alive["n"] += 1
            waiting["n"] -= 1
        else:
            on_hold(client, line)
    for client in clients:
        if not client.closed:
            client.sock.send(b"PING\n")
            waiting["n"] += 1
    pump(time.time() + 30, on_final, lambda: waiting["n"] <= 0)

    latencies = [x for c in voters for x in c.latencies]
    bad = [r for c in voters for r in c.replies if not r.startswith("OK ")]
    watcher_updates = [c.updates for c in clients if c.role == "watch"]
    print("held %.0f s: %d votes answered (%d not OK), reply latency p50 %.2f ms, p99 %.2f ms, max %.2f ms"
          % (args.hold, len(latencies), len(bad), percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
             (max(latencies) if latencies else float("nan")) * 1000))
    if watcher_updates:
        print("watchers: %d, UPDATE lines each: min %d, max %d" % (len(watcher_updates), min(watcher_updates), max(watcher_updates)))
    print("server VmRSS at the end of the hold: %d KiB (sampled peak %d KiB, VmHWM %d KiB); %d of %d connections answered a final PING"
          % (end_of_hold, peak, rss_kib(args.pid, "VmHWM"), alive["n"], len(clients)), flush=True)

    for client in clients:
        client.sock.close()
    time.sleep(3)
    stats = control_request(control, "STATS", block=True)
    held = next((line for line in stats if line.startswith("STAT connections ")), "?")
    print("after closing them all: server VmRSS %d KiB, %s" % (rss_kib(args.pid), held))
    control.close()
    ok = not refused and waiting["n"] <= 0 and alive["n"] == len(clients) and not bad
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
