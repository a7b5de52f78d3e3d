#!/usr/bin/env bash
# Install the p2pmon agent on a host: the binary, the plugins, an agent.yml
# that enrolls with a join token on first start, and a systemd unit.
#
#   install-agent.sh --aggregator https://monitor.example.org:5123 --join-token p2pj_... \
#       [--host-id NAME] [--host-type p2p|vps] [--binary PATH] [--plugins DIR] [--ca-file PEM]
#       [--root DIR] [--no-start]
#
# --binary and --plugins default to this script's directory (a release
# archive holds p2pmon-agent and plugins/ beside it). --root installs under
# another root (for images and tests; nothing is started then).
set -euo pipefail

aggregator="" token="" host_id="" host_type="p2p" binary="" plugins="" ca_file="" root="" start=1
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "install-agent: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --aggregator) aggregator=${2:-}; shift 2 ;;
    --join-token) token=${2:-}; shift 2 ;;
    --host-id) host_id=${2:-}; shift 2 ;;
    --host-type) host_type=${2:-}; shift 2 ;;
    --binary) binary=${2:-}; shift 2 ;;
    --plugins) plugins=${2:-}; shift 2 ;;
    --ca-file) ca_file=${2:-}; shift 2 ;;
    --root) root=${2:-}; start=0; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$aggregator" ] || die "--aggregator URL is required (the aggregator's ingest address)"
[[ $aggregator =~ ^https?://[^/[:space:]]+/?$ ]] || die "--aggregator must be http(s)://host:port, got $aggregator"
[[ $token =~ ^p2pj_[0-9a-f]{64}$ ]] || die "--join-token must be a join token (p2pmon-aggregator token create --join)"
[[ $host_type =~ ^(p2p|vps)$ ]] || die "--host-type is p2p or vps"
[ -z "$host_id" ] && host_id=$(hostname | tr 'A-Z' 'a-z')
[[ $host_id =~ ^[a-z0-9][a-z0-9_.-]{0,63}$ ]] || die "host id $host_id is not [a-z0-9][a-z0-9_.-]*; pass --host-id"
binary=${binary:-$here/p2pmon-agent}
plugins=${plugins:-$here/plugins}
[ -x "$binary" ] || die "no agent binary at $binary (pass --binary)"
ls "$plugins"/p2pmon_plugin_*.wasm >/dev/null 2>&1 || die "no plugins in $plugins (pass --plugins)"
[ -z "$ca_file" ] || [ -f "$ca_file" ] || die "no CA file at $ca_file"

etc=$root/etc/p2pmon
lib=$root/usr/local/lib/p2pmon
state=$root/var/lib/p2pmon
echo "==> installing the agent for host $host_id ($host_type) -> $aggregator"
install -d -m 0755 "$root/usr/local/bin" "$lib/plugins" "$etc" "$root/etc/systemd/system"
install -d -m 0750 "$state" "$state/spool"
install -m 0755 "$binary" "$root/usr/local/bin/p2pmon-agent"
install -m 0644 "$plugins"/p2pmon_plugin_*.wasm "$lib/plugins/"
install -m 0644 "$here/systemd/p2pmon-agent.service" "$root/etc/systemd/system/"
ca_line=""
if [ -n "$ca_file" ]; then
  install -m 0644 "$ca_file" "$etc/aggregator-ca.pem"
  ca_line="  ca_file: aggregator-ca.pem"
fi
config=$etc/agent.yml
if [ -e "$config" ]; then
  echo "    keeping the existing $config (remove it to write a new one)"
else
  umask 077
  cat >"$config" <<YAML
# Written by install-agent.sh. The full reference is conf/p2p/agent.yml.
# Paths are relative to this file (/etc/p2pmon), so an image installed
# under another root works once booted.
host_id: $host_id
plugins_dir: ../../usr/local/lib/p2pmon/plugins
cache_dir: ../../var/lib/p2pmon/cache
output: { kind: aggregator }
aggregator:
  url: "$aggregator"
  host_type: $host_type
  join_token: "$token"        # single use: spent on the first start
  credential_file: ../../var/lib/p2pmon/credential
  spool: { dir: ../../var/lib/p2pmon/spool }
$ca_line
plugins:
  - name: system
    file: p2pmon_plugin_system.wasm
    capabilities: [system, clock, log]
    interval_ms: 5000
YAML
  umask 022
fi
if [ -z "$root" ]; then
  id p2pmon >/dev/null 2>&1 || useradd --system --home /var/lib/p2pmon --shell /usr/sbin/nologin p2pmon
  chown -R p2pmon:p2pmon "$state"
  chown root:p2pmon "$config" && chmod 0640 "$config"
fi
"$root/usr/local/bin/p2pmon-agent" --config "$config" check-config
if [ "$start" = 1 ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload
  systemctl enable --now p2pmon-agent.service
  echo "==> started: systemctl status p2pmon-agent; it enrolls with the join token on its first start"
else
  echo "==> installed; start it with: systemctl enable --now p2pmon-agent.service"
fi
