#!/usr/bin/env bash
# Makes sure a Postgres server answers on 127.0.0.1:$PGPORT (default 5432) with the local role
# and database tis_sync. On a fresh Debian machine the server is installed but stopped: as root
# this starts (or creates) the packaged cluster and records that it did, so `make down` stops
# exactly what was started. On a laptop with Postgres already running it only adds the role.
#
# TLS as in AWS: a local CA and a server certificate for 127.0.0.1 (made once per machine under
# the tools cache, `pki/`), installed as the server's certificate, so the functions connect
# with the production credential path: the secret, TLS required, verified against the CA
# through PGSSLROOTCERT (`make` exports it).
set -euo pipefail
port=${PGPORT:-5432}
state_dir=${TIS_SYNC_STATE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.local}
mkdir -p "$state_dir"

# The soak's faults (tests/support/soak.rs), as the server's superuser: `postgres.sh restart`
# restarts the server under the functions' connections; `postgres.sh terminate` ends every
# connection a function holds (tis-sync:…, and a run's lock holder, tis-sync run …), as a
# failover or a reaper would.
case ${1:-} in
  restart)
    read -r version name < <(pg_lsclusters --no-header | awk -v p="$port" '$3 == p { print $1, $2; exit }')
    pg_ctlcluster "$version" "$name" restart -m fast
    exit 0 ;;
  terminate)
    runuser -u postgres -- psql -p "$port" -qAtX -c \
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'tis-sync:%' OR application_name LIKE 'tis-sync run %'" >/dev/null
    exit 0 ;;
esac

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
SELECT 'CREATE ROLE tis_sync LOGIN CREATEDB CREATEROLE PASSWORD ''tis_sync'''
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tis_sync') \gexec
-- The tests create roles of their own (a password rotated under a warm function).
ALTER ROLE tis_sync CREATEROLE;
SELECT 'CREATE DATABASE tis_sync OWNER tis_sync'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tis_sync') \gexec
SQL

# ---- TLS: the local CA and the server's certificate.
pki=${TIS_SYNC_PKI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/pki}
mkdir -p "$pki"
if ! openssl verify -CAfile "$pki/ca.pem" "$pki/server.pem" >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=tis-sync local CA" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 825 -out "$pki/server.pem" -extfile <(printf '%s\n' \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") 2>/dev/null
  rm -f "$pki/server.csr"
fi
# The server reads its copies from its own data directory (a clone may be deleted; the cluster
# must still start).
data=$(as_superuser psql -XAtq -p "$port" -d postgres -c 'SHOW data_directory')
installed=$(as_superuser cat "$data/tis-sync-server.pem" 2>/dev/null || true)
if [[ "$installed" != "$(cat "$pki/server.pem")" ]]; then
  # Written by the server's own user from our standard input (it cannot read our cache).
  as_superuser sh -c 'umask 077 && cat > "$1"' sh "$data/tis-sync-server.key" < "$pki/server.key"
  as_superuser sh -c 'umask 022 && cat > "$1"' sh "$data/tis-sync-server.pem" < "$pki/server.pem"
fi
as_superuser psql -q -p "$port" -d postgres -v ON_ERROR_STOP=1 -X <<SQL >/dev/null
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = '$data/tis-sync-server.pem';
ALTER SYSTEM SET ssl_key_file = '$data/tis-sync-server.key';
SELECT pg_reload_conf();
SQL
