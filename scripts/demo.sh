#!/usr/bin/env bash
# The demo behind `make run`: an aggregator on its embedded store and a few
# simulated hosts (agents running the four real plugins against the host
# simulator), then the dashboard's address and a token to sign in with. An
# anti-cheat incident is staged on the first host after a short while, so an
# alert appears within a minute. Ctrl-C stops everything.
#
# Without MariaDB (127.0.0.1:3306, root, no password; DEMO_MYSQL to change)
# the hosts run the system and network plugins only.
#
# Settings (environment): DEMO_HOSTS (3), DEMO_API_PORT (5121),
# DEMO_WS_PORT (5122), DEMO_INGEST_PORT (5123), DEMO_DIR (target/demo),
# DEMO_DB_PREFIX (p2pmon_demo: the simulated hosts' databases, dropped on exit),
# DEMO_INCIDENT_AFTER_S (20), DEMO_CHECK=1 (wait for live data and the
# alert, report, stop: what the test runs). DEMO_AGGREGATOR_BIN,
# DEMO_AGENT_BIN and DEMO_HOSTSIM_BIN run binaries built elsewhere instead
# of building target/debug's.
#
# The binaries are those of tests/src/bin (the same programs as
# p2pmon-aggregator, p2pmon-agent and p2pmon-hostsim): built with
# `cargo build -p p2pmon-tests --bins`, whose features are those `make test`
# builds with (tests/Cargo.toml), so after `make test` nothing is compiled
# again. `cargo build -p p2pmon-aggregator ...` alone would resolve features
# without the tests' dependencies and compile wasmtime a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

hosts=${DEMO_HOSTS:-3}
api_port=${DEMO_API_PORT:-5121}
ws_port=${DEMO_WS_PORT:-5122}
ingest_port=${DEMO_INGEST_PORT:-5123}
dir=$(realpath -m "${DEMO_DIR:-target/demo}")
mysql=${DEMO_MYSQL:-mysql://root@127.0.0.1:3306}
incident_after=${DEMO_INCIDENT_AFTER_S:-20}
check=${DEMO_CHECK:-0}
db_prefix=${DEMO_DB_PREFIX:-p2pmon_demo}
aggregator_bin=${DEMO_AGGREGATOR_BIN:-$root/target/debug/p2pmon-test-aggregator}
agent_bin=${DEMO_AGENT_BIN:-$root/target/debug/p2pmon-test-agent}
hostsim_bin=${DEMO_HOSTSIM_BIN:-$root/target/debug/p2pmon-test-hostsim}

say() { echo "==> $*"; }

if [ -z "${DEMO_AGGREGATOR_BIN:-}${DEMO_AGENT_BIN:-}${DEMO_HOSTSIM_BIN:-}" ]; then
  say "building the aggregator, the agent and the host simulator"
  cargo build -p p2pmon-tests --bins
fi
for port in "$api_port" "$ws_port" "$ingest_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken (an aggregator already running, or rAthena on 5121?): set DEMO_API_PORT, DEMO_WS_PORT or DEMO_INGEST_PORT" >&2
    exit 1
  fi
done

rm -rf "$dir"
mkdir -p "$dir/data"
pids=()
databases=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${databases[@]}"; do
    "$hostsim_bin" --mysql "$mysql" --main-db "$db" --logs-db "${db}_log" drop >/dev/null 2>&1 || true
  done
}
trap stop EXIT
trap 'exit 130' INT TERM

# The aggregator: the shipped rules and metrics, ports as asked, store in $dir.
cat >"$dir/aggregator.yml" <<EOF
data_dir: data
metrics_file: $root/conf/p2p/metrics.yml
alerts_file: $root/conf/p2p/alerts.yml
ingest: { listen: "127.0.0.1:$ingest_port" }
api: { listen: "127.0.0.1:$api_port" }
websocket:
  listen: "127.0.0.1:$ws_port"
  allowed_origins: ["http://127.0.0.1:$api_port", "http://localhost:$api_port"]
EOF
aggregator=("$aggregator_bin" --config "$dir/aggregator.yml")
P2PMON_LOG=warn "${aggregator[@]}" serve 2>"$dir/aggregator.log" &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break
  sleep 0.1
done
api_token=$("${aggregator[@]}" token create --api --name demo 2>/dev/null)

# MariaDB for the game and anti-cheat plugins, if it is there.
game=0
if "$hostsim_bin" --mysql "$mysql" --main-db "${db_prefix}_probe" --logs-db "${db_prefix}_probe_log" setup >/dev/null 2>&1; then
  "$hostsim_bin" --mysql "$mysql" --main-db "${db_prefix}_probe" --logs-db "${db_prefix}_probe_log" drop >/dev/null 2>&1 || true
  game=1
else
  say "no MariaDB at $mysql: the hosts run the system and network plugins only"
fi

names=()
for i in $(seq 1 "$hosts"); do
  if [ "$i" -eq "$hosts" ] && [ "$hosts" -gt 1 ]; then names+=("demo-vps-1"); else names+=("demo-p2p-$i"); fi
done
peers=""
for i in $(seq 1 "$hosts"); do peers+="${peers:+,}${names[$((i - 1))]}=127.0.0.1:$((6200 + i))"; done

for i in $(seq 1 "$hosts"); do
  name=${names[$((i - 1))]}
  host_dir=$dir/$name
  mkdir -p "$host_dir/log"
  type=p2p
  [[ $name == demo-vps-* ]] && type=vps
  map_port=$((6100 + i))
  db=${db_prefix}_$i
  sim=("$hostsim_bin" --mysql "$mysql" --main-db "$db" --logs-db "${db}_log" --log-file "$host_dir/log/map-msg_log.log")
  game_plugins=""
  sql=""
  if [ "$game" -eq 1 ]; then
    databases+=("$db")
    "${sim[@]}" populate --players $((40 + 30 * i)) --maps $((4 + i)) >/dev/null
    "${sim[@]}" run --interval-ms 2000 --map-port "127.0.0.1:$map_port" >"$host_dir/hostsim.log" 2>&1 &
    pids+=($!)
    sql="sql:
  main: { url: \"$mysql/$db\", timeout_ms: 2000 }
  logs: { url: \"$mysql/${db}_log\", timeout_ms: 2000 }"
    game_plugins="  - name: game
    file: p2pmon_plugin_game.wasm
    capabilities: [sql, net, config]
    grants: { sql: [main, logs], net: [\"127.0.0.1:$map_port\"] }
    config: { map_server: \"127.0.0.1:$map_port\" }
    interval_ms: 2000
  - name: anticheat
    file: p2pmon_plugin_anticheat.wasm
    capabilities: [sql, file, config, clock]
    grants: { sql: [main, logs], files: [\"$host_dir/log\"] }
    config: { log_file: \"$host_dir/log/map-msg_log.log\" }
    interval_ms: 2000"
  fi
  join=$("${aggregator[@]}" token create --join --name "$name" 2>/dev/null)
  cat >"$host_dir/agent.yml" <<EOF
host_id: $name
plugins_dir: $root/target/plugins
collection: { flush_interval_ms: 1000 }
output: { kind: aggregator }
aggregator:
  url: "http://127.0.0.1:$ingest_port"
  host_type: $type
  join_token: "$join"
  credential_file: credential
  spool: { dir: spool }
net: { echo_listen: "127.0.0.1:$((6200 + i))" }
$sql
plugins:
  - name: system
    file: p2pmon_plugin_system.wasm
    capabilities: [system, clock, log]
    interval_ms: 2000
  - name: network
    file: p2pmon_plugin_network.wasm
    capabilities: [net, system, config, clock]
    grants: { net: ["127.0.0.1:*"] }
    config: { aggregator: "127.0.0.1:$ingest_port", peers: "$peers", map_server_port: $map_port }
    interval_ms: 2000
$game_plugins
EOF
  P2PMON_LOG=warn "$agent_bin" --config "$host_dir/agent.yml" run >/dev/null 2>"$host_dir/agent.log" &
  pids+=($!)
done

first=${names[0]}
if [ "$game" -eq 1 ]; then
  (sleep "$incident_after" && "$hostsim_bin" --mysql "$mysql" --main-db "${db_prefix}_1" --logs-db "${db_prefix}_1_log" \
    --log-file "$dir/$first/log/map-msg_log.log" inject hack --count 5 >/dev/null 2>&1) &
  pids+=($!)
fi

url="http://127.0.0.1:$api_port/p2p/monitoring"
echo
say "p2pmon demo running: ${names[*]}"
echo "    dashboard:   $url"
echo "    sign in with this API token: $api_token"
if [ "$game" -eq 1 ]; then
  echo "    in ${incident_after} s an anti-cheat incident is staged on $first: watch the Alerts page"
fi
echo "    logs and stores: $dir"
echo "    Ctrl-C stops everything."

api() { curl -fsS -H "Authorization: Bearer $api_token" "http://127.0.0.1:$api_port$1"; }
if [ "$check" = 1 ]; then
  # What a new user should see: every host online within seconds, an alert within a minute.
  started=$(date +%s)
  online=0
  for _ in $(seq 1 60); do
    online=$(api /api/v1/metrics/realtime | python3 -c 'import json,sys; print(json.load(sys.stdin)["hosts"]["online"])')
    [ "$online" -ge "$hosts" ] && break
    sleep 1
  done
  echo "check: $online of $hosts hosts online after $(($(date +%s) - started)) s"
  [ "$online" -ge "$hosts" ] || { echo "check failed: hosts not online" >&2; exit 1; }
  if [ "$game" -eq 1 ]; then
    alerts=0
    for _ in $(seq 1 90); do
      alerts=$(api /api/v1/alerts/active | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["alerts"]))')
      [ "$alerts" -ge 1 ] && break
      sleep 1
    done
    echo "check: $alerts alert(s) after $(($(date +%s) - started)) s"
    [ "$alerts" -ge 1 ] || { echo "check failed: no alert" >&2; exit 1; }
  fi
  echo "check: ok"
  exit 0
fi
wait
