#!/usr/bin/env bash
# Runs the suite (npm test, the README's test command) with every core kept busy by the suite's own CPU
# hogs (test/helpers/cpu-hog.ts), RUNS times in a row (default 1; the bar is 3 passes in a row), and
# checks after each run that nothing the run started is still running.
#   scripts/test-under-load.sh                         the whole suite (about 10 min a run on 2 cores)
#   scripts/test-under-load.sh test/e2e/prune.test.ts  only these files (arguments go to vitest)
#   RUNS=3 HOGS=2 scripts/test-under-load.sh
# Needs what `npm test` needs (scripts/test.sh installs it) and Node.js >= 23.6 to run the hog's .ts.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1}
hogs=${HOGS:-$(nproc)}

node test/helpers/cpu-hog.ts "$hogs" &
hog=$!
stop_hogs() { kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true; }
trap stop_hogs EXIT

# The processes (other than this script) whose arguments name $1, or that run in it.
leftovers() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = $$ ] && continue
    case "$(readlink "$d/cwd" 2>/dev/null)" in "$1"|"$1"/*) echo "$pid"; continue ;; esac
    tr '\0' '\n' < "$d/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "$pid"
  done
  return 0
}

for run in $(seq 1 "$runs"); do
  # Each run's temp dirs (its Ceph and PostgreSQL among them) under a TMPDIR of its own, so that any
  # process it leaves behind can be found by name afterwards.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/strongbox-load-XXXXXX")
  chmod 755 "$tmp" # the postgres user reaches its cluster inside
  echo "== run $run of $runs, $hogs CPU hog(s), TMPDIR=$tmp"
  start=$(date +%s)
  TMPDIR=$tmp npm test -- "$@"
  echo "== run $run passed in $(( $(date +%s) - start )) s"
  left=$(leftovers "$tmp")
  if [ -n "$left" ]; then
    echo "== run $run left processes running: $(echo $left)" >&2
    ps -o pid,args -p "$(echo $left | tr ' ' ,)" >&2 || true
    exit 1
  fi
  rm -rf "$tmp"
done
echo "== $runs run(s) passed under load, nothing left running"
