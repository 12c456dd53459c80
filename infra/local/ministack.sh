#!/usr/bin/env bash
# Starts the local AWS emulator (ministack, pinned in infra/tools/versions.env) on a free port of
# 127.0.0.1 and waits until it answers. Prints its URL; records its PID and URL under
# .local/<name>.pid and .local/<name>.url (name defaults to "ministack") for `make down`.
set -euo pipefail
name=${1:-ministack}
here=$(cd "$(dirname "$0")" && pwd)
state_dir=${TIS_SYNC_STATE_DIR:-$here/../../.local}
tools_dir=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
mkdir -p "$state_dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BIND_HOST=127.0.0.1 GATEWAY_PORT=$port IOT_MTLS_ENABLED=0 \
  nohup "$tools_dir/ministack/bin/ministack" > "$state_dir/$name.log" 2>&1 &
echo $! > "$state_dir/$name.pid"
url=http://127.0.0.1:$port
for _ in $(seq 1 150); do
  if curl -sf "$url/_ministack/health" > /dev/null; then
    echo "$url" > "$state_dir/$name.url"
    echo "$url"
    exit 0
  fi
  kill -0 "$(cat "$state_dir/$name.pid")" 2>/dev/null || break
  sleep 0.2
done
echo "ministack did not start; its log: $state_dir/$name.log" >&2
tail -20 "$state_dir/$name.log" >&2
exit 1
