#!/usr/bin/env python3
"""Runs the echo benchmark matrix and writes bench/RESULTS.md (and the README's copy of it).

Use bench/run.sh (it builds the binaries and sets up the network namespace), or directly:

    python3 bench/run.py [--secs 1.5] [--warmup 0.4] [--repeats 3] [--quick] [--no-criterion]

Every echo server is started once, pinned to CPU 0; the load generator runs pinned to CPU 1, once per
(cell, repeat, server), servers interleaved within each repeat so that drift and noise from other processes
hit them all alike. Medians over the repeats; ratios are between medians of the same run.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
SERVERS = ["tcp", "wsproto", "tungstenite", "fastwebsockets", "tokio-websockets"]
# Diagnostic servers, opt-in with --servers: the wsproto core without the adapter, wsproto-tokio's owned-message
# API (recv + feed), and a minimal raw echo.
EXTRA_SERVERS = ["wsproto-core", "wsproto-recv", "raw"]
# wsproto-tokio's plain API (issue 12), opt-in with --servers: the `echo` example binary itself (recv + send, as
# a user writes it), recv + send, Stream + Sink (`forward`), and split halves (a receiver task feeding a WsSender).
PLAIN_SERVERS = ["echo-example", "wsproto-send", "wsproto-sink", "wsproto-split"]
EXTRA_SERVERS += PLAIN_SERVERS
# Servers that are not bench binaries: name -> path under target/release (they log to stderr, not their address).
EXAMPLE_BINS = {"echo-example": os.path.join("examples", "echo")}
PEERS = ["tungstenite", "fastwebsockets", "tokio-websockets"]
SHORT = {"tcp": "tcp", "wsproto": "wsproto", "tungstenite": "tungstenite", "fastwebsockets": "fastws",
         "tokio-websockets": "tokio-ws", "wsproto-core": "ws-core", "wsproto-recv": "ws-recv",
         "raw": "raw", "echo-example": "example", "wsproto-send": "ws-send", "wsproto-sink": "ws-sink",
         "wsproto-split": "ws-split"}
# (payload, connections, in flight per connection)
CELLS = [(16, 100, 8), (16, 16, 128), (1024, 100, 4), (1024, 16, 64), (16384, 16, 2), (65536, 16, 2),
         (1 << 20, 4, 1)]
QUICK_CELLS = [(16, 100, 8), (16, 16, 128), (1024, 100, 4), (65536, 16, 2), (1 << 20, 4, 1)]
# (label, --kind, --frames)
KINDS = [("binary", "binary", 1), ("text", "text", 1), ("8 frames", "binary", 8)]
# permessage-deflate cells: a JSON-like corpus (--kind json), sent pre-compressed by the generator (which offers
# client_no_context_takeover); the server compresses its echoes with context takeover (as negotiated by default)
# or without it (the generator also offers server_no_context_takeover). tcp echoes the same JSON uncompressed.
DEFLATE_CELLS = [(1024, 100, 4), (16384, 16, 2)]
DEFLATE_KINDS = [("takeover", []), ("no takeover", ["--server-no-context-takeover"])]
# Servers whose echo negotiates permessage-deflate (the peers' do not: tokio-tungstenite 0.30, fastwebsockets
# 0.10 and tokio-websockets 0.13 have no permessage-deflate), and tcp as the uncompressed reference.
DEFLATE_SERVERS = ["tcp", "wsproto", "wsproto-core"]
# Memory per connection with deflate: (window bits or None for the default 15, no context takeover).
DEFLATE_MEMORY = [(None, False), (None, True), (9, False), (9, True)]
CLIENT_CELLS = [(16, 100, 8), (16, 16, 128), (1024, 100, 4), (65536, 16, 2), (1 << 20, 4, 1)]
SERVER_CPU, GEN_CPU = "0", "1"
GEN_SATURATED = 0.9
CONTENDED = 0.10


def size_label(n):
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    if n >= 1024:
        return f"{n >> 10} KiB"
    return f"{n} B"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_ticks():
    """Per-CPU (busy in user/nice/system, total) ticks from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                out[m.group(1)] = (v[0] + v[1] + v[2], sum(v[:8]))
    return out


def other_load(before, after, cpu, own_fraction):
    """Fraction of `cpu` spent in user/system by processes other than ours (softirq excluded)."""
    b, a = before.get(cpu), after.get(cpu)
    if not b or not a or a[1] == b[1]:
        return 0.0
    return max(0.0, (a[0] - b[0]) / (a[1] - b[1]) - own_fraction)


class Server:
    def __init__(self, name):
        self.name = name
        self.start()

    def start(self):
        if self.name in EXAMPLE_BINS:
            return self.start_example()
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, os.path.join(BIN, f"echo-{self.name}"),
                                      "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        self.addr = self.proc.stdout.readline().strip()
        if not self.addr:
            raise SystemExit(f"echo-{self.name} did not start")

    def start_example(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.addr = "127.0.0.1:%d" % s.getsockname()[1]
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, os.path.join(BIN, EXAMPLE_BINS[self.name]),
                                      self.addr], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", int(self.addr.rsplit(":", 1)[1])), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{self.name} did not start")

    def restart(self):
        self.stop()
        self.start()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run_json(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {"error": (p.stderr or p.stdout or "no output").strip()[-300:]}


def loadgen(server, size, conns, inflight, kind, frames, args, extra=()):
    cmd = ["taskset", "-c", GEN_CPU, os.path.join(BIN, "loadgen"), "--addr", server.addr,
           "--server-pid", str(server.proc.pid), "--size", str(size), "--conns", str(conns),
           "--inflight", str(inflight), "--kind", kind, "--frames", str(frames), "--warmup", str(args.warmup),
           "--secs", str(args.secs), "--label", server.name, *extra]
    before = cpu_ticks()
    r = run_json(cmd, timeout=args.warmup + args.secs + 30)
    after = cpu_ticks()
    if "error" not in r:
        r["others_cpu0"] = other_load(before, after, SERVER_CPU, r.get("server_cpu", 0))
        r["others_cpu1"] = other_load(before, after, GEN_CPU, r.get("gen_cpu", 0))
    return r


def median(rows, key):
    vals = [r[key] for r in rows if key in r and r[key] is not None]
    return statistics.median(vals) if vals else None


def fmt_rate(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def matrix_cells(args):
    if args.cells:
        return [tuple(int(x) for x in c.split(":")) for c in args.cells.split(",")]
    return QUICK_CELLS if args.quick else CELLS


def matrix_kinds(args):
    return [k for k in KINDS if k[0] in args.kinds]


def run_matrix(args, results):
    cells = matrix_cells(args)
    servers = {name: Server(name) for name in args.servers}
    try:
        total = len(cells) * len(matrix_kinds(args)) * args.repeats * len(servers)
        done, t0 = 0, time.time()
        for (size, conns, inflight) in cells:
            for (label, kind, frames) in matrix_kinds(args):
                key = (size, conns, inflight, label)
                for rep in range(args.repeats):
                    order = list(servers)
                    # Rotate the order each repeat so no server always runs first (or after the same one).
                    order = order[rep % len(order):] + order[:rep % len(order)]
                    for name in order:
                        srv = servers[name]
                        r = loadgen(srv, size, conns, inflight, kind, frames, args)
                        if "error" in r:
                            log(f"  {name} {size_label(size)} ({conns},{inflight}) {label}: {r['error']}")
                            srv.restart()
                        results.setdefault(key, {}).setdefault(name, []).append(r)
                        done += 1
                eta = (time.time() - t0) / done * (total - done)
                meds = {n: median(results[key][n], "msgs_per_s") for n in servers}
                log(f"[{done}/{total}, ~{eta / 60:.1f} min left] {size_label(size)} ({conns},{inflight}) {label}: "
                    + ", ".join(f"{SHORT[n]} {fmt_rate(v)}" for n, v in meds.items()))
    finally:
        for s in servers.values():
            s.stop()


def deflate_cells(args):
    if args.deflate_cells:
        return [tuple(int(x) for x in c.split(":")) for c in args.deflate_cells.split(",")]
    if args.cells:
        return [c for c in DEFLATE_CELLS if c in matrix_cells(args)]
    return DEFLATE_CELLS


def run_deflate(args, results):
    """The permessage-deflate cells: wsproto (and wsproto-core) with --deflate, tcp with the same JSON plain."""
    cells = deflate_cells(args)
    names = [n for n in args.servers if n in DEFLATE_SERVERS]
    if not cells or not names:
        return
    servers = {name: Server(name) for name in names}
    try:
        for (size, conns, inflight) in cells:
            for (label, extra) in DEFLATE_KINDS:
                key = (size, conns, inflight, label)
                for rep in range(args.repeats):
                    order = list(servers)
                    order = order[rep % len(order):] + order[:rep % len(order)]
                    for name in order:
                        srv = servers[name]
                        if name == "tcp" and label != DEFLATE_KINDS[0][0]:
                            continue  # the uncompressed reference does not depend on the deflate options
                        flags = [] if name == "tcp" else ["--deflate", *extra]
                        r = loadgen(srv, size, conns, inflight, "json", 1, args, flags)
                        if "error" in r:
                            log(f"  deflate {name} {size_label(size)} ({conns},{inflight}) {label}: {r['error']}")
                            srv.restart()
                        results.setdefault(key, {}).setdefault(name, []).append(r)
                meds = {n: median(results[key].get(n, []), "msgs_per_s") for n in servers}
                log(f"deflate {size_label(size)} ({conns},{inflight}) {label}: "
                    + ", ".join(f"{SHORT[n]} {fmt_rate(v)}" for n, v in meds.items() if v is not None))
    finally:
        for s in servers.values():
            s.stop()


def run_deflate_memory(args):
    """Server RSS per connection after one compressed message each way (both codecs exist), wsproto only."""
    rows = []
    if "wsproto" not in args.servers:
        return rows
    for (bits, no_takeover) in [(None, None)] + DEFLATE_MEMORY:
        srv = Server("wsproto")
        try:
            cmd = [os.path.join(BIN, "idle-conns"), "--addr", srv.addr, "--server-pid", str(srv.proc.pid),
                   "--conns", str(args.deflate_conns), "--label", "wsproto"]
            if no_takeover is not None:
                cmd.append("--deflate")
            if bits:
                cmd += ["--deflate-bits", str(bits)]
            if no_takeover:
                cmd.append("--no-context-takeover")
            r = run_json(cmd, timeout=300)
        finally:
            srv.stop()
        r.update({"bits": bits or 15, "deflate": no_takeover is not None, "no_takeover": bool(no_takeover)})
        rows.append(r)
        log(f"deflate memory bits={bits} no_takeover={no_takeover}: "
            f"{r.get('bytes_per_conn_after_echo', r.get('error'))} B/conn")
    return rows


def run_clients(args):
    raw = Server("raw")
    rows = []
    try:
        for (size, conns, inflight) in (QUICK_CELLS if args.quick else CLIENT_CELLS):
            if args.cells and (size, conns, inflight) not in matrix_cells(args):
                continue
            per = {}
            for rep in range(args.repeats):
                for client in (["wsproto", "tungstenite"] if rep % 2 == 0 else ["tungstenite", "wsproto"]):
                    cmd = ["taskset", "-c", GEN_CPU, os.path.join(BIN, "client-bench"), "--client", client,
                           "--addr", raw.addr, "--server-pid", str(raw.proc.pid), "--size", str(size),
                           "--conns", str(conns), "--inflight", str(inflight), "--warmup", str(args.warmup),
                           "--secs", str(args.secs)]
                    before = cpu_ticks()
                    r = run_json(cmd, timeout=args.warmup + args.secs + 30)
                    after = cpu_ticks()
                    if "error" in r:
                        log(f"  client {client} {size_label(size)}: {r['error']}")
                        raw.restart()
                    else:
                        r["others"] = max(other_load(before, after, SERVER_CPU, r.get("server_cpu", 0)),
                                          other_load(before, after, GEN_CPU, r.get("client_cpu", 0)))
                    per.setdefault(client, []).append(r)
            row = {"size": size, "conns": conns, "inflight": inflight}
            for c, rs in per.items():
                row[c] = {k: median(rs, k) for k in ("msgs_per_s", "client_cpu", "client_us_per_msg", "server_cpu",
                                                     "others")}
            rows.append(row)
            log(f"client {size_label(size)} ({conns},{inflight}): wsproto {fmt_rate(row['wsproto']['msgs_per_s'])}, "
                f"tungstenite {fmt_rate(row['tungstenite']['msgs_per_s'])}")
    finally:
        raw.stop()
    return rows


def run_memory(args):
    rows = []
    for name in args.servers:
        srv = Server(name)
        try:
            cmd = [os.path.join(BIN, "idle-conns"), "--addr", srv.addr, "--server-pid", str(srv.proc.pid),
                   "--conns", str(args.idle_conns), "--label", name]
            r = run_json(cmd, timeout=300)
        finally:
            srv.stop()
        r["name"] = name
        # The heap blocks each idle connection holds (counting allocator, in-process, 1,000 connections).
        h = run_json([os.path.join(BIN, "alloc-count"), "--role", "idle", "--server", name, "--conns", "1000"], 120)
        r["heap_bytes_per_conn"] = h.get("heap_bytes_per_conn")
        r["blocks"] = h.get("blocks", h.get("error", ""))
        rows.append(r)
        log(f"idle {name}: {r.get('bytes_per_idle_conn', r.get('error'))} B RSS; heap blocks {r['blocks']}")
    return rows


ALLOC_CASES = [(16, 16, 8, "binary", 1), (1024, 16, 8, "binary", 1), (65536, 16, 2, "binary", 1),
               (1024, 16, 8, "text", 1), (1024, 16, 8, "binary", 8)]


def run_allocs(args):
    rows = []
    for name in args.servers:
        for (size, conns, inflight, kind, frames) in ALLOC_CASES:
            if (kind, frames) != ("binary", 1) and name != "wsproto":
                continue
            cmd = ["taskset", "-c", f"{SERVER_CPU},{GEN_CPU}", os.path.join(BIN, "alloc-count"), "--role", "server",
                   "--server", name, "--size", str(size), "--conns", str(conns), "--inflight", str(inflight),
                   "--kind", kind, "--frames", str(frames), "--warmup", "0.3", "--secs", "1"]
            rows.append(run_json(cmd, timeout=60))
    for client in ["wsproto", "tungstenite"]:
        for (size, conns, inflight, kind, frames) in ALLOC_CASES[:3]:
            cmd = ["taskset", "-c", f"{SERVER_CPU},{GEN_CPU}", os.path.join(BIN, "alloc-count"), "--role", "client",
                   "--client", client, "--size", str(size), "--conns", str(conns), "--inflight", str(inflight),
                   "--warmup", "0.3", "--secs", "1"]
            rows.append(run_json(cmd, timeout=60))
    for r in rows:
        log(f"allocs {r.get('role')} {r.get('name')} {r.get('size')} {r.get('kind')}x{r.get('frames')}: "
            f"{r.get('allocs_per_msg', r.get('error'))}")
    return rows


def run_criterion(args):
    """unmask vs memcpy from criterion's estimates (the mask bench only, short measurement)."""
    offline = ["--offline"] if args.netns else []  # no network inside the namespace (run.sh built it already)
    cmd = ["taskset", "-c", GEN_CPU, "cargo", "bench", "-q", *offline, "-p", "wsproto", "--bench", "mask", "--",
           "--warm-up-time", "0.3", "--measurement-time", "1", "--noplot"]
    # Criterion leaves every earlier estimate in place: only files written after this moment are this run's.
    # (Filesystem timestamps can be coarser than time.time(): allow one second.)
    bench_started = time.time() - 1.0
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        log("criterion failed: " + p.stderr[-500:])
        return []
    stale = []

    def median(*parts):
        path = os.path.join(ROOT, "target", "criterion", *parts, "new", "estimates.json")
        try:
            if os.path.getmtime(path) < bench_started:
                stale.append("/".join(parts))
                return None
            with open(path) as f:
                return json.load(f)["median"]["point_estimate"]
        except (OSError, KeyError, ValueError):
            return None

    rows = []
    for label in ["64B", "1KiB", "64KiB", "1MiB"]:
        row = {"size": label}
        for fn in ["apply_mask", "memcpy", "apply_mask_16-buffers"]:
            for start in ["start+0", "start+1"]:
                row[f"{fn}/{start}"] = median(f"mask_{label}", fn, start)
        for fn in ["extend_masked", "copy", "copy_then_mask"]:
            row[f"extend/{fn}"] = median(f"extend_{label}", fn)
        rows.append(row)
    if stale:
        log(f"WARNING: {len(stale)} criterion estimates predate this run (not quoted): {', '.join(stale[:6])}")
    return rows


def cell_rows(results, key, name):
    return results.get(key, {}).get(name, [])


def rates(results, key, name):
    return [r["msgs_per_s"] for r in cell_rows(results, key, name) if "error" not in r and r.get("msgs_per_s")]


def spread(rows):
    """Half the range of msgs/s over the repeats, relative to their median (None with fewer than 2 runs)."""
    v = [r["msgs_per_s"] for r in rows if r.get("msgs_per_s")]
    if len(v) < 2:
        return None
    return (max(v) - min(v)) / 2 / statistics.median(v)


def ratio_range(results, key, a, b):
    """The range of the throughput ratio a/b over the repeats: (min a / max b, max a / min b)."""
    ra, rb = rates(results, key, a), rates(results, key, b)
    if len(ra) < 2 or len(rb) < 2:
        return None
    return min(ra) / max(rb), max(ra) / min(rb)


def undecided(results, key, a, b, threshold=1.0):
    """"≈" when the ratio a/b's range over the repeats straddles `threshold` (the spread exceeds the gap)."""
    r = ratio_range(results, key, a, b)
    return "≈" if r is not None and r[0] < threshold < r[1] else ""


def render(args, results, clients, memory, allocs, crit, started, dres=None, dmem=None, prior_header=None):
    dres, dmem = dres or {}, dmem or []
    # The cells and kinds that have results (with --merge, earlier runs' too), in the matrix's order.
    cells = [c for c in CELLS + [c for c in matrix_cells(args) if c not in CELLS]
             if any(c + (k[0],) in results for k in KINDS)]
    kinds = [k for k in KINDS if any(c + (k[0],) in results for c in cells)]
    env_cc = open("/proc/sys/net/ipv4/tcp_congestion_control").read().strip()
    rev = args.commit
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    L = []
    L.append("# Echo benchmark results")
    L.append("")
    L.append(f"Generated by `{args.command}` — do not edit by hand. {started:%Y-%m-%d %H:%M} UTC, commit {rev}, "
             f"{platform.release()}, {os.cpu_count()} × {cpu_model}.")
    net = (f"private network namespace, `{env_cc}` congestion control" if args.netns
           else f"**host loopback** (no namespace; congestion control `{env_cc}`)")
    if prior_header:
        L.append(f"Merged (`--merge`) with the raw results of an earlier run for every section this run did not "
                 f"measure; that run: {prior_header}")
    L.append(f"Network: {net}. Servers pinned to CPU {SERVER_CPU} (current-thread tokio runtime), load generator "
             f"to CPU {GEN_CPU}. Each cell: {args.repeats} runs of {args.warmup} s warm-up + {args.secs} s, "
             f"servers interleaved; medians. Ratios are between medians of this run — not absolute claims.")
    L.append("")
    L.append("How each server is driven (`bench/README.md`, \"How each server is driven, and why `echo-tcp` is a "
             "ceiling\"): "
             "wsproto `recv_with` (borrowed, one write per batch); tokio-tungstenite and tokio-websockets every ready "
             "message read, then all `start_send`, then one `poll_flush` (tokio-websockets' `flush_threshold` "
             "128 KiB); fastwebsockets `read_frame` + `write_frame` (its API has no write queue). `tcp`, the ceiling, "
             "echoes the same bytes through a 4 MiB ring with one `readv` and one `writev` per wake-up.")
    L.append("")
    L.append("Marks: **†** the generator, not the server, was saturated (generator CPU ≥ "
             f"{GEN_SATURATED:.0%} of its core; the server's number is a lower bound). **~** other processes "
             f"used ≥ {CONTENDED:.0%} of a pinned CPU during the median run (shared machine: treat as noisy). "
             "**±N%** after a rate: its spread over the repeats, (max − min) / 2 / median. **≈** after a ratio: "
             "the spread exceeds the gap it claims — the ratio's range over the repeats (min a / max b to "
             "max a / min b) includes 1.00×, so the two are not told apart by this run.")
    L.append("")
    L.append("## Server throughput (messages/s echoed) and ratio to the TCP echo ceiling")
    L.append("")
    hdr = ["payload (C, P)", "kind"] + [SHORT[s] for s in args.servers] + \
          [f"{SHORT[s]}/tcp" for s in args.servers if s != "tcp"]
    if "wsproto" in args.servers:
        hdr += [f"wsproto/{SHORT[p]}" for p in PEERS if p in args.servers]
        hdr += [f"{SHORT[p]}/wsproto" for p in PLAIN_SERVERS if p in args.servers]  # the plain API vs recv_with
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join(["---", "---"] + ["--:"] * (len(hdr) - 2)) + "|")
    med = {}
    for (size, conns, inflight) in cells:
        for (label, _, _) in kinds:
            key = (size, conns, inflight, label)
            row = [f"{size_label(size)} ({conns}, {inflight})", label]
            for s in args.servers:
                rows = [r for r in cell_rows(results, key, s) if "error" not in r]
                m = median(rows, "msgs_per_s")
                med[(key, s)] = {k: median(rows, k) for k in
                                 ("msgs_per_s", "server_cpu", "gen_cpu", "server_us_per_msg", "gen_us_per_msg",
                                  "others_cpu0", "others_cpu1")}
                med[(key, s)]["errors"] = len(cell_rows(results, key, s)) - len(rows)
                mark = ""
                d = med[(key, s)]
                if d["gen_cpu"] is not None and d["gen_cpu"] >= GEN_SATURATED:
                    mark += "†"
                if max(d["others_cpu0"] or 0, d["others_cpu1"] or 0) >= CONTENDED:
                    mark += "~"
                if d["errors"]:
                    mark += f" ({d['errors']} failed)"
                sp = spread(rows)
                row.append(fmt_rate(m) + mark + ("" if sp is None else f" ±{sp:.0%}"))
            tcp = med.get((key, "tcp"), {}).get("msgs_per_s")
            for s in args.servers:
                if s != "tcp":
                    row.append(fmt_ratio(ratio(med[(key, s)]["msgs_per_s"], tcp))
                               + undecided(results, key, s, "tcp"))
            if "wsproto" in args.servers:
                for p in PEERS:
                    if p in args.servers:
                        row.append(fmt_ratio(ratio(med[(key, "wsproto")]["msgs_per_s"], med[(key, p)]["msgs_per_s"]))
                                   + undecided(results, key, "wsproto", p))
                for p in PLAIN_SERVERS:
                    if p in args.servers:
                        row.append(fmt_ratio(ratio(med[(key, p)]["msgs_per_s"], med[(key, "wsproto")]["msgs_per_s"]))
                                   + undecided(results, key, p, "wsproto"))
            L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("## Server CPU per echoed message (µs, median) and CPU use")
    L.append("")
    L.append("Server CPU time (user + system, from `/proc/PID/stat`) over the window divided by the messages "
             "echoed; in parentheses the fraction of its core the server used (1.00 = saturated). When other "
             "processes share the cores (~ above), throughput measures the share each server got as much as the "
             "server; CPU per message is the steadier comparison, so the `CPU` ratios (TCP's µs/msg over the "
             "server's: the throughput ratio it would reach with its core to itself) are given too.")
    L.append("")
    hdr = ["payload (C, P)", "kind"] + [SHORT[s] for s in args.servers] + ["generator CPU (µs/msg)"] + \
          [f"{SHORT[s]} CPU ratio to tcp" for s in args.servers if s != "tcp" and "tcp" in args.servers]
    plain = [p for p in PLAIN_SERVERS if p in args.servers and "wsproto" in args.servers]
    hdr += [f"{SHORT[p]} CPU ratio to wsproto" for p in plain]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join(["---", "---"] + ["--:"] * (len(hdr) - 2)) + "|")
    for (size, conns, inflight) in cells:
        for (label, _, _) in kinds:
            key = (size, conns, inflight, label)
            row = [f"{size_label(size)} ({conns}, {inflight})", label]
            gens, gus = [], []
            for s in args.servers:
                d = med[(key, s)]
                u, c = d["server_us_per_msg"], d["server_cpu"]
                row.append("—" if u is None else f"{u:.3g} ({c:.2f})")
                if d["gen_cpu"] is not None:
                    gens.append(d["gen_cpu"])
                if d.get("gen_us_per_msg") is not None:
                    gus.append(d["gen_us_per_msg"])
            row.append((f"{min(gens):.2f}–{max(gens):.2f}" if gens else "—") +
                       (f" ({min(gus):.3g}–{max(gus):.3g})" if gus else ""))
            if "tcp" in args.servers:
                t = med[(key, "tcp")]["server_us_per_msg"]
                for s in args.servers:
                    if s != "tcp":
                        row.append(fmt_ratio(ratio(t, med[(key, s)]["server_us_per_msg"])))
            for p in plain:
                row.append(fmt_ratio(ratio(med[(key, "wsproto")]["server_us_per_msg"], med[(key, p)]["server_us_per_msg"])))
            L.append("| " + " | ".join(row) + " |")

    if dres or dmem:
        render_deflate(L, args, dres, dmem)

    if clients:
        L.append("")
        L.append("## Client role: wsproto-tokio client vs tokio-tungstenite client")
        L.append("")
        L.append("Both drive the same minimal WebSocket echo server (`echo-raw`, pinned to CPU 0) from one "
                 "current-thread runtime pinned to CPU 1; binary messages; medians. Client CPU per message "
                 "(`getrusage`) is the steadier comparison when other processes share the cores (~).")
        L.append("")
        L.append("| payload (C, P) | wsproto msgs/s | tungstenite msgs/s | wsproto/tungstenite | wsproto client µs/msg "
                 "| tungstenite client µs/msg | client CPU ratio (tungstenite/wsproto) | echo server CPU |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|")
        for r in clients:
            w, t = r.get("wsproto", {}), r.get("tungstenite", {})
            wu, tu = w.get("client_us_per_msg"), t.get("client_us_per_msg")
            sc = [x.get("server_cpu") for x in (w, t) if x.get("server_cpu") is not None]
            mark = lambda x: "~" if (x.get("others") or 0) >= CONTENDED else ""
            L.append(f"| {size_label(r['size'])} ({r['conns']}, {r['inflight']}) | {fmt_rate(w.get('msgs_per_s'))}{mark(w)} | "
                     f"{fmt_rate(t.get('msgs_per_s'))}{mark(t)} | "
                     f"{fmt_ratio(ratio(w.get('msgs_per_s'), t.get('msgs_per_s')))} | "
                     f"{'—' if wu is None else f'{wu:.3g}'} | {'—' if tu is None else f'{tu:.3g}'} | "
                     f"{fmt_ratio(ratio(tu, wu))} | {'—' if not sc else f'{min(sc):.2f}–{max(sc):.2f}'} |")

    if memory or allocs:
        L.append("")
        L.append("## Memory")
        L.append("")
    if memory:
        n = next((m.get("conns") for m in memory if m.get("conns")), args.idle_conns)
        L.append(f"User-space memory per idle connection: server RSS delta (`/proc/PID/statm`) / {n} connections "
                 "open after their handshakes; then after one 16 B echo on each (buffers a first message leaves). "
                 "The heap columns come from `alloc-count --role idle` (a counting allocator on the server's thread, "
                 "1,000 connections): the live heap per connection and the blocks each one keeps (the largest is "
                 "the tokio task, i.e. the connection's future).")
        L.append("")
        L.append("| server | RSS bytes / idle connection | RSS bytes / connection after one echo | heap bytes / idle "
                 "connection | heap blocks per connection |")
        L.append("|---|--:|--:|--:|---|")
        for m in memory:
            a, b, h = m.get("bytes_per_idle_conn"), m.get("bytes_per_conn_after_echo"), m.get("heap_bytes_per_conn")
            L.append(f"| {m['name']} | {'—' if a is None else f'{a:,.0f}'} | {'—' if b is None else f'{b:,.0f}'} | "
                     f"{'—' if h is None else f'{h:,.0f}'} | {m.get('blocks', '')} |")
        L.append("")
    if allocs:
        L.append("Heap allocations per echoed message in steady state (`alloc-count`: a counting global allocator "
                 "counts allocations and reallocations on the server's thread — or the client's — over a 1 s window, "
                 "divided by the messages; loopback TCP in one process).")
        L.append("")
        L.append("| role | library | payload (C, P) | kind | allocs / msg | bytes allocated / msg |")
        L.append("|---|---|---|---|--:|--:|")
        for a in allocs:
            if "error" in a:
                L.append(f"| {a.get('role')} | {a.get('name')} | {size_label(a.get('size', 0))} | {a.get('kind')} | "
                         f"error | {a['error'][:60]} |")
                continue
            kind = a["kind"] + (f", {a['frames']} frames" if a.get("frames", 1) > 1 else "")
            L.append(f"| {a['role']} | {a['name']} | {size_label(a['size'])} ({a['conns']}, {a['inflight']}) | {kind} | "
                     f"{a['allocs_per_msg']:.3f} | {a['bytes_per_msg']:,.0f} |")

    if crit:
        L.append("")
        L.append("## Unmasking vs memcpy (criterion, `cargo bench -p wsproto --bench mask`)")
        L.append("")
        L.append("Median time per call (ns); `+1` is an unaligned start. `apply_mask` XORs in place (one "
                 "buffer; AVX-512 / AVX2 / baseline chosen at run time from 128 bytes); `memcpy` is `copy_from_slice` "
                 "of the same length (two buffers). Both rows work on the same buffers call after call, so at small "
                 "sizes `apply_mask` waits for its previous call's stores to reach its loads (~10 cycles) where "
                 "`memcpy` does not: `16 bufs` unmasks 16 buffers in turn, as a server meets fresh frames.")
        L.append("")
        L.append("| size | apply_mask | memcpy | memcpy/apply_mask | apply_mask +1 | memcpy +1 | memcpy/apply_mask +1 "
                 "| apply_mask, 16 bufs | memcpy/that |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for r in crit:
            a0, m0, a1, m1, b0 = (r.get(k) for k in (
                "apply_mask/start+0", "memcpy/start+0", "apply_mask/start+1", "memcpy/start+1",
                "apply_mask_16-buffers/start+0"))
            f = lambda v: "—" if v is None else f"{v:,.1f}"
            L.append(f"| {r['size']} | {f(a0)} | {f(m0)} | {fmt_ratio(ratio(m0, a0))} | {f(a1)} | {f(m1)} | "
                     f"{fmt_ratio(ratio(m1, a1))} | {f(b0)} | {fmt_ratio(ratio(m0, b0))} |")
        L.append("")
        L.append("A client's send path: `extend_masked` appends the payload masked in one pass; `copy` appends it "
                 "unmasked (a server's path, the floor); `copy then mask` is the two passes it replaced.")
        L.append("")
        L.append("| size | extend_masked | copy | copy then mask | copy/extend_masked |")
        L.append("|---|--:|--:|--:|--:|")
        for r in crit:
            e, c, cm = (r.get(k) for k in ("extend/extend_masked", "extend/copy", "extend/copy_then_mask"))
            f = lambda v: "—" if v is None else f"{v:,.1f}"
            L.append(f"| {r['size']} | {f(e)} | {f(c)} | {f(cm)} | {fmt_ratio(ratio(c, e))} |")

    # The targets, from this run.
    L.append("")
    L.append("## Targets (issue 6), from this run")
    L.append("")
    L.append("Ratios of throughput (msgs/s) as the issue defines them; in parentheses the same ratio from CPU per "
             "message (server, or client for the client role), which other processes on the machine disturb less. "
             "**≈**: the ratio's range over the repeats straddles the target, so this run does not decide it.")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|--:|:-:|")

    def tgt(name, value, ok, shown=None):
        L.append(f"| {name} | {shown if shown is not None else fmt_ratio(value)} | "
                 f"{'—' if value is None else ('yes' if ok(value) else 'no')} |")

    def cpu_ratio(key, a, b):
        """Throughput ratio a/b implied by CPU per message (b's µs/msg over a's)."""
        return ratio(med.get((key, b), {}).get("server_us_per_msg"), med.get((key, a), {}).get("server_us_per_msg"))

    def ws_over_tcp(size, conns, inflight, label="binary"):
        key = (size, conns, inflight, label)
        return ratio(med.get((key, "wsproto"), {}).get("msgs_per_s"), med.get((key, "tcp"), {}).get("msgs_per_s"))

    if "wsproto" in args.servers and "tcp" in args.servers:
        for (size, conns, inflight, want) in [(16, 100, 8, 0.9), (16, 16, 128, 0.75), (1024, 100, 4, 0.9),
                                              (1024, 16, 64, 0.75), (65536, 16, 2, 0.9), (1 << 20, 4, 1, 0.9)]:
            if (size, conns, inflight) in cells:
                v = ws_over_tcp(size, conns, inflight)
                key = (size, conns, inflight, "binary")
                tgt(f"{size_label(size)} ({conns}, {inflight}) binary ≥ {want}× TCP", v, lambda v, w=want: v >= w,
                    f"{fmt_ratio(v)}{undecided(results, key, 'wsproto', 'tcp', want)} "
                    f"({fmt_ratio(cpu_ratio(key, 'wsproto', 'tcp'))})")

        def worst_pair(label_a, label_b):
            """The worst (cell, msgs/s ratio, CPU ratio) of wsproto's label_a over label_b."""
            out = []
            for (s_, c_, p_) in cells:
                ka, kb = (s_, c_, p_, label_a), (s_, c_, p_, label_b)
                if (ka, "wsproto") not in med or (kb, "wsproto") not in med:
                    continue
                r = ratio(med[(ka, "wsproto")]["msgs_per_s"], med[(kb, "wsproto")]["msgs_per_s"])
                cr = ratio(med[(kb, "wsproto")]["server_us_per_msg"], med[(ka, "wsproto")]["server_us_per_msg"])
                # The same ratio for the TCP echo of the same bytes: what the bytes themselves cost (more wire
                # bytes for 8 frames; the kernel and the generator), which no WebSocket library can avoid.
                tr = ratio(med.get((ka, "tcp"), {}).get("msgs_per_s"), med.get((kb, "tcp"), {}).get("msgs_per_s"))
                if r is not None:
                    out.append((r, cr, f"{size_label(s_)} ({c_}, {p_})", tr))
            return min(out) if out else None

        def tcp_note(w):
            return f"; TCP echo of the same bytes there: {fmt_ratio(w[3])}" if w[3] is not None else ""

        w = worst_pair("8 frames", "binary")
        if w:
            tgt("8-frame fragmented ≥ 0.8× unfragmented (worst cell)", w[0], lambda v: v >= 0.8,
                f"{fmt_ratio(w[0])} ({fmt_ratio(w[1])}) at {w[2]}{tcp_note(w)}")
        w = worst_pair("text", "binary")
        if w:
            tgt("text within 5% of binary (worst cell)", w[0], lambda v: v >= 0.95,
                f"{fmt_ratio(w[0])} ({fmt_ratio(w[1])}) at {w[2]}{tcp_note(w)}")
    if crit:
        worst = [ratio(r.get("memcpy/start+0"), r.get("apply_mask/start+0")) for r in crit] + \
                [ratio(r.get("memcpy/start+1"), r.get("apply_mask/start+1")) for r in crit]
        worst = [w for w in worst if w is not None]
        fresh = [ratio(r.get("memcpy/start+0"), r.get("apply_mask_16-buffers/start+0")) for r in crit]
        fresh = [w for w in fresh if w is not None]
        if worst:
            note = f"; 16 buffers in turn at ≤ 1 KiB: {fmt_ratio(min(fresh))}" if fresh else ""
            tgt("unmask at least as fast as memcpy (worst size; memcpy time / unmask time)", min(worst),
                lambda v: v >= 1.0, f"{fmt_ratio(min(worst))}{note}")
    ws_allocs = [a for a in allocs if a.get("role") == "server" and a.get("name") == "wsproto" and "error" not in a]
    if ws_allocs:
        worst = max(a["allocs_per_msg"] for a in ws_allocs)
        tgt("0 heap allocations per echoed message (worst case)", worst, lambda v: v < 0.01, f"{worst:.3f}")
    ws_mem = next((m for m in memory if m.get("name") == "wsproto" and "bytes_per_idle_conn" in m), None)
    if ws_mem:
        v = ws_mem["bytes_per_idle_conn"]
        tgt("idle connection ≤ 4 KiB user-space", v, lambda v: v <= 4096, f"{v:,.0f} B")
    if clients:
        cr = [(ratio(r.get("wsproto", {}).get("msgs_per_s"), r.get("tungstenite", {}).get("msgs_per_s")),
               ratio(r.get("tungstenite", {}).get("client_us_per_msg"), r.get("wsproto", {}).get("client_us_per_msg")),
               f"{size_label(r['size'])} ({r['conns']}, {r['inflight']})") for r in clients]
        cr = [c for c in cr if c[0] is not None]
        if cr:
            w = min(cr)
            tgt("client ≥ 1.5× tokio-tungstenite's client (worst cell)", w[0], lambda v: v >= 1.5,
                f"{fmt_ratio(w[0])} ({fmt_ratio(w[1])}) at {w[2]}")
    L.append("")
    return "\n".join(L)


def render_deflate(L, args, dres, dmem):
    L.append("")
    L.append("## permessage-deflate")
    L.append("")
    if dres:
        L.append("A JSON-like corpus (an array of records with ids, names, e-mails, tags, scores and short sentences; "
                 "`--kind json`). The generator offers `permessage-deflate; client_no_context_takeover; "
                 "client_max_window_bits` and sends every message pre-compressed (raw deflate, level 6, sync flush, "
                 "`00 00 ff ff` stripped; one frame with RSV1), compressed once and resent verbatim; it inflates every "
                 "echo (one inflater per connection, honouring the server's context takeover) and compares it in "
                 "full. **takeover**: the server keeps its compression context (the default answer), so it compresses "
                 "each echo against the previous identical one — a best case, its echoes are a few bytes. **no "
                 "takeover**: the generator also offers `server_no_context_takeover`, so every echo is compressed "
                 "from scratch, as distinct messages would be. `tcp` echoes the same JSON uncompressed: the ceiling "
                 "for that payload size. Wire/payload: frame bytes on the wire (headers included) over payload bytes, "
                 "client→server and server→client. The peers' echo servers have no permessage-deflate "
                 "(tokio-tungstenite 0.30, fastwebsockets 0.10, tokio-websockets 0.13): n/a.")
        L.append("")
        peers = [p for p in PEERS if p in args.servers]
        dservers = [n for n in DEFLATE_SERVERS if n != "tcp" and any(n in v for v in dres.values())]
        hdr = ["payload (C, P)", "server context", "tcp (plain) msgs/s"]
        for n in dservers:
            hdr += [f"{SHORT[n]} msgs/s", f"{SHORT[n]}/tcp", f"{SHORT[n]} µs/msg (tcp)", "wire/payload c→s",
                    "wire/payload s→c"]
        hdr += [SHORT[p] for p in peers] + ["generator CPU"]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "|".join(["---", "---"] + ["--:"] * (len(hdr) - 2)) + "|")
        cells = sorted({k[:3] for k in dres}, key=lambda c: (c[0], -c[1]))
        for cell in cells:
            tcp_rows = [r for r in dres.get(cell + (DEFLATE_KINDS[0][0],), {}).get("tcp", []) if "error" not in r]
            tcp = median(tcp_rows, "msgs_per_s")
            tcp_us = median(tcp_rows, "server_us_per_msg")
            for (label, _) in DEFLATE_KINDS:
                key = cell + (label,)
                if key not in dres:
                    continue
                row = [f"{size_label(cell[0])} deflate ({cell[1]}, {cell[2]})", label, fmt_rate(tcp)]
                gens = [median(tcp_rows, "gen_cpu")]
                for n in dservers:
                    allr = dres[key].get(n, [])
                    rows = [r for r in allr if "error" not in r]
                    m = median(rows, "msgs_per_s")
                    g = median(rows, "gen_cpu")
                    gens.append(g)
                    mark = ""
                    if g is not None and g >= GEN_SATURATED:
                        mark += "†"
                    if max(median(rows, "others_cpu0") or 0, median(rows, "others_cpu1") or 0) >= CONTENDED:
                        mark += "~"
                    if len(allr) != len(rows):
                        mark += f" ({len(allr) - len(rows)} failed)"
                    u = median(rows, "server_us_per_msg")
                    c2s, s2c = median(rows, "ratio_c2s"), median(rows, "ratio_s2c")
                    row += [fmt_rate(m) + mark, fmt_ratio(ratio(m, tcp)),
                            ("—" if u is None else f"{u:.3g}") + ("" if tcp_us is None else f" ({tcp_us:.3g})"),
                            "—" if c2s is None else f"{c2s:.3f}", "—" if s2c is None else f"{s2c:.3f}"]
                row += ["n/a"] * len(peers)
                gens = [x for x in gens if x is not None]
                row.append(f"{min(gens):.2f}–{max(gens):.2f}" if gens else "—")
                L.append("| " + " | ".join(row) + " |")
        L.append("")
    if dmem:
        n = next((m.get("conns") for m in dmem if m.get("conns")), args.deflate_conns)
        L.append(f"Memory per connection with permessage-deflate (wsproto): server RSS delta (`/proc/PID/statm`) / "
                 f"{n} connections, each after its handshake and then after one 1 KiB JSON message sent compressed "
                 "and echoed compressed (`idle-conns --deflate`), so both of the server's codecs exist. Window 9: the "
                 "client offers `server_max_window_bits=9; client_max_window_bits=9`; no takeover: "
                 "`server_no_context_takeover; client_no_context_takeover` (the generator always offers the latter; "
                 "with takeover the server keeps its own context). The first row is the same measurement without "
                 "deflate (a 16 B binary echo).")
        L.append("")
        L.append("| deflate | window bits | context takeover | negotiated | RSS bytes / connection after handshake | "
                 "RSS bytes / connection after one compressed echo |")
        L.append("|---|--:|---|---|--:|--:|")
        for m in dmem:
            a, b = m.get("bytes_per_idle_conn"), m.get("bytes_per_conn_after_echo")
            if "error" in m:
                b = None
            L.append(f"| {'yes' if m['deflate'] else 'no'} | {m['bits'] if m['deflate'] else '—'} | "
                     f"{('none' if m['no_takeover'] else 'server') if m['deflate'] else '—'} | "
                     f"`{m.get('deflate_params') or m.get('error', '—')}` | {'—' if a is None else f'{a:,.0f}'} | "
                     f"{'—' if b is None else f'{b:,.0f}'} |")
        L.append("")


def load_prior(path):
    """Raw results of an earlier run (target/bench-results.json), keys back to tuples."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None

    def keys(m):
        out = {}
        for k, v in (m or {}).items():
            size, conns, inflight, label = k.split(" ", 3)
            out[(int(size), int(conns), int(inflight), label)] = v
        return out
    d["matrix"] = keys(d.get("matrix"))
    d["deflate"] = keys(d.get("deflate"))
    return d


def source_commit(allow_dirty):
    """The commit the binaries are built from; refuses (exits) when tracked files differ from it, unless allowed."""
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
    rev = git("rev-parse", "--short", "HEAD").stdout.strip() or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        if not allow_dirty:
            raise SystemExit("bench/run.py: the tree has uncommitted changes; commit them so the results name a "
                             "commit that reproduces them, or pass --allow-dirty:\n" + dirty)
        log("WARNING: --allow-dirty: measuring uncommitted changes; the header says so.")
        return f"{rev} with uncommitted changes (--allow-dirty)"
    return rev


def build(args):
    """Builds the benchmark's binaries (and the mask bench) from the tree now, so no stale binary is measured."""
    offline = ["--offline"] if args.netns else []  # no network inside the namespace
    steps = [["cargo", "build", "--release", "-q", *offline, "-p", "wsproto-bench"]]
    if not args.no_criterion and not args.deflate_only:
        steps.append(["cargo", "bench", "-q", *offline, "-p", "wsproto", "--bench", "mask", "--no-run"])
    for cmd in steps:
        log("building: " + shlex.join(cmd))
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            raise SystemExit("bench/run.py: build failed: " + shlex.join(cmd))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=float, default=1.5, help="measurement window per run (s)")
    ap.add_argument("--warmup", type=float, default=0.4, help="warm-up before each window (s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer cells (a smoke run)")
    ap.add_argument("--cells", default="", help="only these cells, e.g. 16:16:128,1048576:4:1 (SIZE:C:P)")
    ap.add_argument("--kinds", default=",".join(k[0] for k in KINDS),
                    help="comma-separated, from: " + ",".join(k[0] for k in KINDS))
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="comma-separated, from " + ",".join(SERVERS + EXTRA_SERVERS) + " (default: the first five)")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--no-clients", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-criterion", action="store_true")
    ap.add_argument("--deflate-cells", default="",
                    help="permessage-deflate cells SIZE:C:P (default " +
                    ",".join(":".join(map(str, c)) for c in DEFLATE_CELLS) + ", or those of them in --cells)")
    ap.add_argument("--deflate-conns", type=int, default=1000, help="connections for the deflate memory table")
    ap.add_argument("--no-deflate", action="store_true", help="skip the permessage-deflate cells and memory")
    ap.add_argument("--deflate-only", action="store_true",
                    help="only the permessage-deflate cells and memory (use with --merge to keep the other sections)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the earlier raw results (--json) of every cell and section this run does not measure")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="run with uncommitted changes to tracked files (the header then says so); by default a "
                         "dirty tree is refused, so that every table names a commit that reproduces it")
    ap.add_argument("--no-build", action="store_true",
                    help="do not build first (run.sh has just built; otherwise stale binaries could be measured)")
    ap.add_argument("--netns", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench-results.json"),
                    help="raw results of every run")
    args = ap.parse_args()
    args.servers = [s for s in args.servers.split(",") if s]
    args.kinds = [k for k in args.kinds.split(",") if k]
    for s in args.servers:
        if s not in SERVERS + EXTRA_SERVERS:
            raise SystemExit(f"unknown server {s} (one of {', '.join(SERVERS + EXTRA_SERVERS)})")
    args.passthrough = [a for a in sys.argv[1:] if not a.startswith("--netns")]
    if "--netns" in sys.argv[1:]:
        i = sys.argv.index("--netns")
        args.passthrough = [a for j, a in enumerate(sys.argv[1:], 1) if j not in (i, i + 1)]
    # The command as the user typed it: run.sh passes its own (WSBENCH_COMMAND), minus the namespace plumbing.
    args.command = os.environ.get("WSBENCH_COMMAND") or shlex.join(["python3", "bench/run.py", *args.passthrough])
    args.commit = source_commit(args.allow_dirty)
    if not args.no_build:
        build(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    if not args.netns:
        log("WARNING: not in a private network namespace (use bench/run.sh): results use the host's loopback.")
    results, clients, memory, allocs, crit, dres, dmem = {}, [], [], [], [], {}, []
    prior = load_prior(args.json) if args.merge else None
    if args.merge and prior is None:
        log(f"WARNING: --merge: no earlier results in {args.json}; writing this run's only.")
    prior_header = None
    if prior is not None:
        try:
            with open(args.out) as f:
                prior_header = next((l.strip() for l in f if l.startswith("Generated by")), None)
        except OSError:
            pass
    t0 = time.time()
    if not args.deflate_only:
        run_matrix(args, results)
        if not args.no_clients:
            clients = run_clients(args)
        if not args.no_memory:
            memory = run_memory(args)
            allocs = run_allocs(args)
        if not args.no_criterion:
            crit = run_criterion(args)
    if not args.no_deflate:
        run_deflate(args, dres)
        if not args.no_memory:
            dmem = run_deflate_memory(args)
    if prior is not None:
        for k, v in prior["matrix"].items():
            results.setdefault(k, v)
        for k, v in prior["deflate"].items():
            dres.setdefault(k, v)
        clients = clients or prior.get("clients", [])
        memory = memory or prior.get("memory", [])
        allocs = allocs or prior.get("allocs", [])
        crit = crit or prior.get("criterion", [])
        dmem = dmem or prior.get("deflate_memory", [])
    text = render(args, results, clients, memory, allocs, crit, started, dres, dmem, prior_header)
    with open(args.out, "w") as f:
        f.write(text)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"matrix": {" ".join(map(str, k)): v for k, v in results.items()}, "clients": clients,
                   "memory": memory, "allocs": allocs, "criterion": crit,
                   "deflate": {" ".join(map(str, k)): v for k, v in dres.items()}, "deflate_memory": dmem},
                  f, indent=1)
    splicer = os.path.join(ROOT, "scripts", "update-readme.py")
    if os.path.exists(splicer) and os.path.abspath(args.out) == os.path.join(ROOT, "bench", "RESULTS.md"):
        subprocess.run([sys.executable, splicer], cwd=ROOT)
    print(text)
    log(f"done in {(time.time() - t0) / 60:.1f} min; wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
