#!/usr/bin/env bash
# Installs every Debian package recorderd needs to build, run and test.
# Idempotent: it installs only what is missing, so a second run is quick and offline-safe.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # design card libraries
  libasio-dev libwebsocketpp-dev rapidjson-dev libfmt-dev libpqxx-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev catch2
  libsqlite3-dev libcurl4-openssl-dev libssl-dev libcli11-dev zlib1g-dev
  # the config file's TOML, with lists of tables ([[webhooks]]): ADR 0014
  libtomlplusplus-dev
  # /metrics: the Prometheus client library (core and its text serializer)
  prometheus-cpp-dev
  # servers and media runtime used by the tests
  postgresql postgresql-contrib
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-plugins-base-apps
  # fault injection for the storage tests
  fiu-utils libfiu-dev
  # a real Prometheus text-format parser for the metrics test
  python3-prometheus-client
  # a real SMTP server for the e-mail alert test (tests/email/smtp_sink.py)
  python3-aiosmtpd
  # the meeting-room agent the recctl test runs (tests/agents/seed000_agent.py)
  python3-websockets
  # the fuzz targets (scripts/fuzz.sh): clang 19 (14 lacks std::expected) and its libFuzzer
  clang-19 libclang-rt-19-dev
  # the browser test: Debian's chromium, driven by puppeteer-core (npm, tests/browser)
  chromium
)
# Node.js comes with the machine image (with its own npm); Debian's is the fallback.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test's npm packages, exactly as locked (puppeteer-core downloads no browser).
browser_dir="$(dirname "$0")/../tests/browser"
if [ ! -f "$browser_dir/node_modules/puppeteer-core/package.json" ]; then
  echo "setup: installing the browser test's npm packages"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
# Seed 001's real client, socket.io-client 4.8, and ws for the benchmark's baseline (tests/socketio).
socketio_dir="$(dirname "$0")/../tests/socketio"
if [ ! -f "$socketio_dir/node_modules/socket.io-client/package.json" ]; then
  echo "setup: installing the Socket.IO test's npm packages"
  (cd "$socketio_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The webhook receiver's verifier: the Standard Webhooks reference library (tests/webhooks).
webhooks_dir="$(dirname "$0")/../tests/webhooks"
if [ ! -f "$webhooks_dir/node_modules/standardwebhooks/package.json" ]; then
  echo "setup: installing the webhook receiver's npm packages"
  (cd "$webhooks_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
