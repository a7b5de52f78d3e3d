//! The `p2pmon-agent` binary as a user runs it: exit codes, what goes to
//! stdout and stderr, and a graceful stop on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn agent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_p2pmon-agent"));
    command.env("NO_COLOR", "1");
    command
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build the shipped plugins into target/plugins and write an agent.yml in
/// `dir` that runs the system plugin every `interval_ms`, with `extra` YAML.
fn system_plugin_config(dir: &Path, extra: &str, interval_ms: u64) -> PathBuf {
    let root = workspace_root();
    let status = Command::new(root.join("scripts/build-plugins.sh"))
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/build-plugins.sh");
    assert!(status.success(), "scripts/build-plugins.sh failed");
    let config = dir.join("agent.yml");
    let yaml = format!(
        "plugins_dir: {}\n{extra}\nplugins:\n  - {{ name: system, file: p2pmon_plugin_system.wasm, capabilities: [system], interval_ms: {interval_ms} }}\n",
        root.join("target/plugins").display()
    );
    std::fs::write(&config, yaml).expect("write agent.yml");
    config
}

/// `p2pmon-agent --config CONFIG collect --once`, run to completion.
fn collect_once(config: &Path) -> std::process::Output {
    agent()
        .arg("--config")
        .arg(config)
        .args(["collect", "--once"])
        .output()
        .expect("run agent")
}

#[test]
fn malformed_config_exits_2_listing_every_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.yml");
    std::fs::write(&config, "limits: { memory_mb: -1 }\nbogus: true\n").expect("write");
    let output = collect_once(&config);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert!(
        stderr.contains("limits.memory_mb") && stderr.contains("bogus"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn inspecting_a_non_wasm_file_fails_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.wasm");
    std::fs::write(&file, "hello").expect("write");
    let output = agent()
        .arg("--config")
        .arg(dir.path().join("none.yml"))
        .args(["plugin", "inspect"])
        .arg(&file)
        .output()
        .expect("run agent");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()) && stderr.contains("not a WebAssembly file"),
        "{stderr}"
    );
}

#[test]
fn collect_once_prints_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = system_plugin_config(dir.path(), "", 5000);
    let output = collect_once(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["name"] == "cpu_usage" && r["type"] == "metric")
    );
    assert!(records.iter().all(|r| r["plugin"] == "system"));
}

#[test]
fn run_stops_on_sigterm_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("batches.jsonl");
    let extra = format!(
        "collection: {{ flush_interval_ms: 60000 }}\noutput: {{ kind: file, path: {} }}",
        out.display()
    );
    let config = system_plugin_config(dir.path(), &extra, 200);
    let mut child = agent()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .expect("start agent");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = child.wait().expect("agent exits");
    assert!(exit.success(), "agent exited with {exit}");
    // The flush interval is a minute: everything in the file was flushed at shutdown.
    let text = std::fs::read_to_string(&out).expect("batches written");
    let batches: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("batch"))
        .collect();
    assert_eq!(batches.len(), 1, "{text}");
    let records = batches[0]["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cpu_samples = records.iter().filter(|r| r["name"] == "cpu_usage").count();
    assert!(
        cpu_samples >= 3,
        "only {cpu_samples} cpu samples in {} records",
        records.len()
    );
    assert!(records.iter().any(|r| r["name"] == "agent_plugin_calls"));
}
