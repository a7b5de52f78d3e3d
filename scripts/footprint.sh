#!/usr/bin/env bash
# Idle footprint of the agent (system plugin at the shipped 5 s interval) next
# to prometheus-node-exporter scraped at the same interval, same machine, same
# run. Prints average and peak RSS and CPU share of one core for both, and
# the agent/node_exporter ratios.
#
# Usage: scripts/footprint.sh [--aggregator] [--game] [SECONDS]   (default
# 120; needs root for apt-get if node_exporter is missing). With --aggregator
# the agent ships to a local aggregator through its on-disk spool (enrolled
# with a join token) instead of writing a file. With --game the agent runs all
# four plugins every 5 s against the host simulator (local MariaDB) with
# 1,000 players online on 200 maps, a live tick every 5 s. With --python the
# agent also runs the Python example plugin (map-log-check, built from source
# with componentize-py) every 5 s on a log file written to as it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
to_aggregator=false
game=false
python=false
while true; do
  case "${1:-}" in
    --python) python=true; shift ;;
    --aggregator) to_aggregator=true; shift ;;
    --game) game=true; shift ;;
    *) break ;;
  esac
done
seconds=${1:-120}
warmup=15
port=19100

exporter=$(command -v prometheus-node-exporter || true)
if [ -z "$exporter" ]; then
  echo "==> installing prometheus-node-exporter (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-node-exporter >/dev/null
  exporter=$(command -v prometheus-node-exporter)
fi

echo "==> building the agent (release) and the plugins"
scripts/build-plugins.sh >/dev/null
cargo build --release -q -p p2pmon-agent -p p2pmon-aggregator -p p2pmon-hostsim

work=$(mktemp -d)
aggregator_pid=
sim_pid=
trap 'kill $agent_pid $exporter_pid $scraper_pid $aggregator_pid $sim_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
output="output: { kind: file, path: $work/batches.jsonl }"
if $to_aggregator; then
  cp conf/p2p/metrics.yml "$work/"
  cat > "$work/aggregator.yml" <<YAML
data_dir: $work/store
ingest: { listen: "127.0.0.1:19123" }
api: { listen: "127.0.0.1:19121" }
websocket: { listen: "127.0.0.1:19122" }
YAML
  target/release/p2pmon-aggregator --config "$work/aggregator.yml" --log warn serve & aggregator_pid=$!
  sleep 1
  token=$(target/release/p2pmon-aggregator --config "$work/aggregator.yml" token create --join 2>/dev/null)
  output="output: { kind: aggregator }
aggregator:
  url: http://127.0.0.1:19123
  join_token: $token
  credential_file: $work/credential
  spool: { dir: $work/spool }"
fi
plugins="plugins:
  - { name: system, file: p2pmon_plugin_system.wasm, capabilities: [system, clock], interval_ms: 5000 }"
workload="agent: system plugin every 5 s"
if $python; then
  python_wasm=$(scripts/polyglot-build.sh python plugins/examples/python/map-log-check)
  mkdir -p target/plugins && cp "$python_wasm" target/plugins/map-log-check.wasm
  echo "[Status]: Server is 'ready' and listening on port '5121'." > "$work/map-server.log"
  plugins="$plugins
  - { name: maplog, file: map-log-check.wasm, capabilities: [config, file], grants: { files: [\"$work/map-server.log\"] }, memory_mb: 128, interval_ms: 5000, config: { path: \"$work/map-server.log\" } }"
  workload="agent: system plugin and the Python plugin map-log-check every 5 s"
  ( while sleep 1; do echo "[Info]: tick" >> "$work/map-server.log"; done ) & sim_pid=$!
fi
if $game; then
  sim="target/release/p2pmon-hostsim --main-db p2pmon_footprint --logs-db p2pmon_footprint_log --log-file $work/log/map-msg_log.log"
  mkdir -p "$work/log"
  echo "==> simulator: 1,000 players on 200 maps"
  $sim populate --players 1000 --maps 200 >/dev/null
  $sim run --interval-ms 5000 --map-port 127.0.0.1:16121 >/dev/null 2>&1 & sim_pid=$!
  plugins="sql:
  main: { url: \"mysql://root@127.0.0.1:3306/p2pmon_footprint\" }
  logs: { url: \"mysql://root@127.0.0.1:3306/p2pmon_footprint_log\" }
$plugins
  - name: game
    file: p2pmon_plugin_game.wasm
    capabilities: [sql, net, config]
    grants: { sql: [main, logs], net: [\"127.0.0.1:16121\"] }
    config: { map_server: \"127.0.0.1:16121\" }
    interval_ms: 5000
  - name: network
    file: p2pmon_plugin_network.wasm
    capabilities: [net, system, config, clock]
    grants: { net: [\"127.0.0.1:16121\"] }
    config: { aggregator: \"127.0.0.1:16121\", map_server_port: 16121 }
    interval_ms: 5000
  - name: anticheat
    file: p2pmon_plugin_anticheat.wasm
    capabilities: [sql, file, config, clock]
    grants: { sql: [main, logs], files: [\"$work/log\"] }
    config: { log_file: \"$work/log/map-msg_log.log\" }
    interval_ms: 5000"
  workload="agent: four plugins every 5 s, simulator with 1,000 players on 200 maps"
fi
cat > "$work/agent.yml" <<YAML
plugins_dir: $PWD/target/plugins
cache_dir: $PWD/target/plugin-cache
$output
$plugins
YAML

# Warm the compiled-plugin cache so the run measures steady state, not compiling.
target/release/p2pmon-agent --config "$work/agent.yml" collect --once >/dev/null 2>&1

target/release/p2pmon-agent --config "$work/agent.yml" --log warn run 2>"$work/agent.log" & agent_pid=$!
"$exporter" --web.listen-address=127.0.0.1:$port >/dev/null 2>&1 & exporter_pid=$!
( while sleep 5; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true; done ) & scraper_pid=$!

echo "==> warming up ${warmup}s, then sampling ${seconds}s"
sleep "$warmup"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

a_t0=$(ticks $agent_pid); e_t0=$(ticks $exporter_pid); t0=$(date +%s.%N)
a_sum=0; e_sum=0; a_max=0; e_max=0; n=0
end=$(( $(date +%s) + seconds ))
while [ "$(date +%s)" -lt "$end" ]; do
  a=$(rss_kb $agent_pid); e=$(rss_kb $exporter_pid)
  a_sum=$((a_sum + a)); e_sum=$((e_sum + e)); n=$((n + 1))
  [ "$a" -gt "$a_max" ] && a_max=$a
  [ "$e" -gt "$e_max" ] && e_max=$e
  sleep 1
done
a_t1=$(ticks $agent_pid); e_t1=$(ticks $exporter_pid); t1=$(date +%s.%N)

awk -v n=$n -v as=$a_sum -v es=$e_sum -v am=$a_max -v em=$e_max \
    -v at=$((a_t1 - a_t0)) -v et=$((e_t1 - e_t0)) -v hz=$hz -v t0=$t0 -v t1=$t1 -v workload="$workload" 'BEGIN {
  wall = t1 - t0
  acpu = 100 * at / hz / wall; ecpu = 100 * et / hz / wall
  printf "%-22s %12s %12s %12s\n", "", "agent", "node_exporter", "ratio"
  printf "%-22s %12.1f %12.1f %12.2f\n", "RSS avg (MiB)", as/n/1024, es/n/1024, (as/n)/(es/n)
  printf "%-22s %12.1f %12.1f %12.2f\n", "RSS max (MiB)", am/1024, em/1024, am/em
  printf "%-22s %12.3f %12.3f %12s\n", "CPU (% of one core)", acpu, ecpu, (ecpu > 0 ? sprintf("%.2f", acpu/ecpu) : "n/a")
  printf "(%d samples over %.0f s; %s; node_exporter scraped every 5 s)\n", n, wall, workload
}'
if $to_aggregator; then
  sent=$(ls "$work/spool" | grep -c '\.zst$' || true)
  echo "(agent shipping to the aggregator through its spool; batches waiting in the spool at the end: $sent)"
fi
if $game; then
  $sim drop >/dev/null 2>&1 || true
  echo "(batches written: $(wc -l < "$work/batches.jsonl"); player_count points: $(grep -o '"player_count"' "$work/batches.jsonl" | wc -l); agent errors logged: $(grep -c ERROR "$work/agent.log" || true))"
fi
