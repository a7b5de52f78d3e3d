#!/usr/bin/env bash
# The toolchains for plugins in Python and JavaScript, from the registries:
# componentize-py (PyPI) in a venv under target/polyglot/venv, and the
# JavaScript SDK's npm packages (componentize-js, from plugin-sdk/js's
# package-lock.json) in plugin-sdk/js/node_modules. Quick when already there.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY=0.25.1
venv=target/polyglot/venv

if [ "$("$venv/bin/componentize-py" --version 2>/dev/null || true)" != "componentize-py $COMPONENTIZE_PY" ]; then
  command -v python3 >/dev/null || { echo "python3 is required for Python plugins (Debian: apt-get install python3 python3-venv)"; exit 1; }
  echo "==> installing componentize-py $COMPONENTIZE_PY (PyPI) into $venv"
  mkdir -p target/polyglot
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
fi

stamp=plugin-sdk/js/node_modules/.p2pmon-lock.sha256
want=$(sha256sum plugin-sdk/js/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  command -v npm >/dev/null || { echo "npm is required for JavaScript plugins (Debian: apt-get install nodejs npm)"; exit 1; }
  echo "==> installing the JavaScript plugin SDK's packages (npm ci in plugin-sdk/js)"
  (cd plugin-sdk/js && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
