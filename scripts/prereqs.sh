#!/usr/bin/env bash
# What ./run-tests needs beyond a Rust toolchain: checked, and installed where it can be. ./run-tests sources
# this file and calls `wsproto_prereqs --quick` or `wsproto_prereqs --full` before its first step. On its own:
#
#   scripts/prereqs.sh --check [--quick]   say what the full (or quick) run needs and what is missing;
#                                          installs nothing; exit 1 when something is missing
#   scripts/prereqs.sh [--quick]           install what is missing, as ./run-tests does
#
# Each part, what it needs ([Debian packages]), and how to do without it:
#   build     rustfmt, clippy (rustup component add); a C compiler [gcc libc6-dev]; python3 [python3];
#             OpenSSL's headers and pkg-config for wsproto-tokio's native-tls feature [libssl-dev pkg-config]
#                                                                                    needed by every run
#   interop   python3 with venv [python3 python3-venv], node [nodejs], npm [npm]     WSPROTO_SKIP_INTEROP=1
#   browser   Chromium, $CHROMIUM or /usr/bin/chromium [chromium]                    WSPROTO_SKIP_BROWSER=1
#             (--quick installs no browser: without one it skips the browser test, with a notice; but not
#             under CI=true, where nothing is skipped unless asked)
#   autobahn  full run only: wstest (autobahn/install-wstest.sh), which needs apt-get and dpkg-deb (or a
#             Docker engine), python3 -m pip [python3-pip] and [debian-archive-keyring]   ./run-tests --quick
#   fuzz      full run only: cargo-fuzz (cargo install cargo-fuzz --locked); a C++ compiler [g++]
#                                                                                    ./run-tests --quick
# The interop peers themselves (python websockets, Node ws) are installed by interop/install.sh, a step of
# ./run-tests; wstest by this script in the full run (and by autobahn/run.py if it is still missing).
#
# Debian packages come from apt-get, run as root (or through password-less sudo); Rust components from rustup;
# cargo-fuzz from crates.io. WSPROTO_NO_INSTALL=1: install nothing, only check. Whatever is still missing stops
# the run at once with one line naming it, how to install it, and how to skip that part.

_pr_log() { printf 'prereqs: %s\n' "$*" >&2; }

# Records one missing thing: part, description, Debian packages that provide it (may be empty), other fix.
_pr_need() {
  _pr_parts+=("$1")
  _pr_whats+=("$2")
  _pr_debs+=("$3")
  _pr_fixes+=("$4")
}

# Fills the _pr_* arrays with what is missing for the run ($1: 1 = full, 0 = quick).
_pr_assess() {
  local full="$1" py chromium wstest_home
  _pr_parts=() _pr_whats=() _pr_debs=() _pr_fixes=() _pr_notes=()

  # build
  command -v cargo >/dev/null 2>&1 || _pr_need build cargo "" "install Rust with rustup"
  cargo fmt --version >/dev/null 2>&1 || _pr_need build rustfmt "" "rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || _pr_need build clippy "" "rustup component add clippy"
  command -v cc >/dev/null 2>&1 || _pr_need build "a C compiler (cc)" "gcc libc6-dev" ""
  command -v python3 >/dev/null 2>&1 || _pr_need build "python3 (the packaging checks)" python3 ""
  { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } ||
    _pr_need build "OpenSSL headers and pkg-config (wsproto-tokio's native-tls feature)" "libssl-dev pkg-config" ""

  # interop
  if [ "${WSPROTO_SKIP_INTEROP:-}" = 1 ]; then
    _pr_notes+=("interop: skipped (WSPROTO_SKIP_INTEROP=1)")
  else
    py="${WSPROTO_INTEROP_PYTHON:-python3}"
    if ! command -v "$py" >/dev/null 2>&1; then
      _pr_need interop "$py" "python3 python3-venv" ""
    elif ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      _pr_need interop "$py's venv module" "python3-venv" ""
    fi
    command -v node >/dev/null 2>&1 || _pr_need interop node nodejs ""
    command -v npm >/dev/null 2>&1 || _pr_need interop npm npm ""
  fi

  # browser
  chromium="${CHROMIUM:-/usr/bin/chromium}"
  if [ "${WSPROTO_SKIP_BROWSER:-}" = 1 ]; then
    _pr_notes+=("browser: skipped (WSPROTO_SKIP_BROWSER=1)")
  elif ! [ -x "$chromium" ]; then
    if [ "$full" = 1 ] || [ "${CI:-}" = true ]; then
      if [ -n "${CHROMIUM:-}" ]; then
        _pr_need browser "Chromium at \$CHROMIUM=$chromium" "" "point CHROMIUM at a Chromium binary"
      else
        _pr_need browser "Chromium ($chromium)" chromium ""
      fi
    else
      _pr_notes+=("browser: no Chromium at $chromium: --quick skips the browser test (the full run installs it)")
    fi
  fi

  [ "$full" = 1 ] || return 0

  # autobahn
  wstest_home="${WSTEST_HOME:-$HOME/.cache/wsproto-wstest}"
  if [ -x "$wstest_home/bin/wstest" ] && [ -f "$wstest_home/.installed" ]; then
    :
  elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    if ! command -v python3 >/dev/null 2>&1; then
      _pr_need autobahn "python3 -m pip" python3-pip ""  # python3 itself: under build
    elif ! compgen -G "$wstest_home/wheels/pip-*.whl" >/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
      _pr_need autobahn "python3 -m pip" python3-pip ""
    fi
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] ||
      _pr_need autobahn "the Debian archive keyring" debian-archive-keyring ""
  elif ! (command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1); then
    _pr_need autobahn "apt-get and dpkg-deb (Debian, Ubuntu) or a Docker engine, for wstest" "" ""
  fi

  # fuzz
  command -v c++ >/dev/null 2>&1 || _pr_need fuzz "a C++ compiler (c++, for libFuzzer)" g++ ""
  cargo fuzz --version >/dev/null 2>&1 || _pr_need fuzz cargo-fuzz "" "cargo install cargo-fuzz --locked"
}

# The Debian packages the recorded needs ask for, each once, space-separated.
_pr_all_debs() {
  local entry d out=" "
  for entry in ${_pr_debs[@]+"${_pr_debs[@]}"}; do
    for d in $entry; do
      case "$out" in *" $d "*) ;; *) out+="$d " ;; esac
    done
  done
  out="${out# }"
  printf '%s' "${out% }"
}

# The one line that says what is missing ($1: why it was not installed, may be empty).
_pr_missing_line() {
  local why="$1" part i list line="" debs hint
  for part in build interop browser autobahn fuzz; do
    list=""
    for i in "${!_pr_parts[@]}"; do
      [ "${_pr_parts[$i]}" = "$part" ] || continue
      list+="${list:+, }${_pr_whats[$i]}"
      [ -n "${_pr_fixes[$i]}" ] && list+=" (${_pr_fixes[$i]})"
    done
    [ -n "$list" ] || continue
    case "$part" in
      build) hint="needed by every run" ;;
      interop) hint="interop tests; WSPROTO_SKIP_INTEROP=1 skips them" ;;
      browser) hint="browser test; WSPROTO_SKIP_BROWSER=1 skips it" ;;
      autobahn) hint="Autobahn; ./run-tests --quick skips it and fuzzing" ;;
      fuzz) hint="fuzzing; ./run-tests --quick skips it and Autobahn" ;;
    esac
    line+="${line:+; }$list [$hint]"
  done
  debs="$(_pr_all_debs)"
  [ -n "$debs" ] && line+="; as root: apt-get install $debs"
  [ -n "$why" ] && line+=" ($why)"
  printf 'prereqs: missing: %s\n' "$line" >&2
}

# wsproto_prereqs [--check] [--quick|--full]: see the header. Returns 1 when something is still missing.
wsproto_prereqs() {
  local check=0 full=1 arg root sudo="" why="" debs note
  for arg in "$@"; do
    case "$arg" in
      --check) check=1 ;;
      --quick) full=0 ;;
      --full) full=1 ;;
      *) _pr_log "unknown argument $arg (--check, --quick, --full)"; return 2 ;;
    esac
  done
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

  _pr_assess "$full"
  if [ "$check" = 1 ]; then
    for note in ${_pr_notes[@]+"${_pr_notes[@]}"}; do _pr_log "$note"; done
    if [ "${#_pr_parts[@]}" -gt 0 ]; then
      _pr_missing_line ""
      return 1
    fi
    _pr_log "everything the $([ "$full" = 1 ] && echo full || echo quick) run needs is here"
    return 0
  fi

  if [ "${#_pr_parts[@]}" -gt 0 ]; then
    debs="$(_pr_all_debs)"
    if [ "${WSPROTO_NO_INSTALL:-}" = 1 ]; then
      why="WSPROTO_NO_INSTALL=1: nothing installed"
    else
      if [ -n "$debs" ]; then
        if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
          sudo="sudo -n"
        fi
        if ! command -v apt-get >/dev/null 2>&1; then
          why="no apt-get: install the equivalents with your package manager"
        elif [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
          why="not root, and no password-less sudo"
        else
          _pr_log "apt-get install $debs"
          # shellcheck disable=SC2086  # $debs is a list of package names
          if ! { $sudo apt-get update -qq &&
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null; }; then
            why="apt-get install failed"
          fi
        fi
      fi
      local i
      for i in "${!_pr_fixes[@]}"; do
        case "${_pr_fixes[$i]}" in
          "rustup component add "*)
            if command -v rustup >/dev/null 2>&1; then
              _pr_log "${_pr_fixes[$i]}"
              ${_pr_fixes[$i]} >&2 || why="${why:+$why; }${_pr_fixes[$i]} failed"
            fi
            ;;
        esac
      done
      # cargo-fuzz last: it needs the C++ compiler.
      for i in "${!_pr_fixes[@]}"; do
        if [ "${_pr_fixes[$i]}" = "cargo install cargo-fuzz --locked" ]; then
          _pr_log "cargo install cargo-fuzz --locked"
          cargo install cargo-fuzz --locked >&2 || why="${why:+$why; }cargo install cargo-fuzz failed"
        fi
      done
    fi
    _pr_assess "$full"
    if [ "${#_pr_parts[@]}" -gt 0 ]; then
      _pr_missing_line "$why"
      return 1
    fi
  fi

  for note in ${_pr_notes[@]+"${_pr_notes[@]}"}; do _pr_log "$note"; done
  if [ "$full" = 0 ] && [ "${CI:-}" != true ] && [ "${WSPROTO_SKIP_BROWSER:-}" != 1 ] &&
    ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    export WSPROTO_SKIP_BROWSER=1
  fi
  if [ "$full" = 1 ]; then
    # wstest into its private prefix (idempotent: a stamp check once installed).
    if ! bash "$root/autobahn/install-wstest.sh"; then
      _pr_log "missing: wstest (autobahn/install-wstest.sh failed, above) [Autobahn; ./run-tests --quick skips it and fuzzing]"
      return 1
    fi
  fi
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  wsproto_prereqs "$@"
  exit $?
fi
