#!/usr/bin/env bash
# Build a Python or JavaScript plugin from source into a component, cached by
# the hash of its sources, the SDK and the contract:
#   scripts/polyglot-build.sh python|js SOURCE_DIR [ENTRY]
# prints the path of the .wasm (target/polyglot/cache/<hash>.wasm). ENTRY is
# the module (python, default app) or file (js, default plugin.js). A build
# takes some 10 s and makes 12 to 18 MB; the cache makes it once per change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lang=${1:?usage: polyglot-build.sh python|js SOURCE_DIR [ENTRY]}
source_dir=$(cd "${2:?usage: polyglot-build.sh python|js SOURCE_DIR [ENTRY]}" && pwd)
case "$lang" in
  python) entry=${3:-app}; sdk="$root/plugin-sdk/python/p2pmon_plugin" ;;
  js) entry=${3:-plugin.js}; sdk="$root/plugin-sdk/js/index.js $root/plugin-sdk/js/build.mjs $root/plugin-sdk/js/package-lock.json" ;;
  *) echo "polyglot-build.sh: language $lang is not python or js" >&2; exit 2 ;;
esac

"$root/scripts/polyglot-setup.sh" >&2

cache="$root/target/polyglot/cache"
mkdir -p "$cache"
# shellcheck disable=SC2086
hash=$( { echo "$lang $entry"; find "$source_dir" $sdk "$root/plugin-sdk/wit" -type f \( -name '*.py' -o -name '*.js' -o -name '*.mjs' -o -name '*.wit' -o -name '*.json' \) -not -path '*/node_modules/*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sed "s|$root/||; s|$source_dir/|SRC/|"; } | sha256sum | cut -c1-24)
out="$cache/$lang-$hash.wasm"
exec 9>"$out.lock"
flock 9
if [ ! -s "$out" ]; then
  echo "==> building $lang plugin $source_dir" >&2
  case "$lang" in
    python) "$root/target/polyglot/venv/bin/python" "$root/plugin-sdk/python/p2pmon_plugin/build.py" "$source_dir" --module "$entry" -o "$out.partial.wasm" >&2 ;;
    js) node "$root/plugin-sdk/js/build.mjs" "$source_dir/$entry" -o "$out.partial.wasm" >&2 ;;
  esac
  mv -f "$out.partial.wasm" "$out"
fi
echo "$out"
