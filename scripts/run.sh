#!/usr/bin/env bash
# The main job: installs what recorderd needs, builds it (release preset) and starts it on
# its embedded defaults (SQLite and ./data, listening on 127.0.0.1:8080). Arguments are
# passed to recorderd, e.g. ./scripts/run.sh --listen 127.0.0.1:9000. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

cmake --preset release >/dev/null
cmake --build --preset release --target recorderd -- -j"$(nproc)"
exec out/build/release/apps/recorderd/recorderd "$@"
