#!/usr/bin/env bash
# A private PostgreSQL server for the tests: initdb into DIR as the unprivileged postgres
# user, listening on 127.0.0.1 at a free port, nothing else.
#   postgres.sh init DIR     create and start it; writes DIR/url
#   postgres.sh start DIR    start it again (after stop)
#   postgres.sh stop DIR     stop it (fast)
#   postgres.sh destroy DIR  stop it and delete DIR
# init also leaves a watchdog that destroys the server when the process that asked for
# it (ctest) has gone, or after 60 minutes at the most, so it always stops by itself.
set -euo pipefail
cmd=${1:?usage: postgres.sh init|start|stop|destroy DIR}
dir=${2:?usage: postgres.sh init|start|stop|destroy DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ]; then
  echo "postgres.sh: no PostgreSQL server installed (run scripts/setup.sh)" >&2
  exit 1
fi
as_db_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_ctl_() { as_db_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" "$@"; }

case "$cmd" in
  init)
    if [ -d "$dir/data" ]; then pg_ctl_ -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    as_db_user "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    pg_ctl_ -w -t 60 start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
    owner=$PPID
    token="$owner-$RANDOM$RANDOM"
    echo "$token" >"$dir/token"
    # The watchdog destroys only its own server: a later run may have taken the directory.
    nohup bash -c "
      deadline=\$((SECONDS + 3600))
      mine() { [ \"\$(cat '$dir/token' 2>/dev/null)\" = '$token' ]; }
      while kill -0 $owner 2>/dev/null && [ \$SECONDS -lt \$deadline ] && mine; do sleep 2; done
      if mine; then '$0' destroy '$dir'; fi
    " >/dev/null 2>&1 &
    echo "postgres.sh: server on 127.0.0.1:$port, data in $dir"
    ;;
  start) pg_ctl_ -w -t 60 start >/dev/null ;;
  stop) pg_ctl_ -m fast -w -t 60 stop >/dev/null ;;
  destroy)
    if [ -d "$dir/data" ]; then pg_ctl_ -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "postgres.sh: unknown command $cmd" >&2; exit 2 ;;
esac
