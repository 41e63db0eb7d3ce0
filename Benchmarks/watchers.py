#!/usr/bin/env python3
"""Holds N connections that WATCH one poll and read everything pushed to them, discarding it.

For measuring what fan-out costs a running PollTally server: start this, then run the load
(`polltally bench ... --setup no`) and compare with a run without watchers. One thread reads all
connections through an epoll selector with non-blocking recv_into a reused buffer and only counts
bytes and newlines, so the reader keeps up and never backs the server up.

    polltally serve --port 0 --data "$(mktemp -d)/data" --fsync never &
    python3 Benchmarks/watchers.py --port PORT --watchers 1000 --poll p0 --create-polls 100 &
    # wait for "watching" on stdout, then:
    polltally bench --port PORT --votes 300000 --connections 16 --depth 16 --setup no
    kill -INT %2    # prints the summary: lines per watcher, and whether all ended on the same UPDATE

`--create-polls N` first creates p0..p<N-1> with options o0..o<options-1> exactly as
`polltally bench` does, so that bench can run with `--setup no` (bench refuses to create polls
that exist, and WATCH needs the poll to exist). With `--watchers 0` it only creates the polls.

Python 3 standard library only; raises its own open-file limit (resource.setrlimit).
"""

import argparse
import resource
import selectors
import signal
import socket
import sys
import time


def request(sock, lines):
    """Sends lines and reads one reply line per line (simple blocking helper for setup)."""
    sock.sendall("".join(line + "\n" for line in lines).encode())
    replies = []
    buffer = b""
    while len(replies) < len(lines):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection during setup")
        buffer += chunk
        while b"\n" in buffer and len(replies) < len(lines):
            line, buffer = buffer.split(b"\n", 1)
            replies.append(line.decode())
    return replies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--poll", default="p0")
    parser.add_argument("--create-polls", type=int, default=0, help="create p0..p<N-1> first, as bench would")
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: until SIGINT/SIGTERM)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.watchers + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    if args.create_polls:
        setup = socket.create_connection((args.host, args.port))
        options = ",".join("o%d" % i for i in range(args.options))
        replies = request(setup, ["CREATE p%d %s bench poll %d" % (i, options, i) for i in range(args.create_polls)])
        bad = [r for r in replies if not r.startswith("OK ")]
        if bad:
            raise SystemExit("CREATE failed: %s" % bad[0])
        setup.close()
        print("created %d polls" % args.create_polls, flush=True)
    if args.watchers == 0:
        return

    selector = selectors.DefaultSelector()
    socks = []
    for _ in range(args.watchers):
        sock = socket.create_connection((args.host, args.port))
        sock.sendall(("WATCH %s\n" % args.poll).encode())
        sock.setblocking(False)
        socks.append(sock)
    # Per connection: bytes, lines, and the last complete line seen.
    stats = {sock.fileno(): [0, 0, b"", b""] for sock in socks}
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ, stats[sock.fileno()])

    stop = [False]

    def finish(*_):
        stop[0] = True

    signal.signal(signal.SIGINT, finish)
    signal.signal(signal.SIGTERM, finish)

    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    started = time.monotonic()
    announced = False
    closed = 0
    while not stop[0]:
        if args.duration and time.monotonic() - started >= args.duration:
            break
        for key, _ in selector.select(timeout=0.2):
            sock, record = key.fileobj, key.data
            while True:
                try:
                    n = sock.recv_into(buffer)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionResetError:
                    n = 0
                if n == 0:
                    selector.unregister(sock)
                    closed += 1
                    break
                chunk = view[:n].tobytes()
                record[0] += n
                record[1] += chunk.count(b"\n")
                # Keep only the last complete line (for the convergence check at the end).
                text = record[3] + chunk
                end = text.rfind(b"\n")
                if end >= 0:
                    start = text.rfind(b"\n", 0, end) + 1
                    record[2] = text[start:end]
                    record[3] = text[end + 1:]
                else:
                    record[3] = text
                if n < len(buffer):
                    break
        if not announced and all(record[1] >= 2 for record in stats.values()):
            announced = True
            print("watching: %d connections on %s" % (len(socks), args.poll), flush=True)

    lines = sorted(record[1] for record in stats.values())
    last = {record[2] for record in stats.values()}
    total_bytes = sum(record[0] for record in stats.values())
    print("watchers %d, closed %d, lines per watcher min %d median %d max %d, %.1f MB received" % (
        len(socks), closed, lines[0], lines[len(lines) // 2], lines[-1], total_bytes / 1e6))
    print("distinct last lines: %d%s" % (len(last), (": " + next(iter(last)).decode()) if len(last) == 1 else ""))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
