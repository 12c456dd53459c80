#!/usr/bin/env bash
# `make bench`: the benchmark at TIS scale with its own local AWS (for the ESR burst's S3) and
# OpenSearch-API server, stopped afterwards. Writes target/bench/report.{md,json}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export TIS_SYNC_STATE_DIR=$root/.local/bench
export DATABASE_URL=${DATABASE_URL:-postgres://tis_sync:tis_sync@127.0.0.1:${PGPORT:-5432}/tis_sync?sslmode=disable}
mkdir -p "$TIS_SYNC_STATE_DIR"
"$here/postgres.sh"
"$here/tools.sh"
cargo build --locked --profile bench-build --workspace --bins
aws_url=$("$here/ministack.sh" ministack)
opensearch_url=$("$here/osmem.sh")
trap 'for p in "$TIS_SYNC_STATE_DIR"/*.pid; do kill "$(cat "$p")" 2>/dev/null || true; rm -f "$p"; done' EXIT
TIS_SYNC_MINISTACK_URL=$aws_url OPENSEARCH_URL=$opensearch_url \
  "$root/target/bench-build/tis-sync-bench" --scale "${1:-tis}" --runs "${BENCH_RUNS:-5}" --out "$root/target/bench"
