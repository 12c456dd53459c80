#!/usr/bin/env bash
# Makes sure a Postgres server answers on 127.0.0.1:$PGPORT (default 5432) with the local role
# and database tis_sync. On a fresh Debian machine the server is installed but stopped: as root
# this starts (or creates) the packaged cluster and records that it did, so `make down` stops
# exactly what was started. On a laptop with Postgres already running it only adds the role.
set -euo pipefail
port=${PGPORT:-5432}
state_dir=${TIS_SYNC_STATE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.local}
mkdir -p "$state_dir"

as_superuser() {
  if [[ $(id -u) == 0 ]] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
  if ! command -v pg_ctlcluster >/dev/null || [[ $(id -u) != 0 ]]; then
    echo "postgres.sh: nothing answers on 127.0.0.1:$port; start Postgres there or set PGPORT" >&2
    exit 1
  fi
  cluster=$(pg_lsclusters --no-header | awk -v p="$port" '$3 == p { print $1 "/" $2; exit }')
  if [[ -z $cluster ]]; then
    version=$(pg_lsclusters --no-header | awk '{ print $1; exit }')
    version=${version:-$(ls /usr/lib/postgresql | sort -n | tail -1)}
    pg_createcluster --port "$port" "$version" tis_sync >/dev/null
    cluster="$version/tis_sync"
  fi
  pg_ctlcluster "${cluster%/*}" "${cluster#*/}" start
  echo "$cluster" > "$state_dir/postgres.cluster"
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p "$port" || { echo "postgres.sh: cluster $cluster did not start" >&2; exit 1; }
fi

as_superuser psql -q -p "$port" -d postgres -v ON_ERROR_STOP=1 -X <<'SQL' >/dev/null
SELECT 'CREATE ROLE tis_sync LOGIN CREATEDB PASSWORD ''tis_sync'''
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tis_sync') \gexec
SELECT 'CREATE DATABASE tis_sync OWNER tis_sync'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tis_sync') \gexec
SQL
