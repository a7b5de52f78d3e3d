#!/usr/bin/env bash
# Build the plugins in plugins/ to wasm32 and copy them to target/plugins/.
# Usage: scripts/build-plugins.sh [extra cargo -p packages...]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "==> installing the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi

# Every crate under plugins/, plus any extra packages named on the command line.
packages=()
for manifest in plugins/*/Cargo.toml; do
  packages+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
done
for extra in "$@"; do packages+=(-p "$extra"); done

# Plain rustc: `make test` lints through clippy-driver in place of rustc, which
# leaves MIR unoptimised; plugins are release builds (the wasm32 lint is
# `make lint-wasm`).
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
echo "==> building plugins: ${packages[*]}"
# A target dir of its own: tests build fixtures here while `cargo test` holds target/.
CARGO_TARGET_DIR=target/wasm cargo build --profile plugin --target wasm32-unknown-unknown "${packages[@]}"

mkdir -p target/plugins
for wasm in target/wasm/wasm32-unknown-unknown/plugin/p2pmon_plugin_*.wasm; do
  # Copy, then rename into place: an agent reading the directory meanwhile
  # sees the old file or the new one, never half of one.
  name=$(basename "$wasm")
  cp "$wasm" "target/plugins/.$name.$$"
  mv -f "target/plugins/.$name.$$" "target/plugins/$name"
  echo "    $(basename "$wasm") ($(stat -c %s "$wasm") bytes)"
done
