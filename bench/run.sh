#!/usr/bin/env bash
# One command for the whole echo benchmark: builds the release binaries, then runs bench/run.py inside a
# private network namespace with `reno` congestion control (the host's bbr pacing on loopback makes 64 KiB+
# results lower and noisy). Falls back to the host's loopback, with a warning, where namespaces are not
# permitted. Arguments are passed to run.py (see `python3 bench/run.py --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p wsproto-bench
cargo build --release -q -p wsproto-tokio --example echo  # the echo-example row
if [[ " $* " != *" --no-criterion "* && " $* " != *" --deflate-only "* ]]; then
  cargo bench -q -p wsproto --bench mask --no-run
fi
# The header of RESULTS.md quotes the command as typed; run.py has nothing left to build (--no-build).
export WSBENCH_COMMAND="bash bench/run.sh${*:+ $*}"

ns="wsbench-$$"
if ip netns add "$ns" 2>/dev/null; then
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno
  ip netns exec "$ns" python3 bench/run.py --no-build --netns "$ns" "$@"
else
  echo "WARNING: cannot create a network namespace (not root, or not permitted): running on the host's" >&2
  echo "WARNING: loopback with its congestion control ($(cat /proc/sys/net/ipv4/tcp_congestion_control))." >&2
  echo "WARNING: bbr pacing there makes 64 KiB and 1 MiB results lower and noisier." >&2
  python3 bench/run.py --no-build --netns "" "$@"
fi
