#!/usr/bin/env bash
# recctl end to end against a real recorderd (SQLite, a test-source camera): every command,
# its human and JSON output, and its exit codes. Waits on conditions with deadlines.
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
# run CMD...: sets $out (stdout), $err (stderr) and $rc.
run() {
  set +e
  out=$("$@" 2>"$work/stderr"); rc=$?
  set -e
  err=$(cat "$work/stderr")
}
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$2"; }

run "$recctl" --help
check "--help exits 0" test "$rc" -eq 0
check "--help lists the commands" contains "$out" "events"
check "--help says the exit codes" contains "$out" "3 not found"
run "$recctl"
check "no command is a usage error (2)" test "$rc" -eq 2
run "$recctl" list --limit 0
check "a bad option is a usage error (2)" test "$rc" -eq 2

"$recorderd" --data-dir "$work/data" --listen 127.0.0.1:0 --set capture.devices=camera0=test 2>"$work/log" &
pid=$!
deadline=$((SECONDS + 20))
until grep -q "recorderd started" "$work/log" 2>/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then echo "recorderd did not start"; cat "$work/log"; exit 1; fi
  sleep 0.05
done
port=$(grep -oE "listen=127\.0\.0\.1:[0-9]+" "$work/log" | head -n 1 | cut -d: -f2)
export RECCTL_SERVER="http://127.0.0.1:$port"
export RECORDER_SERVER_DATA_DIR="$work/data"  # recctl finds admin.token there

run "$recctl" status
check "status exits 0 on a ready daemon" test "$rc" -eq 0
check "status says ready" contains "$out" "ready:       yes"
check "status counts live recordings" contains "$out" "recording:   0 live"

run "$recctl" start capture camera0 --session-id lecture-7 --duration 600
check "start capture exits 0" test "$rc" -eq 0
check "start says what started" contains "$out" "(capture,"
run "$recctl" start capture camera0
check "a busy device is a conflict (5)" test "$rc" -eq 5
check "the conflict names the device's recording" contains "$err" "409"
run "$recctl" devices
check "devices shows camera0 recording" contains "$out" "camera0"
check "devices shows it busy" contains "$out" "yes"

deadline=$((SECONDS + 20))
state=""
until [ "$state" = "recording" ] || [ $SECONDS -ge $deadline ]; do
  run "$recctl" --json show lecture-7
  state=$(json_get 'd["state"]' "$out")
  sleep 0.1
done
check "the capture records" test "$state" = "recording"
id=$(json_get 'd["id"]' "$out")

run "$recctl" list
check "list shows the capture" contains "$out" "$id"
check "list has a header" contains "$out" "ID"
run "$recctl" --json list --kind capture --state recording
check "list --json filters" test "$(json_get 'len(d)' "$out")" -eq 1
run "$recctl" list --state bogus
check "a bad filter is an error (1)" test "$rc" -eq 1
check "the server's reason is printed" contains "$err" "state: 'bogus' is not a state"

run "$recctl" stop lecture-7
check "stop exits 0" test "$rc" -eq 0
check "stop says it stopped" contains "$out" "stopped $id"
timeout 60 "$recctl" events lecture-7 --follow >"$work/events" 2>&1 && rc=0 || rc=$?
check "events --follow ends when the recording is finished" test "$rc" -eq 0
check "events shows the transitions" grep -q "created" "$work/events"
check "events shows the stop" grep -q "reason=manual" "$work/events"

run "$recctl" url lecture-7 --hours 2
check "url exits 0" test "$rc" -eq 0
link=$(head -n 1 <<<"$out")
check "the URL is signed" contains "$link" "&sig="
check "the URL opens" bash -c "curl -sf -o /dev/null '$link'"
run "$recctl" show nope
check "an unknown id is not found (3)" test "$rc" -eq 3

run "$recctl" token create "wall screen" --role viewer
check "token create exits 0" test "$rc" -eq 0
viewer=$(head -n 1 <<<"$out")
check "the secret is printed" contains "$viewer" "rec_"
run "$recctl" --token "$viewer" stop lecture-7
check "a viewer may not stop (4)" test "$rc" -eq 4
check "the refusal names the role" contains "$err" "needs the operator role"
run "$recctl" --token "$viewer" storage
check "a viewer reads storage" test "$rc" -eq 0
check "storage shows the level" contains "$out" "normal"
run "$recctl" token list
check "token list shows the name" contains "$out" "wall screen"
check "token list shows no secret" bash -c "! grep -qF -- '${viewer:17}' <<<'$out'"
token_id=$(cut -c5-16 <<<"$viewer")
run "$recctl" token revoke "$token_id"
check "token revoke exits 0" test "$rc" -eq 0
run "$recctl" --token "$viewer" storage
check "a revoked token is refused (4)" test "$rc" -eq 4
run "$recctl" --token "" --token-file /nonexistent storage
check "no token at all is refused (4)" test "$rc" -eq 4
check "and says how to pass one" contains "$err" "RECCTL_TOKEN"

run "$recctl" delete lecture-7
check "delete exits 0" test "$rc" -eq 0
run "$recctl" --json show lecture-7
check "the recording is deleted" test "$(json_get 'd["state"]' "$out")" = "deleted"
run "$recctl" cluster
check "cluster exits 0" test "$rc" -eq 0
check "cluster shows this one instance on SQLite" contains "$out" "local (this)"
check "and says SQLite serves one" contains "$out" "one instance (store.backend = sqlite)"
run "$recctl" agents
check "agents answers (none yet)" test "$rc" -eq 0
check "agents lists nobody yet" bash -c "! grep -q room-1 <<<'$out'"

# Webhook endpoints: one added over the API (nothing listens there; it only waits).
run "$recctl" webhooks
check "webhooks answers (none yet)" test "$rc" -eq 0
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $(cat "$work/data/admin.token")" \
  -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/webhooks" \
  -d '{"name":"crm","url":"http://127.0.0.1:9/hook","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}'
run "$recctl" webhooks
check "webhooks lists the endpoint added over the API" bash -c "grep -q 'crm .*api .*http://127.0.0.1:9/hook' <<<'$out'"
run "$recctl" --json webhooks
check "webhooks --json has its source" test "$(json_get 'd["webhooks"][0]["source"]' "$out")" = "api"

# A meeting-room agent written as seed 000's (Python, the websockets library).
run "$recctl" start agent --agent room-1 --subject Standup --organizer john@company.com --start-time 2025-10-30T15:00:00
check "starting on an agent that is not connected is a conflict (5)" test "$rc" -eq 5
check "the conflict says it is not connected" contains "$err" "agent 'room-1' is not connected"
/usr/bin/python3 "$(dirname "$0")/../agents/seed000_agent.py" --url "ws://127.0.0.1:$port/ws/agent?agent_id=room-1" \
  --status-interval 0.2 >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
deadline=$((SECONDS + 10))
until "$recctl" agents 2>/dev/null | grep -q room-1; do
  if [ $SECONDS -ge $deadline ]; then echo "the agent never connected"; cat "$work/agent.err"; break; fi
  sleep 0.1
done
run "$recctl" agents
check "agents lists the connected agent" contains "$out" "room-1"
run "$recctl" --json start agent --agent room-1 --subject Standup --organizer john@company.com \
  --start-time 2025-10-30T17:00:00+02:00 --expected 3600
check "start agent exits 0" test "$rc" -eq 0
agent_rec=$(json_get 'd["id"]' "$out")
check "the start time is normalised" test "$(json_get 'd["start_time"]' "$out")" = "2025-10-30T15:00:00Z"
deadline=$((SECONDS + 10))
until [ "$(json_get 'd.get("agent_status")' "$("$recctl" --json show "$agent_rec" 2>/dev/null || echo '{}')" 2>/dev/null)" = "recording" ]; do
  if [ $SECONDS -ge $deadline ]; then break; fi
  sleep 0.1
done
run "$recctl" show "$agent_rec"
check "show has the agent's status" contains "$out" "agent_status:    recording"
run "$recctl" agents
check "agents shows the recording it holds" contains "$out" "$agent_rec"
run "$recctl" --json stop "$agent_rec"
check "stop on an agent exits 0 once it confirms" test "$rc" -eq 0
check "the agent confirmed: ready" test "$(json_get 'd["state"]' "$out")" = "ready"
check "manual and far short of 3600 s: stopped_early" test "$(json_get 'd["outcome"]' "$out")" = "stopped_early"
check "the agent got stop_recording with reason manual" contains "$(cat "$work/agent.out")" '"reason":"manual"'
kill "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true
run "$recctl" --server http://127.0.0.1:1 status
check "an unreachable server is an error (1)" test "$rc" -eq 1
check "it says it cannot reach it" contains "$err" "cannot reach"

kill -TERM "$pid"
wait "$pid" || true
pid=""
echo "$failures failures"
exit $((failures > 0))
