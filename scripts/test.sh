#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds with warnings
# as errors, runs every test, then runs every test again under ASan + UBSan (but the
# benchmark smoke runs, which the asan preset does not build), the core,
# daemon, cluster and dashboard feed tests under ThreadSanitizer, and every fuzz target for a bounded time (clang 19,
# ASan + UBSan; scripts/fuzz.sh). Suppressions, each with its reason: tests/lsan.supp,
# tests/tsan.supp.
# Safe to run again: installs only what is missing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

jobs=$(nproc)
# A clone in another directory reuses the compiler cache: paths are hashed relative to here.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake --preset dev >/dev/null
cmake --build --preset dev -- -j"$jobs"
ctest --preset dev -j"$jobs"

cmake --preset asan >/dev/null
cmake --build --preset asan -- -j"$jobs"
ctest --preset asan -j"$jobs"

cmake --preset tsan >/dev/null
cmake --build --preset tsan --target core_tests daemon_tests event_feed_tests cluster_daemon_tests -- -j"$jobs"
ctest --preset tsan -L 'core|daemon' -j"$jobs"

# Every decoder of untrusted bytes, fuzzed for a bounded time from its seed corpus.
./scripts/fuzz.sh "${RECORDER_FUZZ_SECONDS:-8}"
