#!/usr/bin/env python3
"""Checks what the publishable crates (wsproto, wsproto-tokio: every member without `publish = false`) would ship.

  python3 scripts/check-packages.py        # a ./run-tests step; exit 0 when all is well, 1 otherwise

For each such crate: `cargo package --list` (with --allow-dirty, so work in progress does not stop it) includes
its README and one licence file per licence in its `license` expression (LICENSE-MIT, LICENSE-APACHE), and
those are the workspace root's licence texts; the manifest sets `readme`, `license` and `description`, and no
placeholder URL.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LICENCE_FILES = {"MIT": "LICENSE-MIT", "Apache-2.0": "LICENSE-APACHE"}


def cargo(*args):
    result = subprocess.run(["cargo", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"check-packages: `cargo {' '.join(args)}` failed:\n{result.stderr}")
    return result.stdout


def main():
    meta = json.loads(cargo("metadata", "--format-version", "1", "--no-deps"))
    crates = [p for p in meta["packages"] if p["id"] in meta["workspace_members"] and p.get("publish") != []]
    if not crates:
        sys.exit("check-packages: no publishable workspace member found")
    problems = []
    for pkg in crates:
        name = pkg["name"]
        before = len(problems)
        files = set(cargo("package", "--list", "--allow-dirty", "-p", name).split())
        wanted = []
        readme = pkg.get("readme")
        if not readme:
            problems.append(f"{name}: no `readme` in its Cargo.toml")
        else:
            wanted.append(readme)
        licence = pkg.get("license") or ""
        if not licence:
            problems.append(f"{name}: no `license` in its Cargo.toml")
        for ident in re.findall(r"[A-Za-z0-9.+-]+", licence):
            if ident in ("OR", "AND", "WITH"):
                continue
            if ident not in LICENCE_FILES:
                problems.append(f"{name}: licence {ident}: no licence file known for it (LICENCE_FILES)")
                continue
            wanted.append(LICENCE_FILES[ident])
        for f in wanted:
            if f not in files:
                problems.append(f"{name}: `cargo package --list -p {name}` lacks {f}")
        crate_dir = Path(pkg["manifest_path"]).parent
        for f in LICENCE_FILES.values():
            if f in wanted and (crate_dir / f).is_file() and (crate_dir / f).read_bytes() != (ROOT / f).read_bytes():
                problems.append(f"{name}: {f} differs from the workspace root's")
        if not (pkg.get("description") or "").strip():
            problems.append(f"{name}: no `description` in its Cargo.toml")
        for field in ("repository", "homepage", "documentation"):
            if "example.invalid" in (pkg.get(field) or ""):
                problems.append(f"{name}: `{field}` is a placeholder ({pkg[field]})")
        if len(problems) == before:
            print(f"check-packages: {name} {pkg['version']}: {len(files)} files, with {', '.join(wanted)}")
    for p in problems:
        print(f"check-packages: FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
