#!/usr/bin/env bash
# Builds and runs every wsproto fuzz target for a bounded time, one after another (see README.md).
#
#   fuzz/run-all.sh                       # 30 s per target
#   FUZZ_SECONDS=600 fuzz/run-all.sh      # longer
#   FUZZ_TARGETS="mask utf8" fuzz/run-all.sh
#
# Environment:
#   FUZZ_SECONDS    seconds per target (libFuzzer -max_total_time), default 30
#   FUZZ_TARGETS    space-separated subset of targets, default all
#   FUZZ_SANITIZER  cargo fuzz --sanitizer: none (default, ~3x faster: the crate is safe Rust but for
#                   mask.rs — feature-checked SIMD calls and one set_len — and from_utf8_unchecked over validated
#                   text; run the mask target with address now and then),
#                   address, ...
#   FUZZ_JOBS       cargo build jobs, default 2
#
# Stable toolchain: cargo-fuzz passes nightly-only -Z flags to rustc, which RUSTC_BOOTSTRAP=1 allows.
# Debug assertions and overflow checks are on (-a), so an arithmetic overflow is a crash.
# New corpus entries go to fuzz/work/<target>/ (git-ignored); the committed seeds in fuzz/corpus/<target>/
# are read, never written. Crashes go to fuzz/artifacts/<target>/.
#
# Exit status: 0 when every target ran clean; 1 when any crashed (its input is printed as hex with the
# artifact path); 2 on a build failure.
set -uo pipefail

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"
SANITIZER="${FUZZ_SANITIZER:-none}"
JOBS="${FUZZ_JOBS:-2}"
ALL_TARGETS="frame_header utf8 mask server_connection client_connection server_handshake client_handshake roundtrip"
ALL_TARGETS+=" deflate_params inflate roundtrip_deflate batch"
read -r -a TARGETS <<< "${FUZZ_TARGETS:-$ALL_TARGETS}"

# Longest generated input per target: the byte-stream targets need room for several frames or a head plus
# a body (a client's chunked rejection body is only cut off past 4 KiB); the deflate targets' scripts expand
# a few bytes into whole messages, 8 KiB is plenty.
max_len() {
  case "$1" in
    server_connection|client_connection|roundtrip|inflate|roundtrip_deflate) echo 8192 ;;
    server_handshake|client_handshake) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || exit 2
fi

echo "== building ${#TARGETS[@]} targets (sanitizer: $SANITIZER)"
for t in "${TARGETS[@]}"; do
  if ! CARGO_BUILD_JOBS="$JOBS" cargo fuzz build -a -s "$SANITIZER" "$t"; then
    echo "build of $t failed" >&2
    exit 2
  fi
done

mkdir -p work
declare -a SUMMARY=()
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "work/$t" "corpus/$t"
  log="work/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  cargo fuzz run -a -s "$SANITIZER" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 > "$log" 2>&1
  rc=$?
  execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
  fi
  execs="${execs:-?}"
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-18s %12s execs  ok' "$t" "$execs")")
    echo "   $execs executions, no crash"
    continue
  fi
  failed=1
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  SUMMARY+=("$(printf '%-18s %12s execs  CRASH %s' "$t" "$execs" "$( [ -n "$artifact" ] && realpath "$artifact" || echo "(no artifact; see $log)")")")
  echo "!! $t crashed (exit $rc) after $execs executions; log: $(realpath "$log")"
  grep -E -A4 "panicked at|ERROR: libFuzzer|SUMMARY:" "$log" | grep -v '^ *[0-9]*: \|^ *at ' | head -n 20
  if [ -n "$artifact" ] && [ -f "$artifact" ]; then
    size=$(wc -c < "$artifact")
    echo "   artifact: $(realpath "$artifact") ($size bytes)"
    echo "   input (hex$( [ "$size" -gt 4096 ] && echo ", first 4096 bytes")):"
    head -c 4096 "$artifact" | od -An -tx1 -v | sed 's/^ */     /'
    echo "   reproduce: (cd $(pwd) && RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s $SANITIZER $t $(realpath "$artifact"))"
  fi
done

echo
echo "== summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${SUMMARY[@]}"
exit "$failed"
