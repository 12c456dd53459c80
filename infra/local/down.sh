#!/usr/bin/env bash
# Stops what the make targets started, by the PIDs and markers they recorded in .local/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state_dir=${TIS_SYNC_STATE_DIR:-$here/../../.local}
for flavour in demo test; do "$here/cloud.sh" down "$flavour"; done
shopt -s nullglob
for pidfile in "$state_dir"/*.pid; do
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
  fi
  rm -f "$pidfile"
done
if [[ -f $state_dir/postgres.cluster ]]; then
  cluster=$(cat "$state_dir/postgres.cluster")
  pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop && echo "stopped Postgres cluster $cluster"
  rm -f "$state_dir/postgres.cluster"
fi
