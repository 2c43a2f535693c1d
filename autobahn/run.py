#!/usr/bin/env python3
"""Run the Autobahn|Testsuite against wsproto's echo server and/or client and gate on the result.

    python3 autobahn/run.py --server-bin PATH --client-bin PATH \
        [--cases '*'] [--role server|client|both] [--update-expected] [--timeout-per-role SECONDS]

server role: starts `SERVER_BIN 127.0.0.1:PORT` and runs `wstest -m fuzzingclient` against it.
client role: starts `wstest -m fuzzingserver` and runs `CLIENT_BIN ws://127.0.0.1:PORT wsproto` against it.

Ports are picked at run time; everything listens on 127.0.0.1 only. Reports go to
autobahn/reports/{servers,clients} (git-ignored); the summary goes to autobahn/RESULTS.md; the results
are compared with the committed autobahn/expected.json. Standard library only.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

# permessage-deflate has landed, so sections 12 and 13 must be OK. Set to False to accept UNIMPLEMENTED there
# (an implementation without the extension).
DEFLATE_IMPLEMENTED = True

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"
EXPECTED_FILE = HERE / "expected.json"
RESULTS_FILE = HERE / "RESULTS.md"
INSTALL_SCRIPT = HERE / "install-wstest.sh"
TEMPLATES = {"server": HERE / "fuzzingclient.json", "client": HERE / "fuzzingserver.json"}
OUTDIRS = {"server": REPORTS / "servers", "client": REPORTS / "clients"}
ROLE_TITLES = {
    "server": "server role: wstest fuzzingclient → our echo server",
    "client": "client role: our client → wstest fuzzingserver",
}

TOTAL_CASES = 517  # what wstest 25.10.1 runs for cases ["*"]
# The suite scores these INFORMATIONAL in both columns whatever the implementation does (the cases overwrite
# behavior and behaviorClose unconditionally), so their target is INFORMATIONAL/INFORMATIONAL.
INFORMATIONAL_CASES = {"7.1.6", "7.13.1", "7.13.2"}
GATED_SECTIONS = range(1, 11)
DEFLATE_SECTIONS = (12, 13)
SECTION_NAMES = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 handling",
    7: "Close handling",
    9: "Limits/performance",
    10: "Miscellaneous",
    12: "permessage-deflate (payloads)",
    13: "permessage-deflate (parameters)",
}
BEHAVIOURS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
CLOSE_BEHAVIOURS = ["OK", "UNCLEAN", "WRONG CODE", "FAILED BY CLIENT", "FAILED", "INFORMATIONAL", "UNIMPLEMENTED"]

STARTUP_TIMEOUT = 30.0  # seconds for a server (ours or wstest's) to accept TCP
REPORT_WAIT = 5.0  # seconds to wait for fuzzingserver's index.json after our client is done
DEFLATE_NOTE = "sections 12–13: UNIMPLEMENTED, allowed until permessage-deflate lands"


class HarnessError(Exception):
    """Something other than a test case went wrong (setup, timeouts, crashes)."""


# ---------------------------------------------------------------------------------------------------------------
# Child processes: each in its own session/process group, all killed on exit.
# ---------------------------------------------------------------------------------------------------------------
class Children:
    def __init__(self):
        self.procs = []
        self.logs = []

    def spawn(self, argv, log_path, cwd=None, env=None):
        log = open(log_path, "wb")  # noqa: SIM115 -- closed in kill_all()
        self.logs.append(log)
        try:
            proc = subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            raise HarnessError(f"cannot start {argv[0]}: {e}") from e
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc, grace=3.0):
        """SIGTERM the child's process group; SIGKILL whatever is left of it after `grace` seconds."""
        if proc.poll() is not None:
            return  # reaped earlier: its pid may belong to someone else by now, signal nothing
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        # (the SIGKILL round also sweeps helpers the child left in its process group)

    def kill_all(self):
        for proc in reversed(self.procs):
            self.kill(proc)
        self.procs.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------
def say(msg=""):
    print(msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=STARTUP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise HarnessError(
                f"{what} exited (code {proc.returncode}) before accepting connections on 127.0.0.1:{port}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise HarnessError(f"{what} did not accept connections on 127.0.0.1:{port} within {timeout:.0f} s")
        time.sleep(0.05)


def tail(path, lines=15):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line for line in text[-lines:])


def case_key(case_id):
    return tuple(int(x) for x in case_id.split("."))


def section_of(case_id):
    return int(case_id.split(".", 1)[0])


def target_of(case_id):
    """(accepted behaviours, accepted behaviorClose values, description) for one case."""
    sec = section_of(case_id)
    if sec in DEFLATE_SECTIONS:
        if DEFLATE_IMPLEMENTED:
            return {"OK"}, {"OK"}, "OK/OK"
        return {"OK", "UNIMPLEMENTED"}, {"OK"}, "UNIMPLEMENTED or OK/OK"
    if case_id in INFORMATIONAL_CASES:
        return {"INFORMATIONAL"}, {"INFORMATIONAL", "OK"}, "INFORMATIONAL/INFORMATIONAL"
    if sec in GATED_SECTIONS:
        return {"OK"}, {"OK"}, "OK/OK"
    return set(), set(), "(unknown section)"


def meets_target(case_id, result):
    if result is None:
        return False
    ok_b, ok_c, _ = target_of(case_id)
    return result[0] in ok_b and result[1] in ok_c


def run_install(wstest_home):
    env = dict(os.environ, WSTEST_HOME=str(wstest_home))
    try:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], env=env, check=True, timeout=900)
    except subprocess.CalledProcessError as e:
        raise HarnessError(f"install-wstest.sh failed (exit {e.returncode})") from e
    except subprocess.TimeoutExpired as e:
        raise HarnessError("install-wstest.sh timed out") from e
    wstest = wstest_home / "bin" / "wstest"
    if not os.access(wstest, os.X_OK):
        raise HarnessError(f"{wstest} missing after install")
    return wstest


def resolve_cases(wstest, patterns):
    """The case ids wstest will run for `patterns`, using wstest's own matcher."""
    proc = subprocess.run(
        [str(wstest), "--wsproto-list-cases", *patterns], check=False, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise HarnessError(f"bad --cases {','.join(patterns)!r}: {proc.stderr.strip() or proc.stdout.strip()}")
    ids = proc.stdout.split()
    if not ids:
        raise HarnessError(f"--cases {','.join(patterns)!r} selects no case")
    if patterns == ["*"] and len(ids) != TOTAL_CASES:
        raise HarnessError(f"wstest lists {len(ids)} cases for '*', expected {TOTAL_CASES}: wrong wstest version?")
    return ids


def check_bin(path, what):
    p = Path(path)
    if not p.is_file() or not os.access(p, os.X_OK):
        raise HarnessError(f"{what} {path!r} is not an executable file")
    return p.resolve()


# ---------------------------------------------------------------------------------------------------------------
# The two roles
# ---------------------------------------------------------------------------------------------------------------
class RoleRun:
    def __init__(self, role):
        self.role = role
        self.outdir = OUTDIRS[role]
        self.problems = []  # harness-level failures (timeouts, crashes, missing report)
        self.results = {}  # case_id -> (behavior, behaviorClose, remoteCloseCode)
        self.elapsed = 0.0


def fresh_outdir(outdir):
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)


def write_spec(role, workdir, port, cases, agent):
    spec = json.loads(TEMPLATES[role].read_text())
    spec["outdir"] = str(OUTDIRS[role])
    spec["cases"] = cases
    if role == "server":
        servers = spec.get("servers") or [{}]
        spec["servers"] = [dict(servers[0], agent=agent, url=f"ws://127.0.0.1:{port}")]
        path = workdir / "fuzzingclient.json"
    else:
        spec["url"] = f"ws://127.0.0.1:{port}"
        path = workdir / "fuzzingserver.json"
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


def run_server_role(children, wstest, server_bin, workdir, cases, agent, timeout, env):
    run = RoleRun("server")
    fresh_outdir(run.outdir)
    port = free_port()
    spec = write_spec("server", workdir, port, cases, agent)
    server_log = run.outdir / "server-bin.log"
    wstest_log = run.outdir / "wstest.log"

    say(f"[server] starting {server_bin} 127.0.0.1:{port}")
    server = children.spawn([server_bin, f"127.0.0.1:{port}"], server_log)
    try:
        wait_for_port(port, server, "server binary")
    except HarnessError as e:
        run.problems.append(str(e))
        say(tail(server_log))
        children.kill(server)
        return run

    say(f"[server] wstest -m fuzzingclient → ws://127.0.0.1:{port} (timeout {timeout:.0f} s)")
    t0 = time.monotonic()
    wst = children.spawn([wstest, "-m", "fuzzingclient", "-s", spec], wstest_log, cwd=workdir, env=env)
    try:
        rc = wst.wait(timeout=timeout)
        if rc != 0:
            run.problems.append(f"wstest fuzzingclient exited with code {rc}")
    except subprocess.TimeoutExpired:
        run.problems.append(f"wstest fuzzingclient timed out after {timeout:.0f} s")
        children.kill(wst)
    run.elapsed = time.monotonic() - t0

    if server.poll() is not None:
        run.problems.append(f"server binary exited during the run (code {server.returncode})")
    children.kill(server)
    if run.problems:
        say(f"[server] wstest log tail ({wstest_log}):\n{tail(wstest_log)}")
        say(f"[server] server log tail ({server_log}):\n{tail(server_log)}")
    return run


def run_client_role(children, wstest, client_bin, workdir, cases, agent, timeout, env):
    run = RoleRun("client")
    fresh_outdir(run.outdir)
    port = free_port()
    spec = write_spec("client", workdir, port, cases, agent)
    client_log = run.outdir / "client-bin.log"
    wstest_log = run.outdir / "wstest.log"

    say(f"[client] starting wstest -m fuzzingserver on 127.0.0.1:{port}")
    fuzz = children.spawn([wstest, "-m", "fuzzingserver", "-s", spec, "-u", "0"], wstest_log, cwd=workdir, env=env)
    try:
        wait_for_port(port, fuzz, "wstest fuzzingserver")
    except HarnessError as e:
        run.problems.append(str(e))
        say(tail(wstest_log))
        children.kill(fuzz)
        return run

    url = f"ws://127.0.0.1:{port}"
    say(f"[client] {client_bin} {url} {agent} (timeout {timeout:.0f} s)")
    t0 = time.monotonic()
    client = children.spawn([client_bin, url, agent], client_log)
    try:
        rc = client.wait(timeout=timeout)
        if rc != 0:
            run.problems.append(f"client binary exited with code {rc}")
    except subprocess.TimeoutExpired:
        run.problems.append(f"client binary timed out after {timeout:.0f} s")
        children.kill(client)
    run.elapsed = time.monotonic() - t0

    # fuzzingserver writes the reports when the client opens /updateReports; it never exits by itself.
    # If our client did not get that far, ask for the reports ourselves so the cases it did run are scored.
    index = run.outdir / "index.json"
    if not wait_for_json(index, fuzz, 3.0 if run.problems else REPORT_WAIT) and fuzz.poll() is None:
        if not run.problems:
            run.problems.append("the client exited without opening /updateReports (no index.json written)")
        say(f"[client] no report from the client run: requesting /updateReports?agent={agent} from the harness")
        try:
            request_update_reports(port, agent)
        except OSError as e:
            run.problems.append(f"could not request /updateReports from fuzzingserver: {e}")
        wait_for_json(index, fuzz, REPORT_WAIT)
    if fuzz.poll() is not None:
        run.problems.append(f"wstest fuzzingserver exited during the run (code {fuzz.returncode})")
    children.kill(fuzz)
    if run.problems:
        say(f"[client] wstest log tail ({wstest_log}):\n{tail(wstest_log)}")
        say(f"[client] client log tail ({client_log}):\n{tail(client_log)}")
    return run


def wait_for_json(path, proc, timeout):
    """Wait until `path` holds valid JSON (True), `proc` exits or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            json.loads(path.read_text())
            return True
        except (OSError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def request_update_reports(port, agent, timeout=10.0):
    """Minimal WebSocket client: open /updateReports?agent=AGENT and wait for fuzzingserver to close it."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /updateReports?agent={urllib.parse.quote(agent)} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request.encode())
        # The reports are written before the server's close frame is sent: read until it arrives or EOF.
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and not head.startswith(b"HTTP/1.1 101"):
                raise OSError(f"handshake refused: {head.splitlines()[0].decode(errors='replace')}")
            if sep and rest[:1] == b"\x88":  # close frame
                s.sendall(b"\x88\x80" + os.urandom(4))  # masked, empty close reply
                break


def read_results(run, agent, case_ids):
    index = run.outdir / "index.json"
    try:
        data = json.loads(index.read_text())
    except FileNotFoundError:
        run.problems.append(f"{index.relative_to(HERE.parent)} missing: wstest wrote no report")
        return
    except ValueError as e:
        run.problems.append(f"{index.relative_to(HERE.parent)} is not valid JSON: {e}")
        return
    if agent not in data:
        run.problems.append(
            f"agent {agent!r} missing from {index.relative_to(HERE.parent)} (agents: {sorted(data) or 'none'})"
        )
        return
    for case_id, r in data[agent].items():
        run.results[case_id] = (r.get("behavior"), r.get("behaviorClose"), r.get("remoteCloseCode"))
    got, want = set(run.results), set(case_ids)
    if got != want:
        run.problems.append(f"index.json has {len(got)} cases for {agent!r}, expected {len(want)}")
        missing = sorted(want - got, key=case_key)
        extra = sorted(got - want, key=case_key)
        if missing:
            run.problems.append(f"missing cases: {', '.join(missing[:20])}{' …' if len(missing) > 20 else ''}")
        if extra:
            run.problems.append(f"unexpected cases: {', '.join(extra[:20])}{' …' if len(extra) > 20 else ''}")


# ---------------------------------------------------------------------------------------------------------------
# Reporting, gate, expected.json
# ---------------------------------------------------------------------------------------------------------------
def gate_failures(run, case_ids):
    out = []
    for case_id in case_ids:
        r = run.results.get(case_id)
        if r is None:
            continue  # already reported as a missing case
        if not meets_target(case_id, r):
            out.append((case_id, r))
    return out


def deflate_status(runs):
    """One line on sections 12–13 across the roles that ran (None if none of their cases ran)."""
    seen = [r for run in runs for c, r in run.results.items() if section_of(c) in DEFLATE_SECTIONS]
    if not seen:
        return None
    if DEFLATE_IMPLEMENTED:
        return "sections 12–13: permessage-deflate implemented, every case must be OK"
    n_unimpl = sum(1 for r in seen if r[0] == "UNIMPLEMENTED")
    if n_unimpl:
        return f"{DEFLATE_NOTE} ({n_unimpl} of {len(seen)} case results UNIMPLEMENTED)"
    return "sections 12–13: all OK (set DEFLATE_IMPLEMENTED = True in autobahn/run.py to require it)"


def markdown(runs, patterns, failures, agent):
    lines = [
        "# Autobahn|Testsuite results",
        "",
        (
            "Generated by `python3 autobahn/run.py` — do not edit by hand. "
            f"wstest (autobahntestsuite 25.10.1), agent `{agent}`, cases `{','.join(patterns)}`."
        ),
        "",
    ]
    # Counts per behaviour, per role.
    header = "| Behaviour |"
    rule = "|---|"
    for run in runs:
        header += f" {run.role}: behavior | {run.role}: behaviorClose |"
        rule += "--:|--:|"
    lines += [header, rule]
    values = [b for b in CLOSE_BEHAVIOURS]
    for run in runs:
        for r in run.results.values():
            for v in r[:2]:
                if v not in values:
                    values.append(v)
    for v in values:
        counts = []
        for run in runs:
            counts.append(sum(1 for r in run.results.values() if r[0] == v))
            counts.append(sum(1 for r in run.results.values() if r[1] == v))
        if any(counts):
            lines.append(f"| {v} | " + " | ".join(str(c) for c in counts) + " |")
    row = "| **Total** | " + " | ".join(f"**{len(run.results)}** | **{len(run.results)}**" for run in runs) + " |"
    lines += [row, ""]

    # Per section, per role.
    for run in runs:
        lines += [f"## {ROLE_TITLES[run.role]}", ""]
        if not run.results:
            lines += ["No results: " + "; ".join(run.problems), ""]
            continue
        lines.append("| Section | Cases | " + " | ".join(BEHAVIOURS) + " | behaviorClose not OK | Meets target |")
        lines.append("|---|--:|" + "--:|" * len(BEHAVIOURS) + "--:|--:|")
        sections = sorted({section_of(c) for c in run.results})
        for sec in sections + ["all"]:
            rs = [(c, r) for c, r in run.results.items() if sec == "all" or section_of(c) == sec]
            name = "**All**" if sec == "all" else f"{sec} {SECTION_NAMES.get(sec, '?')}"
            cells = [str(len(rs))]
            cells += [str(sum(1 for _, r in rs if r[0] == b)) for b in BEHAVIOURS]
            cells.append(str(sum(1 for _, r in rs if r[1] != "OK")))
            cells.append(f"{sum(1 for c, r in rs if meets_target(c, r))}/{len(rs)}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        fails = failures.get(run.role, [])
        if fails:
            lines += [
                f"Cases short of target ({len(fails)}):",
                "",
                "| Case | behavior | behaviorClose | remoteCloseCode | target |",
                "|---|---|---|--:|---|",
            ]
            for case_id, r in fails:
                lines.append(f"| {case_id} | {r[0]} | {r[1]} | {r[2]} | {target_of(case_id)[2]} |")
            lines.append("")
        else:
            lines += ["Every case meets its target.", ""]
    note = deflate_status(runs)
    if note:
        lines += [f"Note: {note}.", ""]
    lines += [
        "Target: sections 1–10 OK in both behavior and behaviorClose, except 7.1.6, 7.13.1 and 7.13.2 "
        "(INFORMATIONAL in both columns, as the suite always scores them); sections 12–13 "
        + ("OK." if DEFLATE_IMPLEMENTED else "UNIMPLEMENTED or OK (behaviorClose OK) until permessage-deflate lands."),
        "",
    ]
    return "\n".join(lines)


def dump_expected(expected):
    """{role: {case_id: [behavior, behaviorClose]}} with sorted keys, one case a line."""
    out = ["{"]
    roles = sorted(expected)
    for i, role in enumerate(roles):
        out.append(f"  {json.dumps(role)}: {{")
        cases = sorted(expected[role])
        for j, case_id in enumerate(cases):
            comma = "," if j < len(cases) - 1 else ""
            out.append(f"    {json.dumps(case_id)}: {json.dumps(list(expected[role][case_id]))}{comma}")
        out.append("  }" + ("," if i < len(roles) - 1 else ""))
    out.append("}")
    return "\n".join(out) + "\n"


def fmt_result(r):
    return "/".join(r) if r else "(absent)"


def diff_expected(expected, runs, selected):
    """Differences between expected.json and this run, for the cases this run covered."""
    diffs = []
    for run in runs:
        exp_role = expected.get(run.role, {})
        for case_id in selected:
            a = list(run.results[case_id][:2]) if case_id in run.results else None
            e = exp_role.get(case_id)
            if a == e:
                continue
            if e is None:
                kind = "NEW"
            elif a is None:
                kind = "MISSING"
            elif meets_target(case_id, a) and not meets_target(case_id, e):
                kind = "IMPROVEMENT"
            elif meets_target(case_id, e) and not meets_target(case_id, a):
                kind = "REGRESSION"
            else:
                kind = "CHANGED"
            diffs.append(f"{kind:<11} {run.role} {case_id}: expected {fmt_result(e)}, got {fmt_result(a)}")
    return diffs


def update_expected(expected, runs, selected, full):
    for run in runs:
        role = {} if full else dict(expected.get(run.role, {}))
        for case_id in selected:
            role.pop(case_id, None)
            if case_id in run.results:
                role[case_id] = list(run.results[case_id][:2])
        expected[run.role] = role
    EXPECTED_FILE.write_text(dump_expected(expected))


# ---------------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server-bin", help="echo server binary, run as SERVER_BIN 127.0.0.1:PORT")
    ap.add_argument("--client-bin", help="case-running client binary, run as CLIENT_BIN ws://127.0.0.1:PORT AGENT")
    ap.add_argument("--cases", default="*", help="comma-separated wstest case patterns (default '*': all 517)")
    ap.add_argument("--role", choices=["server", "client", "both"], default="both")
    ap.add_argument("--update-expected", action="store_true", help="rewrite autobahn/expected.json from this run")
    ap.add_argument(
        "--timeout-per-role",
        type=float,
        default=1200.0,
        metavar="SECONDS",
        help="timeout for wstest (server role) / the client binary (client role); default 1200 "
        "(sections 1-10 take ~15 s a role; sections 12-13 with deflate take minutes)",
    )
    ap.add_argument("--sequential", action="store_true", help="run the roles one after the other (default: at once)")
    args = ap.parse_args()

    roles = ["server", "client"] if args.role == "both" else [args.role]
    patterns = [p.strip() for p in args.cases.split(",") if p.strip()]
    if not patterns:
        ap.error("--cases is empty")

    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="wsproto-autobahn-"))
    started = time.monotonic()
    try:
        bins = {}
        if "server" in roles:
            if not args.server_bin:
                ap.error("--server-bin is required for the server role")
            bins["server"] = check_bin(args.server_bin, "--server-bin")
        if "client" in roles:
            if not args.client_bin:
                ap.error("--client-bin is required for the client role")
            bins["client"] = check_bin(args.client_bin, "--client-bin")

        wstest_home = Path(os.environ.get("WSTEST_HOME") or Path.home() / ".cache" / "wsproto-wstest")
        wstest = run_install(wstest_home)
        selected = resolve_cases(wstest, patterns)
        full = patterns == ["*"]
        agent = json.loads(TEMPLATES["server"].read_text())["servers"][0]["agent"]
        # Docker route of install-wstest.sh: directories the container must see.
        env = dict(os.environ, WSTEST_DOCKER_MOUNTS=f"{HERE}:{workdir}")
        REPORTS.mkdir(exist_ok=True)
        say(f"{len(selected)} case(s) selected by {','.join(patterns)!r}; roles: {', '.join(roles)}")

        def run_role(role):
            runner = run_server_role if role == "server" else run_client_role
            run = runner(children, wstest, bins[role], workdir, patterns, agent, args.timeout_per_role, env)
            if not run.problems or (run.outdir / "index.json").exists():
                read_results(run, agent, selected)
            say(f"[{role}] {len(run.results)} case result(s) in {run.elapsed:.1f} s")
            return run

        if args.sequential or len(roles) == 1:
            runs = [run_role(role) for role in roles]
        else:
            # The roles share nothing but the machine (own ports, own report directories); wstest is
            # single-threaded Python, so on two cores the pair takes little longer than the slower role.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(roles)) as pool:
                runs = list(pool.map(run_role, roles))
    except HarnessError as e:
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        say("interrupted: children killed")
        return 130
    except SystemExit as e:
        if isinstance(e.code, int) and e.code > 128:
            say(f"terminated by signal {e.code - 128}: children killed")
        raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        children.kill_all()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        shutil.rmtree(workdir, ignore_errors=True)

    failures = {run.role: gate_failures(run, selected) for run in runs}
    md = markdown(runs, patterns, failures, agent)
    RESULTS_FILE.write_text(md)
    say()
    say(md)
    say(f"(written to {RESULTS_FILE.relative_to(HERE.parent)}; reports in {REPORTS.relative_to(HERE.parent)}/)")
    say()

    failed = False
    for run in runs:
        for p in run.problems:
            say(f"FAIL [{run.role}] {p}")
            failed = True
        n = len(failures[run.role])
        if n:
            say(
                f"FAIL [{run.role}] {n} case(s) short of target: "
                + ", ".join(c for c, _ in failures[run.role][:30])
                + (" …" if n > 30 else "")
            )
            failed = True
    note = deflate_status(runs)
    if note:
        say(note)

    # expected.json
    if not EXPECTED_FILE.exists():
        update_expected({}, runs, selected, full)
        say(
            f"{EXPECTED_FILE.relative_to(HERE.parent)} was absent: written from this run "
            f"({', '.join(r.role for r in runs)}; {len(selected)} case(s)) — review and commit it"
        )
    else:
        expected = json.loads(EXPECTED_FILE.read_text())
        diffs = diff_expected(expected, runs, selected)
        if diffs:
            say(f"{len(diffs)} difference(s) from {EXPECTED_FILE.relative_to(HERE.parent)}:")
            for d in diffs:
                say("  " + d)
        else:
            say(f"results match {EXPECTED_FILE.relative_to(HERE.parent)}")
        if args.update_expected:
            update_expected(expected, runs, selected, full)
            say(f"{EXPECTED_FILE.relative_to(HERE.parent)} updated (--update-expected)")
        elif diffs:
            say("FAIL results differ from expected.json (rerun with --update-expected to accept them)")
            failed = True

    total = time.monotonic() - started
    say(f"{'FAILED' if failed else 'PASSED'} in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
