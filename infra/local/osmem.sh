#!/usr/bin/env bash
# Starts the OpenSearch-API server (osmem-server, pinned) on a free port of 127.0.0.1 for the
# demo; prints its URL and records PID and URL under .local/ for `make down`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state_dir=${TIS_SYNC_STATE_DIR:-$here/../../.local}
tools_dir=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
mkdir -p "$state_dir"
if [[ -f $state_dir/osmem.pid ]] && kill -0 "$(cat "$state_dir/osmem.pid")" 2>/dev/null; then
  cat "$state_dir/osmem.url"
  exit 0
fi
nohup "$tools_dir/osmem/bin/osmem-server" -addr 127.0.0.1:0 -no-stdin-watch \
  > "$state_dir/osmem.out" 2> "$state_dir/osmem.log" < /dev/null &
echo $! > "$state_dir/osmem.pid"
for _ in $(seq 1 100); do
  url=$(head -1 "$state_dir/osmem.out" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])' 2>/dev/null || true)
  if [[ -n $url ]]; then
    echo "$url" > "$state_dir/osmem.url"
    echo "$url"
    exit 0
  fi
  sleep 0.1
done
echo "osmem-server did not start; its log: $state_dir/osmem.log" >&2
exit 1
