#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for tests (run as the postgres user: PostgreSQL refuses root).
#   postgres.sh start DIR PORT PASSWORD  → superuser "postgres" with that password on 127.0.0.1:PORT (scram)
#   postgres.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?dir}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bindir" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$cmd" = stop ]; then
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  exit 0
fi
port=${3:?port}; password=${4:?password}
mkdir -p "$dir"
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
printf '%s\n' "$password" > "$dir/pw"
[ "$(id -u)" = 0 ] && chown postgres: "$dir/pw"
as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pw" -E UTF8 --locale=C.UTF-8 >/dev/null
rm -f "$dir/pw"
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=50" start >/dev/null
echo ready
