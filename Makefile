# p2pmon: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
WASM_PACKAGES := -p p2pmon-plugin-sdk -p p2pmon-plugin-system -p p2pmon-fixture-empty -p p2pmon-fixture-hostile

.PHONY: run test setup plugins lint bench footprint clean

## Install what is missing, build the plugins, run the agent showing what it collects.
run: setup plugins
	$(CARGO) run -p p2pmon-agent -- --config conf/p2p/agent.yml run --format text

## Everything CI checks: formatting, lints (host and wasm32), all tests.
test: setup plugins lint
	$(CARGO) test

setup:
	@command -v rustup >/dev/null || { echo "rustup is required (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

plugins: setup
	scripts/build-plugins.sh

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	CARGO_TARGET_DIR=target/wasm $(CARGO) clippy --target wasm32-unknown-unknown $(WASM_PACKAGES) -- -D warnings

## Criterion benchmarks: call overhead, instantiation (on-demand vs pooling).
bench: setup plugins
	$(CARGO) bench -p p2pmon-tests --bench plugin_runtime

## Idle RSS and CPU of the agent next to prometheus-node-exporter.
footprint: setup plugins
	scripts/footprint.sh

clean:
	$(CARGO) clean
