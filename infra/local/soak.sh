#!/usr/bin/env bash
# `make soak` (ITERATIONS=N, SEED=S): the fault-injection soak (tests/support/soak.rs) on a local
# cloud of its own (.local/soak), stopped afterwards whatever the outcome. Ends with
# `soak: N iterations, F faults, V invariant violations`; fails when V > 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --locked --workspace --all-targets
"$here/cloud.sh" up soak > /dev/null
trap '"$here/cloud.sh" down soak' EXIT
TIS_SYNC_CLOUD_ENV="$root/.local/soak/cloud.env" "$root/target/debug/soak" \
  --iterations "${ITERATIONS:-60}" ${SEED:+--seed "$SEED"}
