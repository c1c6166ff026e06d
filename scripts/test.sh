#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds with warnings
# as errors, runs every test, then runs the core's tests again under ASan + UBSan.
# Safe to run again: installs only what is missing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

jobs=$(nproc)
cmake --preset dev >/dev/null
cmake --build --preset dev -- -j"$jobs"
ctest --preset dev -j"$jobs"

cmake --preset asan >/dev/null
cmake --build --preset asan --target core_tests -- -j"$jobs"
ctest --preset asan -L core -j"$jobs"
