//! agent.yml: the shipped file loads, and a malformed file reports every bad
//! field at once, with the file's name.

use p2pmon_agent::config::AgentConfig;
use p2pmon_tests::{AgentDir, workspace_root};

#[test]
fn malformed_config_names_every_bad_field() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    let path = dir.write_config(
        r#"
plugins_dir: plugins
colection: { batch_size: 10 }
limits: { memory_mb: lots, time_ms: 0 }
restart: { initial_backoff_ms: 5000, max_backoff_ms: 10 }
output: { kind: carrier_pigeon }
plugins:
  - name: system
    file: missing.wasm
    capabilities: [system, telepathy]
    interval_ms: 10
  - name: System!
    file: ""
    memroy_mb: 3
  - name: system
    file: missing.wasm
    enabled: false
  - name: agent
    file: missing.wasm
    enabled: false
"#,
    )?;
    let errors = AgentConfig::load(&path).expect_err("config is malformed");
    let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "colection",
        "limits.memory_mb",
        "limits.time_ms",
        "restart.max_backoff_ms",
        "output.kind",
        "plugins[0].file",
        "plugins[0].capabilities[1]",
        "plugins[0].interval_ms",
        "plugins[1].memroy_mb",
        "plugins[1].name",
        "plugins[1].file",
        "plugins[2].name",
        "plugins[3].name",
    ] {
        assert!(
            fields.contains(&expected),
            "no error for {expected}; got {fields:?}"
        );
    }
    let text = errors.to_string();
    let file = path.display().to_string();
    assert!(
        text.lines()
            .skip(1)
            .all(|line| line.trim_start().starts_with(&file)),
        "{text}"
    );
    assert!(text.contains("unknown capability \"telepathy\""), "{text}");
    assert!(text.contains("\"agent\" is the agent's own name"), "{text}");
    assert!(text.contains("unknown field `colection`"), "{text}");
    Ok(())
}

#[test]
fn the_aggregator_link_is_checked_when_batches_go_there() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    let path = dir.write_config(
        r#"
host_id: "Bad Host!"
output: { kind: aggregator }
aggregator:
  url: http://monitor.example.net:5123
  ca_file: missing-ca.pem
  spool: { max_mb: 0 }
  backoff: { initial_ms: 5000, max_ms: 10 }
  request_timeout_ms: 1
  host_type: mainframe
"#,
    )?;
    let errors = AgentConfig::load(&path).expect_err("config is malformed");
    let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "host_id",
        "aggregator.host_type",
        "aggregator.url",
        "aggregator.ca_file",
        "aggregator.spool.max_mb",
        "aggregator.backoff.max_ms",
        "aggregator.request_timeout_ms",
    ] {
        assert!(
            fields.contains(&expected),
            "no error for {expected}; got {fields:?}"
        );
    }
    let text = errors.to_string();
    assert!(
        text.contains("plain HTTP to a non-loopback address"),
        "{text}"
    );

    // Plain HTTP is fine on loopback, and elsewhere only when asked for.
    for (url, insecure) in [
        ("http://127.0.0.1:5123", false),
        ("http://localhost:5123", false),
        ("http://[::1]:5123", false),
        ("https://monitor.example.net", false),
        ("http://10.0.0.5:5123", true),
    ] {
        let yaml = format!(
            "output: {{kind: aggregator}}\naggregator: {{url: '{url}', insecure_http: {insecure}}}\n"
        );
        dir.config(&yaml)
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    }
    for url in ["ftp://monitor", "not a url", ""] {
        let yaml = format!("output: {{kind: aggregator}}\naggregator: {{url: '{url}'}}\n");
        assert!(dir.config(&yaml).is_err(), "{url:?} accepted");
    }
    Ok(())
}

#[test]
fn syntax_error_is_reported_with_the_file() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    let path = dir.write_config("plugins: [ {name: a\n")?;
    let text = AgentConfig::load(&path).expect_err("bad YAML").to_string();
    assert!(
        text.contains("not valid YAML") && text.contains(&path.display().to_string()),
        "{text}"
    );
    Ok(())
}

#[test]
fn missing_file_is_reported() {
    let text = AgentConfig::load(std::path::Path::new("/nonexistent/agent.yml"))
        .expect_err("no file")
        .to_string();
    assert!(
        text.contains("/nonexistent/agent.yml") && text.contains("cannot read"),
        "{text}"
    );
}

#[test]
fn empty_config_gives_the_defaults() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    let config = dir.config("")?;
    assert_eq!(config.collection.batch_size, 1000);
    assert_eq!(config.collection.flush_interval_ms, 5000);
    assert!(config.plugins.is_empty());
    Ok(())
}

#[test]
fn shipped_configs_are_valid() -> anyhow::Result<()> {
    let root = workspace_root();
    // agent.yml names plugin files: make sure they exist first.
    let status = std::process::Command::new(root.join("scripts/build-plugins.sh")).status()?;
    assert!(status.success(), "scripts/build-plugins.sh failed");
    let config =
        AgentConfig::load(&root.join("conf/p2p/agent.yml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(config.enabled_plugins().any(|p| p.name == "system"));

    // alerts.yml and metrics.yml carry the design document's numbers.
    let alerts: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("conf/p2p/alerts.yml"))?)?;
    assert_eq!(alerts["alerts"]["cpu_usage"]["critical"].as_u64(), Some(90));
    assert_eq!(
        alerts["alerts"]["network_latency"]["duration"].as_u64(),
        Some(60)
    );
    let metrics: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("conf/p2p/metrics.yml"))?)?;
    assert_eq!(metrics["collection"]["interval"].as_u64(), Some(5000));
    assert_eq!(metrics["collection"]["retention_days"].as_u64(), Some(30));
    Ok(())
}

#[test]
fn shipped_aggregator_config_is_valid_and_keeps_the_default_ports() -> anyhow::Result<()> {
    use p2pmon_aggregator::config::{AggregatorConfig, MetricsConfig};
    let root = workspace_root();
    let config = AggregatorConfig::load(&root.join("conf/p2p/aggregator.yml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(config.api.listen.port(), 5121);
    assert_eq!(config.websocket.listen.port(), 5122);
    assert_eq!(config.websocket.path, "/monitor");
    let metrics =
        MetricsConfig::load(&config.metrics_path()).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(metrics.retention().raw_days, 30);
    assert_eq!(metrics.metrics.group_of("player_count"), Some("game"));
    // The shipped rules load, with the coordinator's.
    let rules = p2pmon_aggregator::alerting::AlertsConfig::load_or_empty(&config.alerts_path())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for rule in [
        "coordinator_unmonitored",
        "coordinator_map_not_served",
        "db_sync_lag_s",
    ] {
        assert!(rules.alerts.contains_key(rule), "{rule}");
    }
    for kind in [
        "map_migration_failed",
        "db_sync_failed",
        "db_checksum_mismatch",
    ] {
        assert!(rules.events.contains_key(kind), "{kind}");
    }
    Ok(())
}

#[test]
fn malformed_aggregator_config_names_every_bad_field() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("aggregator.yml");
    std::fs::write(
        &path,
        "ingest:\n  listen: 0.0.0.0:5123\n  max_series_per_host: 0\n  tls: {cert: missing.pem, key: missing.key}\napi:\n  listen: not-an-address\nwebsocket:\n  path: monitor\nunknown_section: 1\n",
    )?;
    let errors = p2pmon_aggregator::config::AggregatorConfig::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for field in [
        "ingest.max_series_per_host",
        "ingest.tls.cert",
        "ingest.tls.key",
        "api.listen",
        "websocket.path",
        "unknown_section",
    ] {
        assert!(errors.contains(field), "{field} missing from:\n{errors}");
    }
    Ok(())
}

/// packaging/install-agent.sh under another root: the binary, the plugins,
/// an agent.yml that loads and enrolls with the join token, the unit; bad
/// arguments are refused before anything is written.
#[test]
fn the_agent_installer_writes_a_working_install() -> anyhow::Result<()> {
    let root = workspace_root();
    let plugins = root.join("target/plugins");
    anyhow::ensure!(
        plugins.join("p2pmon_plugin_system.wasm").is_file(),
        "run `make plugins` first"
    );
    let target = tempfile::tempdir()?;
    let token = format!("p2pj_{}", "ab".repeat(32));
    let install = |extra: &[&str]| -> anyhow::Result<std::process::Output> {
        Ok(
            std::process::Command::new(root.join("packaging/install-agent.sh"))
                .args([
                    "--aggregator",
                    "http://127.0.0.1:5123",
                    "--host-type",
                    "vps",
                ])
                .arg("--binary")
                .arg(crate::bins::agent())
                .arg("--plugins")
                .arg(&plugins)
                .arg("--root")
                .arg(target.path())
                .args(extra)
                .output()?,
        )
    };
    let refused = install(&["--join-token", "not-a-token"])?;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("join token"));
    assert!(!target.path().join("etc").exists(), "nothing written");

    let out = install(&["--join-token", &token, "--host-id", "vps-7"])?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let etc = target.path().join("etc/p2pmon");
    let config = p2pmon_agent::config::AgentConfig::load(&etc.join("agent.yml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(config.host_id, "vps-7");
    assert_eq!(config.aggregator.join_token, token);
    assert_eq!(
        config.aggregator.host_type,
        p2pmon_common::wire::HostType::Vps
    );
    assert!(
        config
            .plugin_path(&config.plugins[0])
            .starts_with(target.path().join("etc/p2pmon"))
    );
    assert!(target.path().join("usr/local/bin/p2pmon-agent").is_file());
    assert!(
        target
            .path()
            .join("usr/local/lib/p2pmon/plugins/p2pmon_plugin_game.wasm")
            .is_file()
    );
    assert!(
        target
            .path()
            .join("etc/systemd/system/p2pmon-agent.service")
            .is_file()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(etc.join("agent.yml"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the join token is not readable by others");
    // A second run keeps the existing config.
    let again = install(&["--join-token", &token, "--host-id", "other"])?;
    assert!(again.status.success());
    assert!(std::fs::read_to_string(etc.join("agent.yml"))?.contains("host_id: vps-7"));
    Ok(())
}
