"""How fast a TAIL catches up from seq 1 on a large log, and what it costs the server's memory.

Starts `polltally serve --fsync never` on an existing data folder (a copy is not made: the server
only appends), opens one connection, sends `TAIL FROM 1`, and reads until the `LIVE <seq>` line
that ends the catch-up, counting EVENT lines and bytes. Prints events/s and MB/s, and the server's
RSS before the tail and its peak (VmHWM) after, read from /proc/<pid>/status.

    python3 Benchmarks/tail-catchup.py --binary .build/release/polltally --data DATA [--runs 3]

Python 3 standard library only. Make DATA with `polltally bench` against a `--fsync never`
server (see the Restart section of Docs/PERFORMANCE.md, or Benchmarks/replay-restart.sh).
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start(binary, data):
    process = subprocess.Popen([binary, "serve", "--port", "0", "--fsync", "never", "--data", data],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        found = re.search(r"listening on [0-9.]+:([0-9]+)", line)
        if found:
            return process, int(found.group(1))
    raise SystemExit("the server did not start")


def catch_up(port):
    """Reads TAIL FROM 1 until its LIVE line: (events, bytes, seconds, live seq). Counts with
    bytes.count and find, in C, so that the reader keeps up with the server."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    started = time.perf_counter()
    connection.sendall(b"TAIL FROM 1\n")
    events = 0
    received = 0
    carry = b""
    while True:
        chunk = connection.recv(4 << 20)
        if not chunk:
            raise SystemExit("the server closed the tail before LIVE")
        received += len(chunk)
        block = carry + chunk
        cut = block.rfind(b"\n") + 1
        lines, carry = block[:cut], block[cut:]
        # `lines` starts at a line's start: with a newline before it, every line start is "\n".
        lines = b"\n" + lines
        events += lines.count(b"\nEVENT ")
        live = lines.find(b"\nLIVE ")
        if live >= 0:
            seconds = time.perf_counter() - started
            connection.close()
            return events, received, seconds, int(lines[live + 1:].split(b"\n", 1)[0].split()[1])
        failed = lines.find(b"\nERR ")
        if failed >= 0:
            raise SystemExit("tail failed: %s" % lines[failed + 1:].split(b"\n", 1)[0].decode(errors="replace"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/polltally")
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    process, port = start(args.binary, args.data)
    try:
        before = status_kib(process.pid, "VmRSS")
        rates = []
        for run in range(1, args.runs + 1):
            events, received, seconds, live = catch_up(port)
            rates.append(events / seconds)
            print("run %d: %d events (LIVE %d), %.1f MB in %.2f s: %.2f M events/s, %.0f MB/s; server VmRSS %d KiB"
                  % (run, events, live, received / 1e6, seconds, events / seconds / 1e6, received / 1e6 / seconds,
                     status_kib(process.pid, "VmRSS")), flush=True)
        rates.sort()
        print("median %.2f M events/s; server RSS %d KiB before the tails, peak (VmHWM) %d KiB"
              % (rates[len(rates) // 2] / 1e6, before, status_kib(process.pid, "VmHWM")))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
