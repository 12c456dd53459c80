#!/usr/bin/env bash
# The local cloud: template.yaml deployed to the local AWS emulator, each of its functions run by
# a `cargo lambda watch` of its own from this workspace (the one binary, told which function it
# is), against local Postgres, OpenSearch and RabbitMQ.
#
#   cloud.sh up [demo|test|soak]    start everything, deploy, write <state>/cloud.env
#   cloud.sh down [demo|test|soak]  stop what `up` started (by PID)
#   cloud.sh watch FLAVOUR FUNCTION PORT BINARY
#                              start one function's watcher (deploy.py, for a custom resource's)
#
# demo, test and soak keep separate state (.local/<flavour>), databases and ports, so the
# tests can run while a demo is up. The test cloud dispatches ESR app files every minute
# (template parameter EsrAppFilesSchedule) so a test can watch a schedule fire.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
action=${1:?usage: cloud.sh up|down [demo|test]}
flavour=${2:-demo}
state=$root/.local/$flavour
export TIS_SYNC_STATE_DIR=$state
tools=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
stack=tis-sync
port=${PGPORT:-5432}
database=tis_sync_cloud_$flavour
database_url="postgres://tis_sync:tis_sync@127.0.0.1:$port/$database?sslmode=disable"

stop() {
  shopt -s nullglob
  for pidfile in "$state"/*.pid; do
    pid=$(cat "$pidfile")
    # cargo lambda watch runs the functions as children: stop the whole group.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# One watcher per function, as Lambda gives each function environments of its own: it runs the
# one binary with the function's TIS_SYNC_FUNCTION, on the port deploy.py proxied it to. Not
# DATABASE_URL from the caller's environment (make exports it for the CLI): it would win over
# the secret. Source changes are not rebuilt: cloud.sh builds before it starts them.
watch() { # function port binary
  [[ -e $state/watch-$1.pid ]] && return 0
  env -u DATABASE_URL setsid nohup "$tools/cargo-lambda/bin/cargo-lambda" lambda watch --quiet --ignore-changes \
    -A 127.0.0.1 -P "$2" --env-file "$state/functions.env" --env-var "TIS_SYNC_FUNCTION=$1" \
    >> "$state/functions.log" 2>&1 < /dev/null &
  echo $! > "$state/watch-$1.pid"
  for _ in $(seq 1 100); do
    (echo > "/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
}

if [[ $action == down ]]; then
  stop
  exit 0
fi
if [[ $action == watch ]]; then
  watch "${@:3}"
  exit 0
fi
[[ $action == up ]] || { echo "usage: cloud.sh up|down [demo|test]" >&2; exit 2; }

stop
mkdir -p "$state"
"$here/postgres.sh"
"$here/tools.sh"
cargo build --locked --quiet --workspace --bins

psql "postgres://tis_sync:tis_sync@127.0.0.1:$port/tis_sync?sslmode=disable" -qX \
  -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database" >/dev/null
# Progress goes to a log; shown only when the step fails.
quietly() { # log name, command...
  local log="$state/$1.log"; shift
  "$@" > "$log" 2>&1 || { cat "$log" >&2; return 1; }
}
quietly migrate env DATABASE_URL="$database_url" RUST_LOG=warn "$root/target/debug/tis-sync" migrate --tcs-fixture

aws_url=$("$here/ministack.sh" ministack)
opensearch_url=$("$here/osmem.sh")
broker_url=$("$here/rabbitmq.sh" up)
parameters=()
# Empty: the template's default (the watchdog then assumes the same default).
app_files_schedule=""
if [[ $flavour == test ]]; then app_files_schedule="rate(1 minute)"; fi
if [[ -n $app_files_schedule ]]; then parameters+=(--parameter "EsrAppFilesSchedule=$app_files_schedule"); fi
# The revalidation feeds go to RabbitMQ, as in TIS, with the broker's login in a secret.
broker_secret=tis-sync/reval-broker
parameters+=(--parameter "RevalFeedTarget=rabbitmq" --parameter "RevalBrokerUrl=$broker_url"
  --parameter "RevalBrokerSecretName=$broker_secret")
# The broker's login (rabbitmq.sh made it), where the template's RevalBrokerSecretName says.
quietly broker-secret "$tools/deploy/bin/python" - "$aws_url" "$broker_secret" <<'PY'
import json, sys, boto3
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="eu-west-2",
                  aws_access_key_id="test", aws_secret_access_key="test")
login = json.dumps({"username": "tis-sync", "password": "tis-sync-local"})
try:
    sm.create_secret(Name=sys.argv[2], SecretString=login)
except sm.exceptions.ResourceExistsException:
    sm.put_secret_value(SecretId=sys.argv[2], SecretString=login)
PY
# Each function's database login and secret, made as in AWS before the first deploy (RUNBOOK.md,
# "First deploy into an account"): the deploy runs sync-migrate with its secret. The environment
# tells this cloud's logins from the other local cloud's: roles are cluster-wide.
secret_prefix=tis-sync/database/
quietly logins env AWS_ENDPOINT_URL="$aws_url" AWS_REGION=eu-west-2 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  DATABASE_URL="$database_url" RUST_LOG=warn \
  "$root/target/debug/tis-sync" logins --secret-prefix "$secret_prefix" --environment "local_$flavour"
# What the binaries read: the names template.yaml gives them in AWS, and the same credential
# path: each function's own secret, TLS required and verified against the local CA
# (postgres.sh made it; PGSSLROOTCERT names it). What the stack's outputs name is added after
# the deploy; the functions the deploy itself calls (sync-migrate) need none of it.
# The soak (tests/support/soak.rs) stands between the functions and OpenSearch with its fault
# proxy, on a port chosen here and listened on by the soak; and arms its crash points in a
# directory the functions are told of (shared/src/crash_point.rs).
functions_opensearch_url=$opensearch_url
crash_points=""
if [[ $flavour == soak ]]; then
  functions_opensearch_url="http://127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  crash_points=$state/crash-points
  mkdir -p "$crash_points"
fi
cat > "$state/functions.env" <<ENV
DATABASE_SECRET_PREFIX="$secret_prefix"
PGSSLROOTCERT="${PGSSLROOTCERT:?PGSSLROOTCERT must name the local CA: run through make}"
AWS_ENDPOINT_URL="$aws_url"
AWS_REGION="eu-west-2"
AWS_ACCESS_KEY_ID="test"
AWS_SECRET_ACCESS_KEY="test"
OPENSEARCH_URL="$functions_opensearch_url"
PERSONS_INDEX_ALIAS="persons"
POSTS_INDEX_ALIAS="posts"
ESR_EXPORT_PREFIX="exports/"
JOB_FUNCTION_PREFIX="$stack-"
REVAL_BROKER_URL="$broker_url"
REVAL_BROKER_SECRET="$broker_secret"
REVAL_BROKER_CA_FILE="$PGSSLROOTCERT"
ESR_APP_FILES_SCHEDULE="$app_files_schedule"
METRICS_NAMESPACE="TisSync/$stack"
RUST_LOG="info"
TIS_SYNC_CRASH_POINTS="$crash_points"
ENV
: > "$state/functions.log"

"$root/target/debug/template-json" > "$state/template.json"
"$tools/deploy/bin/python" "$here/deploy.py" --endpoint "$aws_url" --stack "$stack" \
  --watchers "$state/watchers" --start-watcher "$here/cloud.sh watch $flavour" \
  --template "$state/template.json" --out "$state/outputs.json" \
  --processed "$state/processed-template.json" "${parameters[@]}"

output() { python3 -c "import json,sys; print(json.load(open('$state/outputs.json'))['$1'])"; }
cat >> "$state/functions.env" <<ENV
EVENT_BUS_NAME="$(output JobEventBusName)"
ESR_COMMAND_QUEUE_URL="$(output EsrCommandQueueUrl)"
ESR_COMMAND_DLQ_URL="$(output EsrCommandDeadLetterQueueUrl)"
ESR_EXPORT_BUCKET="$(output EsrExportBucketName)"
ENV
while read -r function watch_port binary; do
  watch "$function" "$watch_port" "$binary"
done < "$state/watchers"

# Everything a client of this cloud needs, in one file; clients (the CLI, the tests) reach the
# database by URL.
{
  sed 's/^/export /' "$state/functions.env"
  echo "export DATABASE_URL=\"$database_url\""
  echo "export TIS_SYNC_MINISTACK_URL=\"$aws_url\""
  echo "export TIS_SYNC_STACK=\"$stack\""
  echo "export TIS_SYNC_STATE_DIR=\"$state\""
  echo "export TIS_SYNC_FLAVOUR=\"$flavour\""
  echo "export TIS_SYNC_SEARCH_SERVER_URL=\"$opensearch_url\""
  echo "export TIS_SYNC_BROKER_ADDRESS=\"$(sed -E 's|^amqps://([^/]*)/.*|\1|' <<< "$broker_url")\""
  echo "export TIS_SYNC_OUTPUTS=\"$state/outputs.json\""
  echo "export TIS_SYNC_PROCESSED_TEMPLATE=\"$state/processed-template.json\""
} > "$state/cloud.env"
echo "$state/cloud.env"
