#!/usr/bin/env bash
# Install Autobahn|Testsuite's `wstest` (Python 2.7 only) into a private prefix.
#
#   autobahn/install-wstest.sh            # idempotent; prints where wstest is
#
# Installs nothing into the system Python or the system dpkg database:
#   * Python 2.7 comes from Debian bullseye (same mirror as the system's apt
#     sources), fetched with a private apt configuration and unpacked with
#     `dpkg-deb -x` into $WSTEST_HOME/root;
#   * pip 20.3.4 is run straight from its wheel; the pinned packages land in
#     $WSTEST_HOME/root/usr/local/lib/python2.7/dist-packages.
# The result is the wrapper $WSTEST_HOME/bin/wstest, which runs wstest with the
# right LD_LIBRARY_PATH and `-E -s`, and makes it bind 127.0.0.1 only
# (see wstest_loopback.py).
#
# Environment:
#   WSTEST_HOME           prefix (default: $HOME/.cache/wsproto-wstest)
#   WSTEST_METHOD         auto (default) | python | docker
#                         auto = the Python 2.7 route; the Docker image
#                         crossbario/autobahn-testsuite is used only when apt /
#                         dpkg-deb are missing and `docker info` succeeds.
#   WSTEST_DEBIAN_MIRROR  override the Debian mirror URI taken from apt sources
#   WSTEST_FORCE=1        reinstall even if the stamp file says it is done
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WSTEST_HOME="${WSTEST_HOME:-$HOME/.cache/wsproto-wstest}"
WSTEST_METHOD="${WSTEST_METHOD:-auto}"
DOCKER_IMAGE="crossbario/autobahn-testsuite"

PY_DEBS=(python2.7-minimal libpython2.7-minimal libpython2.7-stdlib python2.7 libssl1.1 libffi7)
PIP_VERSION="20.3.4"
BOOTSTRAP_PKGS=(setuptools==44.0.0 wheel==0.37.1)
WSTEST_PKGS=(
  autobahntestsuite==25.10.1 autobahn==0.10.9 txaio==2.1.0 six==1.16.0 incremental==16.10.1
  zope.interface==4.6.0 Twisted==19.10.0 Automat==20.2.0 attrs==21.4.0 constantly==15.1.0
  hyperlink==21.0.0 idna==2.10 typing==3.10.0.0 PyHamcrest==1.9.0 pyOpenSSL==19.1.0
  cryptography==3.3.2 cffi==1.15.1 pycparser==2.21 enum34==1.1.10 ipaddress==1.0.23
  service-identity==18.1.0 pyasn1==0.5.1 pyasn1-modules==0.3.0 Jinja2==2.11.3 MarkupSafe==1.1.1
  Werkzeug==1.0.1 klein==17.10.0 unittest2==1.1.0 traceback2==1.4.0 linecache2==1.0.0
)
WSACCEL_PKG="wsaccel==0.6.2"
# Changing any pin changes the stamp id, which forces a reinstall.
STAMP_ID="v1 ${PY_DEBS[*]} pip==$PIP_VERSION ${BOOTSTRAP_PKGS[*]} ${WSTEST_PKGS[*]}"

log() { printf 'install-wstest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$WSTEST_HOME/bin" "$WSTEST_HOME/lib"
STAMP="$WSTEST_HOME/.installed"
WRAPPER="$WSTEST_HOME/bin/wstest"
LAUNCHER="$WSTEST_HOME/lib/wstest_loopback.py"

# Serialise concurrent installs (several runners may start at once).
exec 9>"$WSTEST_HOME/.lock"
flock 9

# The launcher is tiny: refresh it on every run so edits to it take effect
# without a reinstall.
install_launcher() {
  cp "$here/wstest_loopback.py" "$LAUNCHER.tmp"
  mv -f "$LAUNCHER.tmp" "$LAUNCHER"
}

stamp_ok() {
  [[ -f "$STAMP" && -x "$WRAPPER" ]] || return 1
  [[ "$(head -n 1 "$STAMP")" == "$STAMP_ID" ]]
}

if [[ "${WSTEST_FORCE:-0}" != 1 ]] && stamp_ok; then
  install_launcher
  echo "wstest: $WRAPPER ($(sed -n 2p "$STAMP"))"
  exit 0
fi

# --------------------------------------------------------------------------
# Route selection
# --------------------------------------------------------------------------
have_python_prereqs() { command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null && command -v python3 >/dev/null; }
docker_ok() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

method="$WSTEST_METHOD"
if [[ "$method" == auto ]]; then
  if have_python_prereqs; then
    method=python
  elif docker_ok; then
    method=docker
  else
    die "need apt-get + dpkg-deb + python3 (Python 2.7 route) or a reachable Docker engine"
  fi
fi

write_wrapper() { # $1 = wrapper body
  printf '%s\n' "$1" >"$WRAPPER.tmp"
  chmod 755 "$WRAPPER.tmp"
  mv -f "$WRAPPER.tmp" "$WRAPPER"
}

finish() { # $1 = description
  install_launcher
  printf '%s\n%s\n' "$STAMP_ID" "$1" >"$STAMP"
  log "done"
  echo "wstest: $WRAPPER ($1)"
}

# --------------------------------------------------------------------------
# Docker route (not exercised on the project's own machines: no engine there)
# --------------------------------------------------------------------------
if [[ "$method" == docker ]]; then
  docker_ok || die "WSTEST_METHOD=docker but \`docker info\` fails"
  log "pulling $DOCKER_IMAGE"
  docker pull "$DOCKER_IMAGE" >&2
  # Host networking so wstest reaches (and is reached on) 127.0.0.1; the same
  # loopback launcher runs under the image's python (pypy 2). Mounted: the
  # current directory, $TMPDIR, and WSTEST_DOCKER_MOUNTS (colon separated) --
  # run.py puts its spec files and report directories there.
  write_wrapper "#!/usr/bin/env bash
set -euo pipefail
args=(--rm -i --init --network host -u \"\$(id -u):\$(id -g)\" -v \"$LAUNCHER:/wsproto/wstest_loopback.py:ro\")
IFS=: read -r -a extra <<<\"\$PWD:\${TMPDIR:-/tmp}:\${WSTEST_DOCKER_MOUNTS:-}\"
for d in \"\${extra[@]}\"; do [[ -n \"\$d\" && -d \"\$d\" ]] && args+=(-v \"\$d:\$d\"); done
exec docker run \"\${args[@]}\" -w \"\$PWD\" $DOCKER_IMAGE python /wsproto/wstest_loopback.py \"\$@\""
  finish "docker image $DOCKER_IMAGE"
  exit 0
fi

[[ "$method" == python ]] || die "unknown WSTEST_METHOD=$method (auto|python|docker)"
have_python_prereqs || die "the Python 2.7 route needs apt-get, dpkg-deb and python3"

# --------------------------------------------------------------------------
# Python 2.7 route
# --------------------------------------------------------------------------
t0=$SECONDS
ROOT="$WSTEST_HOME/root"          # unpacked Debian packages + pip installs
APTDIR="$WSTEST_HOME/apt"         # private apt state (lists, cache, sources)
DEBS="$WSTEST_HOME/debs"
WHEELS="$WSTEST_HOME/wheels"
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$DEBS" "$WHEELS"

# The Debian mirror, from the system's own apt sources (deb822 first, then
# one-line format). Security/updates suites live elsewhere; skip them.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '
      function flush() {
        if (uris != "" && types ~ /(^| )deb( |$)/ && suites ~ /(^| )[a-z]+( |$)/ && uris !~ /security/) {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        uris = ""; types = ""; suites = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '
      $1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) ~ /^[a-z]+$/ && $i !~ /security/) { print $i; exit }
      }' "$f"
  done
}
mirror="${WSTEST_DEBIAN_MIRROR:-$(find_mirror | head -n 1)}"
[[ -n "$mirror" ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*} (set WSTEST_DEBIAN_MIRROR)"
mirror="${mirror%/}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f "$keyring" ]] || die "missing $keyring (package debian-archive-keyring)"
log "Debian mirror: $mirror (suite bullseye, private apt state in $APTDIR)"
echo "deb [signed-by=$keyring] $mirror bullseye main" >"$APTDIR/sources.list"

apt_opts=(
  -o "Dir::Etc::SourceList=$APTDIR/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=/dev/null"
  -o "Dir::State::Lists=$APTDIR/lists"
  -o "Dir::Cache=$APTDIR/cache"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
  -q
)

want_dev=0
command -v gcc >/dev/null && want_dev=1
debs=("${PY_DEBS[@]}")
((want_dev)) && debs+=(libpython2.7-dev)

missing=0
for p in "${debs[@]}"; do compgen -G "$DEBS/${p}_*.deb" >/dev/null || missing=1; done
if ((missing)); then
  log "apt-get update (bullseye, private lists)"
  apt-get "${apt_opts[@]}" update >&2
  log "apt-get download ${debs[*]}"
  (cd "$DEBS" && apt-get "${apt_opts[@]}" download "${debs[@]}" >&2)
fi

log "unpacking into $ROOT"
rm -rf "$ROOT"
mkdir -p "$ROOT"
for p in "${debs[@]}"; do
  deb="$(compgen -G "$DEBS/${p}_*.deb" | sort | tail -n 1)"
  [[ -n "$deb" ]] || die "download of $p failed"
  dpkg-deb -x "$deb" "$ROOT"
done

PY="$ROOT/usr/bin/python2.7"
[[ -x "$PY" ]] || die "$PY missing after unpack"
libpath=""
for d in "$ROOT"/usr/lib/*-linux-gnu* "$ROOT"/lib/*-linux-gnu*; do
  [[ -d "$d" ]] && libpath="${libpath:+$libpath:}$d"
done
py2() { LD_LIBRARY_PATH="$libpath" "$PY" -E -s "$@"; }
py2 -c 'import ssl, ctypes, zlib, hashlib' || die "the unpacked Python 2.7 does not work"

# pip 20.3.4 (last with Python 2 support), run from its wheel.
pip_whl="$(compgen -G "$WHEELS/pip-$PIP_VERSION-*.whl" | head -n 1 || true)"
if [[ -z "$pip_whl" ]]; then
  log "fetching pip $PIP_VERSION wheel"
  env -u PIP_FIND_LINKS python3 -m pip download -q --no-deps --only-binary=:all: \
    --dest "$WHEELS" "pip==$PIP_VERSION" >&2
  pip_whl="$(compgen -G "$WHEELS/pip-$PIP_VERSION-*.whl" | head -n 1)"
fi
pip2() {
  env -u PIP_FIND_LINKS PIP_CERT="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
    LD_LIBRARY_PATH="$libpath" "$PY" -E -s "$pip_whl/pip" "$@" \
    --disable-pip-version-check --no-python-version-warning --no-warn-script-location \
    --cache-dir "$WSTEST_HOME/pip-cache" -q
}
log "pip install ${BOOTSTRAP_PKGS[*]}"
pip2 install "${BOOTSTRAP_PKGS[@]}" >&2
log "pip install --no-deps (${#WSTEST_PKGS[@]} pinned packages)"
pip2 install --no-deps "${WSTEST_PKGS[@]}" >&2

# Optional: wsaccel makes wstest's masking / UTF-8 validation faster.
accel="without wsaccel"
if ((want_dev)); then
  log "pip install $WSACCEL_PKG (optional)"
  if CFLAGS="-I$ROOT/usr/include/python2.7 -I$ROOT/usr/include" pip2 install --no-deps "$WSACCEL_PKG" >&2; then
    accel="with wsaccel"
  else
    log "warning: $WSACCEL_PKG did not build; continuing without it"
  fi
fi

write_wrapper "#!/bin/sh
# Generated by autobahn/install-wstest.sh: wstest on a private Python 2.7,
# bound to 127.0.0.1 only.
LD_LIBRARY_PATH='$libpath' exec '$PY' -E -s '$LAUNCHER' \"\$@\""
install_launcher

# Smoke test: imports the whole fuzzing stack through the launcher.
"$WRAPPER" --help >/dev/null || die "wstest --help failed"
py2 -c 'import autobahntestsuite.fuzzing, OpenSSL, twisted' || die "wstest imports fail"

finish "Python 2.7 from Debian bullseye, autobahntestsuite 25.10.1, $accel; installed in $((SECONDS - t0)) s"
