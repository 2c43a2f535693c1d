#!/usr/bin/env bash
# One command for the fan-out benchmark: builds the release binaries, then runs bench/fanout.py inside a
# private network namespace (as bench/run.sh does; falls back to the host's loopback with a warning). Writes
# bench/FANOUT.md and splices it into the README. Refuses a dirty tree (commit first). Arguments go to
# fanout.py (`python3 bench/fanout.py --help`). About 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p wsproto-bench --bin fanout-server --bin fanout-load
export WSBENCH_COMMAND="bash bench/fanout.sh${*:+ $*}"
# 10,000 subscribers: both processes raise their soft open-file limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

ns="wsfanout-$$"
if ip netns add "$ns" 2>/dev/null; then
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno
  ip netns exec "$ns" python3 bench/fanout.py --netns "$ns" "$@"
else
  echo "WARNING: cannot create a network namespace: running on the host's loopback." >&2
  python3 bench/fanout.py "$@"
fi
