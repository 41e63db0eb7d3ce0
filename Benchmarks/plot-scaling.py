#!/usr/bin/env python3
"""Draws throughput against connections for PollTally and Redis as an SVG, with no dependencies.

    python3 Benchmarks/plot-scaling.py scaling.csv Docs/scaling.svg "subtitle"

The CSV is what `SWEEP=... bash Benchmarks/compare-redis.sh` writes: a header, then
`fsync,connections,depth,server,votes_per_s` rows (fsync `interval` or `always`, server
`polltally` or `redis`, votes_per_s a number or `-`). One panel per fsync policy; the x axis is
the number of connections on a log-2 scale, the y axis votes per second from zero.
"""
import csv
import math
import sys

PANELS = [
    ("interval", "--fsync interval:1000 vs appendfsync everysec"),
    ("always", "--fsync always vs appendfsync always"),
]
SERIES = [
    ("polltally", "PollTally", "#1f77b4"),
    ("redis", "Redis 7 + vote.lua", "#d62728"),
]
WIDTH, HEIGHT = 900, 420
PANEL_W, PANEL_H = 360, 280
LEFT, TOP = 80, 80


def read(path):
    points = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                value = float(row["votes_per_s"])
            except ValueError:
                continue
            points.setdefault((row["fsync"], row["server"]), []).append((int(row["connections"]), value))
    for series in points.values():
        series.sort()
    return points


def nice_ceiling(value):
    """The smallest 1, 2 or 5 × 10^k at or above value."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def thousands(value):
    return f"{int(value / 1000)}k" if value >= 1000 else str(int(value))


def panel(svg, points, x0, y0, fsync, title, connections):
    peak = max((v for (f, _), series in points.items() if f == fsync for _, v in series), default=1)
    top = nice_ceiling(peak * 1.05)
    lo, hi = math.log2(min(connections)), math.log2(max(connections))
    span = hi - lo or 1

    def x(c):
        return x0 + (math.log2(c) - lo) / span * PANEL_W

    def y(v):
        return y0 + PANEL_H - v / top * PANEL_H

    svg.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 - 14}" text-anchor="middle" font-size="13">{title}</text>')
    svg.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>')
    for i in range(6):
        value = top * i / 5
        svg.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>')
        svg.append(f'<text x="{x0 - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">{thousands(value)}</text>')
    for c in connections:
        svg.append(f'<text x="{x(c):.1f}" y="{y0 + PANEL_H + 16}" text-anchor="middle" font-size="11">{c}</text>')
    svg.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 34}" text-anchor="middle" font-size="12">connections</text>')
    for key, _, colour in SERIES:
        series = points.get((fsync, key), [])
        if not series:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(c):.1f},{y(v):.1f}" for i, (c, v) in enumerate(series))
        svg.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for c, v in series:
            svg.append(f'<circle cx="{x(c):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"><title>{c} connections: {int(v)} votes/s</title></circle>')


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot-scaling.py CSV SVG [subtitle]")
    points = read(sys.argv[1])
    if not points:
        sys.exit("no data points in " + sys.argv[1])
    subtitle = sys.argv[3] if len(sys.argv) > 3 else ""
    connections = sorted({c for series in points.values() for c, _ in series})
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">Votes per second against connections</text>',
        f'<text x="{WIDTH / 2}" y="44" text-anchor="middle" font-size="12" fill="#555">{subtitle}</text>',
        f'<text x="20" y="{TOP + PANEL_H / 2}" font-size="12" transform="rotate(-90 20 {TOP + PANEL_H / 2})" text-anchor="middle">votes/s</text>',
    ]
    for index, (fsync, title) in enumerate(PANELS):
        panel(svg, points, LEFT + index * (PANEL_W + 80), TOP, fsync, title, connections)
    for index, (_, label, colour) in enumerate(SERIES):
        lx = LEFT + index * 200
        svg.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{HEIGHT - 18}" y2="{HEIGHT - 18}" stroke="{colour}" stroke-width="2"/>')
        svg.append(f'<text x="{lx + 30}" y="{HEIGHT - 14}" font-size="12">{label}</text>')
    svg.append("</svg>")
    with open(sys.argv[2], "w") as handle:
        handle.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
