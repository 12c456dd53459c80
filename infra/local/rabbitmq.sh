#!/usr/bin/env bash
# A local RabbitMQ broker, as TIS runs one on Amazon MQ: AMQP 0-9-1 over TLS only (Amazon MQ's
# port 5671; here a free port), the certificate from the local CA postgres.sh made, and the
# revalidation topology TIS declares (docs/revalidation-feeds.md):
#   exchange reval.exchange (direct, durable)
#     --reval.trainee.update--> queue reval.queue.trainee.update.tcs (durable; TCS reads it)
# and two logins: `tis-sync` may only publish to that exchange, `tcs` may only read the queue.
# Vhost tests holds the same for the tests, and a login of theirs that may declare there.
#
#   rabbitmq.sh up     install Debian's rabbitmq-server if missing, start a node under
#                      $TIS_SYNC_STATE_DIR/rabbitmq, print its amqps:// URL (no credentials)
#   rabbitmq.sh down   stop that node and its epmd
#   rabbitmq.sh ctl …  rabbitmqctl against that node (the demo counts the queue with it)
set -euo pipefail
action=${1:?usage: rabbitmq.sh up|down|ctl ...}
here=$(cd "$(dirname "$0")" && pwd)
state_dir=${TIS_SYNC_STATE_DIR:-$here/../../.local}
dir=$state_dir/rabbitmq
pki=${TIS_SYNC_PKI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/pki}
bin=/usr/lib/rabbitmq/bin
# The logins' passwords: local only, like the database's tis_sync/tis_sync.
publisher_password=tis-sync-local
consumer_password=tcs-local

node_env() {
  export HOME=$dir/home RABBITMQ_NODENAME=tis-sync@localhost RABBITMQ_MNESIA_BASE=$dir/mnesia \
    RABBITMQ_LOG_BASE=$dir/log RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf \
    RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_PID_FILE=$dir/beam.pid \
    ERL_EPMD_PORT=$(cat "$dir/epmd.port") RABBITMQ_DIST_PORT=$(cat "$dir/dist.port")
}

stop() {
  for name in rabbitmq epmd; do
    if [[ -f $state_dir/$name.pid ]]; then
      kill "$(cat "$state_dir/$name.pid")" 2>/dev/null || true
      rm -f "$state_dir/$name.pid"
    fi
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case $action in
  down) stop; exit 0 ;;
  ctl) shift; node_env; exec "$bin/rabbitmqctl" -q "$@" ;;
  up) ;;
  *) echo "usage: rabbitmq.sh up|down|ctl ..." >&2; exit 2 ;;
esac

if [[ ! -x $bin/rabbitmq-server ]]; then
  [[ $(id -u) == 0 ]] || { echo "rabbitmq.sh: rabbitmq-server is not installed; as root: apt-get install rabbitmq-server" >&2; exit 1; }
  # Installed, never started as a system service: this script runs its own node.
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=true; fi
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null; }
  install || { apt-get update -qq && install; }
  if $made_policy; then rm -f "$policy"; fi
fi
[[ -f $pki/ca.pem && -f $pki/server.pem ]] || "$here/postgres.sh"

stop
rm -rf "$dir"
mkdir -p "$dir/home" "$dir/log"
free_port > "$dir/epmd.port"
free_port > "$dir/dist.port"
port=$(free_port)
# The node's own copies: a clone may be deleted while the node runs.
cp "$pki/ca.pem" "$pki/server.pem" "$pki/server.key" "$dir/"
echo "[]." > "$dir/enabled_plugins"
cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp = none
listeners.ssl.default = $port
ssl_options.cacertfile = $dir/ca.pem
ssl_options.certfile = $dir/server.pem
ssl_options.keyfile = $dir/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
load_definitions = $dir/definitions.json
CONF
# TIS's topology in vhost / (the cloud's functions) and again in vhost tests (the tests').
python3 - "$dir/definitions.json" <<'PY'
import json, sys
vhosts = ["/", "tests"]
json.dump({
    "vhosts": [{"name": v} for v in vhosts],
    "exchanges": [{"name": "reval.exchange", "vhost": v, "type": "direct", "durable": True,
                   "auto_delete": False, "internal": False, "arguments": {}} for v in vhosts],
    "queues": [{"name": "reval.queue.trainee.update.tcs", "vhost": v, "durable": True,
                "auto_delete": False, "arguments": {}} for v in vhosts],
    "bindings": [{"source": "reval.exchange", "vhost": v, "destination": "reval.queue.trainee.update.tcs",
                  "destination_type": "queue", "routing_key": "reval.trainee.update", "arguments": {}}
                 for v in vhosts],
}, open(sys.argv[1], "w"), indent=1)
PY
node_env
# epmd in the foreground under our own PID and port, so `down` stops exactly this one.
nohup epmd -port "$ERL_EPMD_PORT" > "$dir/log/epmd.log" 2>&1 &
echo $! > "$state_dir/epmd.pid"
nohup "$bin/rabbitmq-server" > "$dir/log/server.out" 2>&1 &
echo $! > "$state_dir/rabbitmq.pid"
if ! timeout 120 "$bin/rabbitmqctl" -q wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null 2>&1; then
  echo "rabbitmq.sh: the node did not start; its logs: $dir/log" >&2
  tail -30 "$dir/log/server.out" >&2
  exit 1
fi
# The node's own PID (the script's child), so `down` stops the node itself.
cp "$RABBITMQ_PID_FILE" "$state_dir/rabbitmq.pid"
ctl() { "$bin/rabbitmqctl" -q "$@" >/dev/null; }
# Loading definitions at boot leaves no default guest login.
ctl add_user tis-sync "$publisher_password"
ctl add_user tcs "$consumer_password"
for vhost in / tests; do
  # configure, write, read: tis-sync publishes to the exchange, tcs reads its queue, no more.
  ctl set_permissions -p "$vhost" tis-sync '^$' '^reval\.exchange$' '^$'
  ctl set_permissions -p "$vhost" tcs '^$' '^$' '^reval\.queue\.trainee\.update\.tcs$'
done
# The tests declare exchanges and queues of their own in vhost tests, and publish there as
# tis-sync too (its write permission there reaches their exchanges, named reval.exchange.*).
ctl add_user tis-sync-tests tis-sync-tests-local
ctl set_permissions -p tests tis-sync-tests '.*' '.*' '.*'
ctl set_permissions -p tests tis-sync '^$' '^reval\.exchange.*$' '^$'
echo "amqps://localhost:$port/%2f"
