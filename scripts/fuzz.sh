#!/usr/bin/env bash
# Builds the libFuzzer targets (the fuzz preset: clang 19, ASan + UBSan) and runs each for
# SECONDS (default 20), starting from its seed corpus in tests/fuzz/corpus/<target>/.
# New inputs go to out/fuzz/corpus/<target>/ (not the repository); a crash stops the run
# and leaves its input in out/fuzz/ to reproduce with: out/build/fuzz/tests/fuzz/<target> <file>.
# Prints a line per target: executions, rate, corpus size. Exits non-zero on any crash.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(chunk_dialect action_dialect rpc_dialect agent_dialect socketio http range base64 config signed_url)
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_targets -- -j"$(nproc)"

# Symbolised stacks when a symbolizer is installed.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in /usr/lib/llvm-19/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)"; do
    if [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH="$s"; break; fi
  done
fi

failed=0
for t in "${targets[@]}"; do
  work="out/fuzz/corpus/$t"
  mkdir -p "$work" out/fuzz/artifacts
  log="out/fuzz/$t.log"
  # -rss_limit_mb: a target that needs more than 2 GiB for one input is a finding too.
  if ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "out/build/fuzz/tests/fuzz/${t}_fuzz" "$work" "tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="out/fuzz/artifacts/$t-" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} executions in ${seconds} s (${rate:-?}/s), corpus $(ls "$work" | wc -l) inputs, 0 crashes"
  else
    failed=1
    echo "fuzz: $t: FAILED; the end of out/fuzz/$t.log:"
    tail -40 "$log"
  fi
done
exit "$failed"
