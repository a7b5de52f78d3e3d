//! The README's first command: `scripts/demo.sh` (what `make run` starts)
//! in its check mode, on free ports: every simulated host is online within
//! seconds and the staged anti-cheat incident raises an alert within a
//! minute (with MariaDB; the machine's own runs here).

use std::process::Command;

use p2pmon_tests::aggregator::free_ports;
use p2pmon_tests::workspace_root;

#[test]
fn the_demo_shows_live_hosts_and_an_alert_within_a_minute() -> anyhow::Result<()> {
    let root = workspace_root();
    anyhow::ensure!(
        root.join("target/plugins/p2pmon_plugin_game.wasm")
            .is_file(),
        "the plugins are not built: run `make plugins`"
    );
    let dir = tempfile::tempdir()?;
    let [api, ws, ingest] = free_ports()?;
    let output = Command::new(root.join("scripts/demo.sh"))
        // The test build's binaries: `cargo build -p ...` alone would
        // resolve features differently and compile wasmtime a second time.
        .env("DEMO_AGGREGATOR_BIN", crate::bins::aggregator())
        .env("DEMO_AGENT_BIN", crate::bins::agent())
        .env("DEMO_HOSTSIM_BIN", crate::bins::hostsim())
        .env("DEMO_CHECK", "1")
        .env("DEMO_DIR", dir.path())
        .env("DEMO_DB_PREFIX", "p2pmon_demotest")
        .env("DEMO_INCIDENT_AFTER_S", "5")
        .env("DEMO_API_PORT", api.to_string())
        .env("DEMO_WS_PORT", ws.to_string())
        .env("DEMO_INGEST_PORT", ingest.to_string())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 of 3 hosts online"), "{stdout}");
    assert!(stdout.contains("alert(s) after"), "{stdout}");
    assert!(
        stdout.contains("/p2p/monitoring"),
        "the dashboard's address: {stdout}"
    );
    Ok(())
}
