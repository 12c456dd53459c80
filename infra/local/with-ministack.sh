#!/usr/bin/env bash
# Runs a command with a fresh local AWS emulator of its own (TIS_SYNC_MINISTACK_URL), stopped
# when the command ends, whatever its outcome.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state_dir=${TIS_SYNC_STATE_DIR:-$here/../../.local}
url=$("$here/ministack.sh" ministack-test)
stop() {
  local pidfile=$state_dir/ministack-test.pid
  if [[ -f $pidfile ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
}
trap stop EXIT
TIS_SYNC_MINISTACK_URL=$url "$@"
