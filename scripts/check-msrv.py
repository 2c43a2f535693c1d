#!/usr/bin/env python3
"""Checks that each workspace package's `rust-version` is at least every dependency's own `rust-version`.

  python3 scripts/check-msrv.py                    # a ./run-tests step
  python3 scripts/check-msrv.py --metadata FILE    # read `cargo metadata` output from FILE instead

For every workspace member that declares a rust-version (wsproto and wsproto-tokio inherit it from
[workspace.package]), walks its dependency graph from `cargo metadata --format-version 1 --all-features` (the
versions Cargo.lock pins, every platform): the member's normal, build and dev dependencies, and the normal and
build dependencies below them. Each package's rust-version must not exceed the member's. Members without a
rust-version (the publish = false harnesses) are listed, not checked.

It also knows a few constructs in our own sources that set a floor of their own (SOURCE_FLOORS below): the
compiler features no dependency metadata shows.

Exit status: 0 when every declared rust-version is high enough; 1 when a dependency (or our own source) needs a
newer Rust, with one line per offender saying which, through what, and what to do; 2 when it could not run.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (regex over a member's .rs files, the Rust version it needs, why). Language and target features that clippy's
# `incompatible_msrv` lint (which covers std APIs) does not see.
SOURCE_FLOORS = [
    (re.compile(r'target_feature\s*\(\s*enable\s*=\s*"avx512'), (1, 89, 0),
     "#[target_feature(enable = \"avx512…\")] (AVX-512 target features are stable since Rust 1.89)"),
]


def parse_version(text):
    """'1.85' / '1.85.0' / '1.85.0-beta' -> (1, 85, 0)."""
    core = text.strip().split("-", 1)[0].split("+", 1)[0]
    parts = [int(p) for p in core.split(".")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"not a rust-version: {text!r}")
    return tuple(parts + [0] * (3 - len(parts)))


def show(version):
    return ".".join(str(p) for p in (version if version[2] else version[:2]))


def load_metadata(path):
    if path:
        return json.loads(Path(path).read_text())
    cmd = ["cargo", "metadata", "--format-version", "1", "--all-features"]
    try:
        out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        stderr = getattr(e, "stderr", "") or ""
        sys.exit(f"check-msrv: `{' '.join(cmd)}` failed: {e}\n{stderr}")
    return json.loads(out)


def walk(member_id, nodes):
    """Every package the member needs, with the chain of names that brings it in and whether only as dev."""
    parent = {member_id: None}
    dev_only = {member_id: False}
    queue = [member_id]
    while queue:
        current = queue.pop(0)
        for dep in nodes[current]["deps"]:
            kinds = {k.get("kind") for k in dep.get("dep_kinds") or [{"kind": None}]}
            if current != member_id:
                kinds.discard("dev")  # a dependency's own dev-dependencies are never built for us
            if not kinds:
                continue
            via_dev = dev_only[current] or kinds == {"dev"}
            pkg = dep["pkg"]
            if pkg not in parent:
                parent[pkg] = current
                dev_only[pkg] = via_dev
                queue.append(pkg)
            elif dev_only[pkg] and not via_dev:
                # Also reachable without dev-dependencies: report it as a library dependency.
                parent[pkg] = current
                dev_only[pkg] = False
                queue.append(pkg)
    del parent[member_id]
    return parent, dev_only


def chain(pkg_id, member_id, parent, packages):
    names = []
    while pkg_id is not None:
        names.append(packages[pkg_id]["name"])
        pkg_id = parent.get(pkg_id) if pkg_id != member_id else None
    return " -> ".join(reversed(names))


def source_floor(member):
    """The highest SOURCE_FLOORS version found in the member's own sources, with where and why."""
    best = None
    manifest_dir = Path(member["manifest_path"]).parent
    for path in sorted(manifest_dir.rglob("*.rs")):
        if "target" in path.relative_to(manifest_dir).parts:
            continue
        text = path.read_text(errors="replace")
        for pattern, version, why in SOURCE_FLOORS:
            match = pattern.search(text)
            if match and (best is None or version > best[0]):
                line = text.count("\n", 0, match.start()) + 1
                best = (version, f"{path.relative_to(ROOT)}:{line}", why)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metadata", help="read `cargo metadata --format-version 1 --all-features` output from here")
    args = ap.parse_args()

    meta = load_metadata(args.metadata)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    problems = []

    for member_id in meta["workspace_members"]:
        member = packages[member_id]
        name = member["name"]
        parent, dev_only = walk(member_id, nodes)
        needs = []  # (version, package id)
        for pkg_id in parent:
            if pkg_id in members:
                continue  # another member of this workspace: checked on its own line
            rv = packages[pkg_id].get("rust_version")
            if rv:
                needs.append((parse_version(rv), pkg_id))
        lib_max = [n for n in needs if not dev_only[n[1]]]
        dev_max = [n for n in needs if dev_only[n[1]]]

        def describe(group):
            """The highest version in the group and (up to three of) the packages that need it."""
            if not group:
                return "none declared"
            top = max(v for v, _ in group)
            names = sorted(f"{packages[i]['name']} {packages[i]['version']}" for v, i in group if v == top)
            more = f", +{len(names) - 3} more" if len(names) > 3 else ""
            return f"{show(top)} ({', '.join(names[:3])}{more})"

        floor = source_floor(member)
        floor_text = f"; our source {show(floor[0])} ({floor[1]})" if floor else ""
        declared = member.get("rust_version")
        if not declared:
            print(f"check-msrv: {name}: no rust-version, not checked (dependencies need {describe(lib_max)}, "
                  f"dev-dependencies {describe(dev_max)}{floor_text})")
            continue
        mine = parse_version(declared)
        print(f"check-msrv: {name}: rust-version {show(mine)}; dependencies need {describe(lib_max)}, "
              f"dev-dependencies {describe(dev_max)}{floor_text}")
        over = [(v, i) for v, i in sorted(needs, key=lambda n: (n[0], packages[n[1]]["name"]), reverse=True)
                if v > mine]
        if over:
            shown = [
                f"{packages[i]['name']} {packages[i]['version']} needs {show(v)}"
                f"{' (dev)' if dev_only[i] else ''}: {chain(i, member_id, parent, packages)}"
                for v, i in over[:5]
            ]
            more = f"; and {len(over) - 5} more" if len(over) > 5 else ""
            problems.append(
                f"{name} declares rust-version {show(mine)}, its dependencies need {show(over[0][0])}: "
                f"{'; '.join(shown)}{more}. Raise rust-version in Cargo.toml [workspace.package], or hold a "
                f"dependency back (cargo update -p NAME --precise OLDER)")
        if floor and floor[0] > mine:
            problems.append(f"{name} declares rust-version {show(mine)} but {floor[1]} needs {show(floor[0])}: "
                            f"{floor[2]}")

    for p in problems:
        print(f"check-msrv: FAIL: {p}")
    if problems:
        return 1
    print("check-msrv: ok, every declared rust-version is at least what its dependencies and sources need")
    return 0


if __name__ == "__main__":
    sys.exit(main())
