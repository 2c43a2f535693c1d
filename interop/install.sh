#!/usr/bin/env bash
# Installs the interop peers (python `websockets`, Node `ws`) into a private cache directory; nothing goes into
# the repository or system-wide.
#
#   interop/install.sh        # idempotent: a second run with unchanged pins only checks a stamp (well under 1 s)
#
#   $WSPROTO_INTEROP_HOME (default $HOME/.cache/wsproto-interop)
#     venv/                    python3 -m venv, with interop/python/requirements.txt (pinned websockets)
#     node/node_modules/ws     npm ci of interop/node/package.json + package-lock.json (pinned ws)
#     versions.txt             what was installed (the tests print it)
#     .stamp                   hash of the pins and of the python3 / node versions; a change reinstalls
#
# Environment: WSPROTO_INTEROP_PYTHON (default python3), WSPROTO_INTEROP_FORCE=1 to reinstall anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${WSPROTO_INTEROP_HOME:-$HOME/.cache/wsproto-interop}"
python="${WSPROTO_INTEROP_PYTHON:-python3}"

log() { printf 'interop/install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v "$python" >/dev/null || die "$python not found (set WSPROTO_INTEROP_PYTHON)"
command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"

mkdir -p "$home"
# Serialise concurrent installs.
exec 9>"$home/.lock"
flock 9

stamp_id="$(
  {
    echo v1
    cat "$here/python/requirements.txt" "$here/node/package.json" "$here/node/package-lock.json"
    "$python" -c 'import sys; print(sys.version)'
    node --version
  } | sha256sum | cut -d' ' -f1
)"

installed() {
  [[ -f "$home/.stamp" && "$(cat "$home/.stamp")" == "$stamp_id" ]] &&
    [[ -x "$home/venv/bin/python" && -f "$home/node/node_modules/ws/package.json" ]]
}

if [[ "${WSPROTO_INTEROP_FORCE:-0}" != 1 ]] && installed; then
  echo "interop peers: $home ($(paste -sd' ' "$home/versions.txt"))"
  exit 0
fi

t0=$SECONDS
rm -f "$home/.stamp"

log "python venv in $home/venv ($("$python" --version 2>&1))"
rm -rf "$home/venv"
"$python" -m venv "$home/venv"
"$home/venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$here/python/requirements.txt"

log "npm ci in $home/node ($(node --version))"
rm -rf "$home/node"
mkdir -p "$home/node"
cp "$here/node/package.json" "$here/node/package-lock.json" "$home/node/"
(cd "$home/node" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)

# Smoke test: both libraries load, and report their versions.
py_version="$("$home/venv/bin/python" -c 'import websockets; print(websockets.version.version)')"
ws_version="$(node -p "require('$home/node/node_modules/ws/package.json').version")"
printf 'python %s websockets %s\nnode %s ws %s\n' \
  "$("$home/venv/bin/python" -c 'import platform; print(platform.python_version())')" "$py_version" \
  "$(node --version)" "$ws_version" >"$home/versions.txt"
echo "$stamp_id" >"$home/.stamp"
log "installed in $((SECONDS - t0)) s"
echo "interop peers: $home ($(paste -sd' ' "$home/versions.txt"))"
