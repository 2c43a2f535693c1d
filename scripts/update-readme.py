#!/usr/bin/env python3
"""Splices generated result files into README.md between their BEGIN/END markers.

    python3 scripts/update-readme.py          # rewrite README.md
    python3 scripts/update-readme.py --check  # exit 1 if README.md is stale

The tables themselves are produced by `python3 autobahn/run.py` (autobahn/RESULTS.md) and `bench/run.sh`
(bench/RESULTS.md); this only copies them in, dropping each file's own top-level title.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def splice(text: str) -> str:
    def replace(m: re.Match) -> str:
        path = ROOT / m.group(2)
        if not path.exists():
            return m.group(0)
        body = path.read_text().strip().splitlines()
        if body and body[0].startswith("# "):
            body = body[1:]
        # Demote headings so they sit under the README's section.
        body = ["#" + line if line.startswith("## ") else line for line in body]
        return f"{m.group(1)}\n" + "\n".join(body).strip() + f"\n{m.group(3)}"

    pattern = re.compile(r"(<!-- BEGIN (\S+) [^>]*-->)\n.*?(<!-- END \2 -->)", re.S)
    return pattern.sub(replace, text)


def main() -> int:
    old = README.read_text()
    new = splice(old)
    if "--check" in sys.argv:
        if new != old:
            print("README.md is stale: run python3 scripts/update-readme.py")
            return 1
        return 0
    if new != old:
        README.write_text(new)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
