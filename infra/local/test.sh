#!/usr/bin/env bash
# `make test`: brings up the test cloud (Postgres, ministack with template.yaml deployed, cargo
# lambda watch, osmem-server), runs every test against it, and stops what it started, whatever
# the outcome; then the soak's 3-iteration smoke. Ends with one "N passed, N failed; the soak smoke
# passed" line for the whole run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
"$here/sweep-test-databases.sh"
cargo build --locked --workspace --all-targets
"$here/cloud.sh" up test > /dev/null
trap '"$here/cloud.sh" down test' EXIT
mkdir -p target
status=0
TIS_SYNC_CLOUD_ENV="$root/.local/test/cloud.env" TIS_SYNC_MINISTACK_URL="$(cat .local/test/ministack.url)" \
  cargo test --locked --workspace --all-targets --no-fail-fast 2>&1 | tee target/test.log || status=$?
# The soak's smoke (docs/soak.md): three iterations under the faults of a fixed seed, on a cloud
# of its own; the test cloud is stopped first.
"$here/cloud.sh" down test
soak=passed
ITERATIONS=3 SEED=${TIS_SYNC_SOAK_SMOKE_SEED:-1004} "$here/soak.sh" 2>&1 | tee target/soak.log || { soak=failed; status=1; }
# One closing line for the whole run (cargo prints one per test binary).
awk -v soak="$soak" '/^test result:/ { passed += $4; failed += $6 }
  END { printf "%d passed, %d failed; the soak smoke %s\n", passed, failed, soak }' target/test.log
exit "$status"
