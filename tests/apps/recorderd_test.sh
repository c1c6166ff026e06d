#!/usr/bin/env bash
# The recorderd skeleton as a process: configuration layering and errors, start-up, and a
# clean exit on SIGTERM. Waits on conditions with deadlines, never on fixed sleeps.
set -euo pipefail
recorderd=$1
recctl=$2
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
failures=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; failures=$((failures + 1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
not_contains() { ! grep -qF -- "$2" <<<"$1"; }

out=$("$recorderd" --version)
check "--version names the program" contains "$out" "recorderd "
out=$("$recctl" --version)
check "recctl --version" contains "$out" "recctl "

out=$("$recorderd" --check-config)
check "defaults listen on loopback 8080" contains "$out" "server.listen = 127.0.0.1:8080"
check "defaults warn at 80" contains "$out" "storage.warn_percent = 80"

set +e
err=$(RECORDER_STORAGE_WARN_PERCENT=95 "$recorderd" --check-config 2>&1); rc=$?
set -e
check "warn >= block stops start-up" test "$rc" -eq 2
check "the error names the key" contains "$err" "storage.warn_percent (95) must be less than storage.block_percent (90)"

set +e
err=$(STORAGE_BLOCK_PERCENT=abc "$recorderd" --check-config 2>&1); rc=$?
set -e
check "seed 003's variable is read and validated" test "$rc" -eq 2
check "the error names the variable" contains "$err" "(from environment STORAGE_BLOCK_PERCENT)"

cat > bad.toml <<'TOML'
[capture]
rotation_minutes = 2000
TOML
set +e
err=$("$recorderd" --config bad.toml --check-config 2>&1); rc=$?
set -e
check "a bad config file value stops start-up" test "$rc" -eq 2
check "the error names key and file" contains "$err" "capture.rotation_minutes = '2000': expected a whole number from 1 to 1440 (from config file 'bad.toml')"

cat > good.toml <<'TOML'
[server]
listen = "127.0.0.1:7000"
[storage]
warn_percent = 70
TOML
out=$(RECORDER_SERVER_LISTEN=127.0.0.1:7100 "$recorderd" --config good.toml --check-config)
check "environment overrides the file" contains "$out" "server.listen = 127.0.0.1:7100"
check "the file overrides defaults" contains "$out" "storage.warn_percent = 70"
out=$(RECORDER_SERVER_LISTEN=127.0.0.1:7100 "$recorderd" --config good.toml --listen 127.0.0.1:7200 --check-config)
check "flags override the environment" contains "$out" "server.listen = 127.0.0.1:7200"
cat > hooks.toml <<'TOML'
[delivery]
retry_seconds = "1,5"

[[webhooks]]
name = "ops"
url = "http://127.0.0.1:9/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["recording.ready", "alert.*"]

[[webhooks]]
url = "https://hooks.example/b"
secrets = ["whsec_bmV3bmV3bmV3", "whsec_b2xkb2xkb2xk"]
TOML
out=$("$recorderd" --config hooks.toml --check-config)
check "[[webhooks]] tables are read" contains "$out" "webhooks.ops = http://127.0.0.1:9/hook (events: recording.ready,alert.*; 1 secret)"
check "an unnamed endpoint gets a name" contains "$out" "webhooks.webhook-2 = https://hooks.example/b (events: *; 2 secrets)"
check "secrets are not printed" not_contains "$out" "MfKQ9r8"
check "delivery keys beside them" contains "$out" "delivery.retry_seconds = 1,5"
out=$(RECORDER_SMTP_PASSWORD=hunter2 RECORDER_HOOKS_INBOUND_SECRET=whsec_c2VjcmV0c2VjcmV0 "$recorderd" --check-config)
check "passwords and secrets are masked" not_contains "$out" "hunter2"
check "an inbound secret is masked" contains "$out" "hooks.inbound_secret = (set, not shown)"

printf '[[webhooks]]\nurl = "http://x/"\n\n[[webhooks]]\nurl = "http://y/"\nsecret = "hunter2"\n' > badhook.toml
set +e
err=$("$recorderd" --config badhook.toml --check-config 2>&1); rc=$?
set -e
check "a bad endpoint stops start-up" test "$rc" -eq 2
check "the error names the field, the table and the line" contains "$err" "webhooks.secret: required (whsec_ followed by base64) (from [[webhooks]] #1 in config file 'badhook.toml' line 1)"

printf '[server]\nlisten = "127.0.0.1:0\n' > syntax.toml
set +e
err=$("$recorderd" --config syntax.toml --check-config 2>&1); rc=$?
set -e
check "a TOML syntax error stops start-up" test "$rc" -eq 2
check "the syntax error names file and line" contains "$err" "config file 'syntax.toml' line 2"

printf '[storage]\nwarn_percent = [70, 80]\n' > list.toml
set +e
err=$("$recorderd" --config list.toml --check-config 2>&1); rc=$?
set -e
check "a list where one value belongs is refused" contains "$err" "storage.warn_percent: expected one value, not a list (from config file 'list.toml' line 2)"

# toml++ 3.3 has undefined behaviour for some non-ASCII text: the file must be ASCII.
printf '[s\357\273\237age]\nwarn_percent = 80\n' > nonascii.toml
set +e
err=$("$recorderd" --config nonascii.toml --check-config 2>&1); rc=$?
set -e
check "non-ASCII text is refused, not parsed" test "$rc" -eq 2
check "the refusal names line and column" contains "$err" "config file 'nonascii.toml' line 1 column 3: only ASCII text is read"
out=$(RECORDER_SMTP_FROM="r$(printf '\303\251')corder@example.org" "$recorderd" --config good.toml --check-config)
check "such a value can come from the environment" contains "$out" "smtp.from = r$(printf '\303\251')corder@example.org"

out=$("$recorderd" --set limits.grace_seconds=9 --check-config)
check "--set sets any key" contains "$out" "limits.grace_seconds = 9"

set +e
err=$("$recorderd" --set nonsense=1 --check-config 2>&1); rc=$?
set -e
check "an unknown key stops start-up" test "$rc" -eq 2
check "the unknown key is named" contains "$err" "unknown configuration key 'nonsense'"

"$recorderd" --data-dir "$work/data" --listen 127.0.0.1:0 2>"$work/log" &
pid=$!
deadline=$((SECONDS + 20))
until grep -q "recorderd started" "$work/log" 2>/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.05
done
check "the daemon logs where it listens" grep -qE "listen=127\.0\.0\.1:[1-9][0-9]* url=http://127\.0\.0\.1:[1-9]" "$work/log"
port=$(grep -oE "listen=127\.0\.0\.1:[0-9]+" "$work/log" | head -n 1 | cut -d: -f2)
check "it answers on that port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 && grep -q '^ok' <&3"
check "the data directory exists" test -d "$work/data"
kill -TERM "$pid" 2>/dev/null || true
rc=0
deadline=$((SECONDS + 20))
while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
wait "$pid" || rc=$?
pid=""
check "SIGTERM exits 0" test "$rc" -eq 0
check "SIGTERM is logged" grep -q "signal=SIGTERM" "$work/log"
check "the stop is complete" grep -q 'msg="recorderd stopped"' "$work/log"

set +e
err=$("$recorderd" --data-dir /proc/forbidden --listen 127.0.0.1:0 2>&1); rc=$?
set -e
check "an unusable data directory stops start-up" test "$rc" -eq 1
check "the error names the directory" contains "$err" "/proc/forbidden"

echo "$failures failures"
exit $((failures > 0))
