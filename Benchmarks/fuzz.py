#!/usr/bin/env python3
"""Fuzz soak for PollTally: many connections send seeded random and mutated request lines to a
built `polltally serve`, in random-sized chunks, while reading the replies.

The generator is the one of Tests/PollTallyServerTests/FuzzTests.swift, step for step
(`--digest` prints the number the Swift test pins). Each connection checks every reply against
the framing rules (a blank line gets none, a line over 4096 bytes exactly one
`ERR line-too-long`, everything else exactly one line of the right kind), then sends a sentinel
and PING. Afterwards the soak checks that the server answers PING, prints its RSS, compares
`polltally replay` with the TALLY of every poll, stops the server with SIGTERM and runs
`polltally verify`.

    bash Benchmarks/fuzz.sh [--lines 2000000]           # builds the release binary, then runs this
    python3 Benchmarks/fuzz.py --binary .build/release/polltally [--lines 2000000]
    python3 Benchmarks/fuzz.py --digest --seed 1 --lines 10000

Python 3 standard library only. Exit status 0 when every check passed, 1 otherwise.
"""

import argparse
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MASK = (1 << 64) - 1
MAX_LINE = 4096
POLLS = ["p0", "p1", "p2", "p3"]
TPOLLS = ["t%d" % i for i in range(20)]
OPTIONS = ["a", "b", "c", "d"]
MULTI_LINE_VERBS = {b"HELP", b"RESULTS", b"POLLS", b"STATS", b"WATCH", b"TAIL", b"QUIT"}
KNOWN_VERBS = {b"PING", b"CREATE", b"VOTE", b"UNVOTE", b"CLOSE", b"TALLY", b"RESULTS", b"POLLS", b"WATCH",
               b"UNWATCH", b"TAIL", b"STATS", b"AUTH", b"HELP", b"QUIT"}
REQUEST_CODES = {"bad-request", "poll-exists", "no-such-poll", "no-such-option", "poll-closed", "no-vote"}
SEPARATORS = b" \t"


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


class Generator:
    """FuzzLineGenerator of FuzzTests.swift, draw for draw."""

    def __init__(self, seed):
        self.random = SplitMix64(seed)

    def below(self, n):
        return self.random.next() % n

    def byte(self):
        return self.random.next() & 0xFF

    def poll(self):
        return POLLS[self.below(4)] if self.below(10) < 7 else TPOLLS[self.below(20)]

    def voter(self):
        return "v%d" % self.below(200)

    def option(self):
        return OPTIONS[self.below(4)]

    def valid(self):
        r = self.below(100)
        if r < 45:
            p = self.poll(); v = self.voter(); o = self.option()
            return "VOTE %s %s %s" % (p, v, o)
        if r < 55:
            p = self.poll(); v = self.voter()
            return "UNVOTE %s %s" % (p, v)
        if r < 70:
            return "TALLY %s" % self.poll()
        if r < 80:
            return "PING"
        if r < 88:
            p = self.poll(); q = self.below(1000)
            return "CREATE %s a,b,c,d Question %d" % (p, q)
        if r < 89:
            return "CLOSE %s" % TPOLLS[self.below(20)]
        if r < 92:
            return "UNWATCH"
        if r < 94:
            return "AUTH tok%d" % self.below(100)
        p = self.poll(); v = self.voter(); o = self.option()
        return "vote %s %s %s" % (p, v, o)

    def candidate(self):
        m = self.below(1000)
        if m < 450:
            return self.valid().encode()
        if m < 520:  # flipped bytes
            line = bytearray(self.valid().encode())
            flips = 1 + self.below(3)
            for _ in range(flips):
                i = self.below(len(line))
                line[i] = self.byte()
            return bytes(line)
        if m < 570:  # truncated
            line = self.valid().encode()
            return line[:self.below(len(line))]
        if m < 610:  # random binary
            n = 1 + self.below(200)
            return bytes(self.byte() for _ in range(n))
        if m < 613:  # huge: eight bytes per draw, little-endian, no \n
            n = MAX_LINE + 1 + self.below(60000)
            words = (n + 7) // 8
            raw = b"".join(self.random.next().to_bytes(8, "little") for _ in range(words))
            return raw[:n].replace(b"\n", b"x")
        if m < 618:  # at the line limit, either side
            n = MAX_LINE - 1 + self.below(4)
            line = b"PING" + b" " * (n - 4)
            if self.below(2) == 0:
                line += b"\r"
            return line
        if m < 668:  # NUL
            line = bytearray(self.valid().encode())
            line.insert(self.below(len(line) + 1), 0)
            return bytes(line)
        if m < 718:  # \r
            line = bytearray(self.valid().encode())
            line.insert(self.below(len(line) + 1), 13)
            return bytes(line)
        if m < 768:  # random verbs
            verbs = ["FROB", "VOTEX", "UNVOTE", "TALLYHO", "PING", "Ping", "UNWATCH", "AUTH", "CREATE", "CLOSED", "X", "VOTE"]
            parts = [verbs[self.below(len(verbs))]]
            for _ in range(self.below(5)):
                k = self.below(6)
                if k == 0: parts.append(self.poll())
                elif k == 1: parts.append(self.voter())
                elif k == 2: parts.append(self.option())
                elif k == 3: parts.append("*")
                elif k == 4: parts.append("")
                else: parts.append("  ")
            return " ".join(parts).encode()
        if m < 808:  # ids around 64 bytes
            ident = "q" * (60 + self.below(10))
            k = self.below(3)
            if k == 0: return ("VOTE %s v1 a" % ident).encode()
            if k == 1: return ("TALLY %s" % ident).encode()
            return ("VOTE p0 %s a" % ident).encode()
        if m < 848:  # many commas
            name = TPOLLS[self.below(20)] if self.below(2) == 0 else "m%d" % self.below(30)
            count = 1 + self.below(100)
            options = ["o%d" % i for i in range(count)]
            if self.below(4) == 0:
                options.insert(self.below(len(options) + 1), "")
            return ("CREATE %s %s" % (name, ",".join(options))).encode()
        if m < 898:  # blank
            return ["", " ", "\t", "  \t ", "\r"][self.below(5)].encode()
        if m < 948:  # odd whitespace
            runs = [" ", "\t", "  ", " \t "]
            out = []
            for ch in self.valid():
                out.append(runs[self.below(4)] if ch == " " else ch)
            return "".join(out).encode()
        n = 1 + self.below(8)  # trailing garbage
        line = (self.valid() + " ").encode()
        return line + bytes(0x21 + self.below(94) for _ in range(n))

    def next_line(self):
        while True:
            line = self.candidate()
            if not any(is_multi_line(piece) for piece in framed(line)):
                return line + b"\n"


def framed(data):
    """Splits at \\n and drops one \\r before each, as the server frames lines."""
    pieces = data.split(b"\n")
    return [p[:-1] if p.endswith(b"\r") else p for p in pieces]


def verb(line):
    tokens = line.replace(b"\t", b" ").split(b" ")
    for token in tokens:
        if token:
            return bytes(b - 0x20 if 0x61 <= b <= 0x7A else b for b in token)
    return None


def is_multi_line(line):
    return len(line) <= MAX_LINE and verb(line) in MULTI_LINE_VERBS


def expectation(line):
    """What the reply to one framed line must be: None for a blank line."""
    if len(line) > MAX_LINE:
        return "too-long"
    v = verb(line)
    if v is None:
        return None
    if v not in KNOWN_VERBS:
        return "unknown"
    if v == b"PING" and len([t for t in line.replace(b"\t", b" ").split(b" ") if t]) == 1:
        return "pong"
    return v.decode()


def accepts(expect, reply):
    if expect == "too-long":
        return reply.startswith("ERR line-too-long ")
    if expect == "pong":
        return reply == "PONG"
    if expect == "unknown":
        return reply.startswith("ERR unknown-command ")
    if reply.startswith("ERR "):
        parts = reply.split(" ", 2)
        return len(parts) > 1 and parts[1] in REQUEST_CODES
    if expect == "TALLY":
        return reply.startswith("TALLY ")
    if expect == "AUTH":
        return reply == "OK no token is required"
    if expect == "UNWATCH":
        return reply == "OK"
    return reply.startswith("OK ") and reply[3:].isdigit()


def digest(seed, count):
    generator = Generator(seed)
    h = 0xCBF29CE484222325
    for _ in range(count):
        for b in generator.next_line():
            h ^= b
            h = (h * 0x100000001B3) & MASK
    return h


# --- the soak ---------------------------------------------------------------------------------

class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, text):
        with self.lock:
            self.items.append(text)
            if len(self.items) <= 20:
                print("FAIL: " + text, file=sys.stderr, flush=True)


def fuzz_connection(port, seed, index, lines, failures, totals):
    generator = Generator(seed)
    chunks = SplitMix64(seed ^ 0xC0FFEE)
    expected = collections.deque()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sentinel = "zz-end-%d" % index
    final = "ERR no-such-poll no poll named " + sentinel
    generated_done = threading.Event()
    stats = {"replies": 0, "too_long": 0, "bytes": 0, "ok": 0}

    def writer():
        try:
            pending = bytearray()
            for _ in range(lines):
                line = generator.next_line()
                for piece in framed(line)[:-1]:
                    e = expectation(piece)
                    if e is not None:
                        expected.append(e)
                pending += line
                if len(pending) >= 256 * 1024:
                    send_chunks(pending)
                    pending = bytearray()
            pending += ("\nTALLY %s\nPING\n" % sentinel).encode()
            send_chunks(pending)
        except OSError as error:
            failures.add("connection %d: send: %s" % (index, error))
        finally:
            generated_done.set()

    def send_chunks(data):
        stats["bytes"] += len(data)
        view = memoryview(data)
        offset = 0
        while offset < len(view):
            kind = chunks.next() % 10
            size = (chunks.next() % 16 + 1) if kind == 0 else (chunks.next() % 1500 + 1) if kind < 7 else (chunks.next() % 65536 + 1)
            end = min(len(view), offset + size)
            sock.sendall(view[offset:end])
            offset = end

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    reader = sock.makefile("rb", buffering=1 << 16)
    mismatches = 0
    count = 0
    try:
        while True:
            raw = reader.readline()
            if not raw:
                failures.add("connection %d: end of file after %d replies" % (index, count))
                return
            reply = raw.rstrip(b"\n").decode("utf-8", "replace")
            if reply == final:
                break
            count += 1
            if not expected:
                failures.add("connection %d: reply %d with no request waiting: %r" % (index, count, reply))
                return
            e = expected.popleft()
            if e == "too-long":
                stats["too_long"] += 1
            if reply.startswith("OK "):
                stats["ok"] += 1
            if not accepts(e, reply):
                mismatches += 1
                if mismatches <= 5:
                    failures.add("connection %d: reply %d: expected %s, got %r" % (index, count, e, reply[:200]))
        pong = reader.readline().rstrip(b"\n").decode("utf-8", "replace")
        if pong != "PONG":
            failures.add("connection %d: sentinel PING got %r" % (index, pong))
        thread.join()
        if expected:
            failures.add("connection %d: %d requests never answered" % (index, len(expected)))
        sock.sendall(b"QUIT\n")
        if reader.readline() != b"BYE\n":
            failures.add("connection %d: QUIT did not get BYE" % index)
    finally:
        stats["replies"] = count
        with totals["lock"]:
            for key in ("replies", "too_long", "bytes", "ok"):
                totals[key] += stats[key]
        sock.close()


def vandal(port, seed, rounds):
    """Sends junk and valid lines without reading, then resets the connection mid-line."""
    generator = Generator(seed)
    random = SplitMix64(seed)
    for _ in range(rounds):
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            data = b"".join(generator.next_line() for _ in range(200 + random.next() % 2000))
            data += bytes(random.next() & 0xFF for _ in range(random.next() % 100))
            sock.setblocking(False)
            try:
                sock.send(data)
            except OSError:
                pass
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
        except OSError:
            pass


class LineSocket:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.sock.makefile("rb")

    def request(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self.reader.readline().rstrip(b"\n").decode()

    def block(self, line):
        self.sock.sendall(line.encode() + b"\n")
        lines = []
        while True:
            reply = self.reader.readline().rstrip(b"\n").decode()
            lines.append(reply)
            if reply == "END":
                return lines

    def close(self):
        self.sock.close()


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def start_server(binary, data, fsync):
    out = tempfile.NamedTemporaryFile(prefix="polltally-fuzz-out-", delete=False)
    err = tempfile.NamedTemporaryFile(prefix="polltally-fuzz-err-", delete=False)
    process = subprocess.Popen([binary, "serve", "--port", "0", "--data", data, "--fsync", fsync],
                               stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(out.name) as f:
            for line in f:
                if line.startswith("polltally listening on 127.0.0.1:"):
                    return process, int(line.strip().rsplit(":", 1)[1]), out.name, err.name
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    sys.exit("serve did not start: " + open(err.name).read())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/polltally")
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines in total, over all connections")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--vandals", type=int, default=4, help="connections that send junk and reset")
    parser.add_argument("--seed", type=int, default=0xF00D0000)
    parser.add_argument("--fsync", default="never")
    parser.add_argument("--data", help="data folder (default: a fresh temporary one, removed afterwards)")
    parser.add_argument("--max-rss-mib", type=int, default=128,
                        help="fail when the server's peak RSS (VmHWM) passes this (default 128 MiB; a pass "
                             "of 2,000,000 lines peaks near 27 MiB, so growth per line would show)")
    parser.add_argument("--digest", action="store_true", help="print the FNV-1a digest of the first --lines lines of --seed and exit")
    args = parser.parse_args()

    if args.digest:
        print(digest(args.seed, args.lines))
        return 0

    folder = None
    data = args.data
    if data is None:
        folder = tempfile.mkdtemp(prefix="polltally-fuzz-")
        data = os.path.join(folder, "data")
    process, port, out_path, err_path = start_server(args.binary, data, args.fsync)
    print("server pid %d on port %d, data %s; RSS at start %d KiB" % (process.pid, port, data, rss_kib(process.pid)), flush=True)

    failures = Failures()
    totals = {"lock": threading.Lock(), "replies": 0, "too_long": 0, "bytes": 0, "ok": 0}
    per_connection = args.lines // args.connections
    started = time.time()
    threads = [threading.Thread(target=fuzz_connection, args=(port, args.seed + i, i, per_connection, failures, totals))
               for i in range(args.connections)]
    threads += [threading.Thread(target=vandal, args=(port, 0xBAD0 + i, 5)) for i in range(args.vandals)]
    peak = 0
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_kib(process.pid))
        time.sleep(0.5)
    elapsed = time.time() - started
    print("sent %d lines (%.1f MB) on %d connections in %.1f s: %d replies (%d OK, %d line-too-long)"
          % (per_connection * args.connections, totals["bytes"] / 1e6, args.connections, elapsed,
             totals["replies"], totals["ok"], totals["too_long"]), flush=True)

    ok = not failures.items
    control = LineSocket(port)
    if control.request("PING") != "PONG":
        failures.add("the server does not answer PING after the fuzz")
    high_water = rss_kib(process.pid, "VmHWM")
    print("server RSS after the fuzz: VmRSS %d KiB, VmHWM %d KiB (sampled peak %d KiB)"
          % (rss_kib(process.pid), high_water, peak), flush=True)
    if high_water > args.max_rss_mib * 1024:
        failures.add("the server's peak RSS %d KiB passed --max-rss-mib %d" % (high_water, args.max_rss_mib))
    polls = [line.split(" ")[1] for line in control.block("POLLS")[:-1]]
    served = sorted(control.request("TALLY " + poll) for poll in polls)
    control.close()
    replay = subprocess.run([args.binary, "replay", "--data", data], capture_output=True, text=True)
    replayed = sorted(line for line in replay.stdout.splitlines() if line)
    if replay.returncode != 0 or replayed != served:
        failures.add("replay (exit %d, %d polls) differs from the served tallies (%d polls)"
                     % (replay.returncode, len(replayed), len(served)))
    else:
        print("replay equals TALLY for all %d polls" % len(served))

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        code = "killed"
    if code != 0:
        failures.add("serve exited %s on SIGTERM: %s" % (code, open(err_path).read()[-2000:]))
    verify = subprocess.run([args.binary, "verify", "--data", data], capture_output=True, text=True)
    if verify.returncode != 0:
        failures.add("verify exited %d: %s %s" % (verify.returncode, verify.stdout[-1000:], verify.stderr[-1000:]))
    else:
        print("verify: %s" % (verify.stdout.strip().splitlines() or ["ok"])[-1])
    for path in (out_path, err_path):
        os.unlink(path)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    ok = not failures.items
    print("PASS" if ok else "FAIL: %d problems" % len(failures.items))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
