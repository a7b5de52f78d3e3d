# p2pmon: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
WASM_PACKAGES := -p p2pmon-plugin-sdk -p p2pmon-rathena -p p2pmon-plugin-system -p p2pmon-plugin-game -p p2pmon-plugin-network -p p2pmon-plugin-anticheat -p p2pmon-fixture-counter -p p2pmon-fixture-empty -p p2pmon-fixture-hostile -p p2pmon-fixture-map-watch

# CI runs nextest's `ci` profile (.config/nextest.toml).
NEXTEST_PROFILE ?= $(if $(CI),ci,default)

# The host build is also the lint pass: clippy-driver stands in for rustc on the workspace's own crates (what
# `cargo clippy` does, on top of `cargo check`), so `make test` compiles the dependencies once, for lints and tests
# alike, instead of once more in check mode; `make run` after it builds nothing. Lints fail the build (-D warnings).
# Benchmarks and the wasm32 plugins are built by plain rustc (scripts/build-plugins.sh drops these).
LINTED_BUILD := RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver)" CLIPPY_ARGS=-Dwarnings

.PHONY: run agent test nextest test-deps web setup plugins lint lint-wasm bench bench-ingest bench-alerting bench-fanout bench-collect bench-store bench-history bench-polyglot footprint aggregator clean

## The demo: build everything, start an aggregator and simulated hosts, print the dashboard's address.
run: setup web plugins
	$(LINTED_BUILD) scripts/demo.sh

## The agent alone, printing what it collects on this machine. It and `make aggregator` run the binaries of
## tests/src/bin (the same programs), built with the features `make test` builds with: no second build.
agent: setup plugins
	$(LINTED_BUILD) $(CARGO) run -p p2pmon-tests --bin p2pmon-test-agent -- --config conf/p2p/agent.yml run --format text

## Everything CI checks: formatting, lints (host and wasm32), all tests. Every target (benches too) is built once
## under clippy (LINTED_BUILD above); the tests then run under cargo-nextest, a process per test
## (.config/nextest.toml: timeouts, heavy tests one at a time); nextest does not run doc tests, so `cargo test --doc`
## does. All of it builds with the same features as `make run` (see scripts/demo.sh): one build.
test: setup nextest test-deps web plugins lint-wasm
	$(CARGO) fmt --all -- --check
	$(LINTED_BUILD) $(CARGO) build --all-targets
	$(LINTED_BUILD) $(CARGO) nextest run --profile $(NEXTEST_PROFILE)
	$(LINTED_BUILD) $(CARGO) test --doc

nextest:
	@$(CARGO) nextest --version >/dev/null 2>&1 || { echo "==> installing cargo-nextest (cargo install cargo-nextest --locked): make test runs the tests with it"; $(CARGO) install cargo-nextest --locked; }

## What the tests talk to besides the machine's own services: a real SMTP server (Debian's python3-aiosmtpd),
## a real browser (Debian's chromium, driven by playwright-core from web/), PHP with PHPUnit for fluxcp/, promtool
## Alertmanager (Debian's prometheus packages) and VictoriaMetrics.
test-deps:
	@dpkg -s python3-aiosmtpd >/dev/null 2>&1 || { echo "==> installing python3-aiosmtpd (Debian package, for the email tests)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-aiosmtpd >/dev/null; }
	@command -v chromium >/dev/null || { echo "==> installing chromium (Debian package, for the dashboard's browser tests)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
	@command -v promtool >/dev/null || { echo "==> installing prometheus (Debian package: promtool checks the /metrics output)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; systemctl disable --now prometheus >/dev/null 2>&1 || true; }
	@command -v victoria-metrics >/dev/null || { echo "==> installing victoria-metrics (Debian package: a line-protocol store for the InfluxDB path)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics >/dev/null; systemctl disable --now victoria-metrics >/dev/null 2>&1 || true; }
	@command -v prometheus-alertmanager >/dev/null || { echo "==> installing prometheus-alertmanager (Debian package, for the forwarding test)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null; systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true; }
	@scripts/polyglot-setup.sh
	@{ command -v phpunit >/dev/null && php -m | grep -qx curl && php -m | grep -qx pdo_mysql; } || { echo "==> installing php-cli, php-curl, php-mysql and phpunit (Debian packages, for the FluxCP addon's tests)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q php-cli php-curl php-mysql phpunit >/dev/null; }

## The dashboard's scripts and styles (web/ -> web/dist, embedded in the aggregator); needs Node.js and npm.
web:
	@command -v npm >/dev/null || { echo "npm is required to build the dashboard (Debian: apt-get install nodejs npm)"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

setup:
	@command -v rustup >/dev/null || { echo "rustup is required (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

plugins: setup
	scripts/build-plugins.sh

## Formatting and clippy alone (check mode: no tests built), host and wasm32.
lint: setup lint-wasm
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## The wasm32 crates with the plugins' own profile: the proc-macros and build scripts `make plugins` compiled
## for it are reused, and only the crates themselves are checked.
lint-wasm: setup plugins
	CARGO_TARGET_DIR=target/wasm $(CARGO) clippy --profile plugin --target wasm32-unknown-unknown $(WASM_PACKAGES) -- -D warnings

## Criterion benchmarks: call overhead, instantiation (on-demand vs pooling).
bench: setup plugins
	$(CARGO) bench -p p2pmon-tests --bench plugin_runtime

## Ingest throughput from 1,000 simulated hosts, next to VictoriaMetrics in the same run.
bench-ingest: setup
	@command -v victoria-metrics >/dev/null || apt-get install -y -q victoria-metrics
	$(CARGO) bench -p p2pmon-tests --bench ingest

## Chunk codecs (Gorilla-style, pco; with and without the decimal pre-pass) on 100 hosts x 50 realistic series x 24 h at 5 s:
## bytes per point and encode/decode rates; then the same points through the embedded store (its own sealing and
## compaction) and into VictoriaMetrics in the same run, both measured on disk.
bench-store: setup
	@command -v victoria-metrics >/dev/null || apt-get install -y -q victoria-metrics
	$(CARGO) bench -p p2pmon-aggregator --bench store

## History reads (a 30-day chart of 1,000 series, one host's 24 h, raw points) from the store's chunks and rollups,
## p50/p99 and CPU, next to VictoriaMetrics answering the same queries over the same points in the same run.
bench-history: setup
	@command -v victoria-metrics >/dev/null || apt-get install -y -q victoria-metrics
	$(CARGO) bench -p p2pmon-aggregator --bench history

## Python and JavaScript plugins next to Rust: load, instantiate, collect call, memory per instance (criterion).
bench-polyglot: setup plugins
	scripts/polyglot-setup.sh
	$(CARGO) bench -p p2pmon-tests --bench polyglot

## Ingest cost of 20 alert rules (1,000 hosts, median of 3 runs each way); firing point to Discord request latency.
bench-alerting: setup
	$(CARGO) bench -p p2pmon-tests --bench alerting

## WebSocket fan-out latency with 1,000 and 10,000 clients; memory per idle client.
bench-fanout: setup
	ulimit -n 65536 2>/dev/null || true; $(CARGO) bench -p p2pmon-tests --bench fanout

## One collect of all four plugins against the simulator (1,000 players, 200 maps; needs MariaDB).
bench-collect: setup plugins
	$(CARGO) bench -p p2pmon-tests --bench collect

## Run the aggregator on conf/p2p/aggregator.yml (store under target/aggregator).
aggregator: setup web
	$(LINTED_BUILD) $(CARGO) run -p p2pmon-tests --bin p2pmon-test-aggregator -- --config conf/p2p/aggregator.yml serve

## Idle RSS and CPU of the agent next to prometheus-node-exporter: writing a file, then shipping through the spool.
footprint: setup plugins
	scripts/footprint.sh
	scripts/footprint.sh --aggregator

clean:
	$(CARGO) clean
