//! Hostile plugins and hostile files on the host: what a plugin can make the
//! agent touch must never hold the agent up. Each test runs the hostile
//! fixture next to a steady plugin and checks that the steady one stays on
//! schedule and the agent stops when told.

use std::time::{Duration, Instant};

use p2pmon_tests::{AgentDir, call_times, run_agent_for};

/// A FIFO (no writer), a device and a hard link to a file outside the
/// grant, all inside a granted log directory: each read is refused at once,
/// the steady plugin keeps its schedule, and the agent stops when told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifos_devices_and_hard_links_in_a_granted_directory() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs)?;
    let fifo = logs.join("map-server.log");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()?
            .success()
    );
    let secret = dir.path().join("agent-credential");
    std::fs::write(&secret, "secret\n")?;
    std::fs::hard_link(&secret, logs.join("char-server.log"))?;
    std::os::unix::fs::symlink("/dev/zero", logs.join("zero.log"))?;
    let plugin = |name: &str, mode: &str, file: &str| {
        format!(
            "  - {{ name: {name}, file: hostile.wasm, capabilities: [config, file], grants: {{ files: [\"{}\", /dev] }}, interval_ms: 100, time_ms: 1000, config: {{ mode: {mode}, path: \"{}\" }} }}\n",
            logs.display(),
            logs.join(file).display()
        )
    };
    let config = dir.config(&format!(
        r#"
plugins_dir: plugins
collection: {{ flush_interval_ms: 200, jitter_percent: 0 }}
restart: {{ initial_backoff_ms: 50, max_backoff_ms: 50, quarantine_after: 1000 }}
plugins:
{}{}{}{}{}  - {{ name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: {{ mode: ok }} }}
"#,
        plugin("fifo_read", "read", "map-server.log"),
        plugin("fifo_tail", "tail", "map-server.log"),
        plugin("link_read", "read", "char-server.log"),
        plugin("zero_tail", "tail", "zero.log"),
        plugin("zero_read", "read", "zero.log"),
    ))?;
    let started = Instant::now();
    let batches = tokio::time::timeout(
        Duration::from_secs(10),
        run_agent_for(config, Duration::from_millis(2500)),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the agent did not stop: a file call blocked it"))??;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ran {:?}",
        started.elapsed()
    );
    let steady = call_times(&batches, "steady");
    assert!(
        steady.len() >= 18,
        "steady plugin ran {} times",
        steady.len()
    );
    let worst_gap = steady.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(worst_gap <= 250, "steady plugin waited {worst_gap} ms");
    // None of the hostile reads returned anything.
    for name in [
        "fifo_read",
        "fifo_tail",
        "link_read",
        "zero_tail",
        "zero_read",
    ] {
        assert!(
            call_times(&batches, name).is_empty(),
            "{name} read something"
        );
    }
    Ok(())
}

/// A plugin logging 15,000 lines of 8,000 bytes per call, and one making
/// 5,000 refused reads per call: the log gets at most the per-call budget
/// of the first and one warning for the second; both are counted; a steady
/// plugin keeps its schedule.
#[test]
fn log_and_denial_floods_are_budgeted_and_counted() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let granted = dir.path().join("granted");
    std::fs::create_dir(&granted)?;
    let config = dir.config(&format!(
        r#"
plugins_dir: plugins
collection: {{ flush_interval_ms: 200, jitter_percent: 0 }}
plugins:
  - {{ name: logger, file: hostile.wasm, capabilities: [config, log], interval_ms: 500, time_ms: 3000, config: {{ mode: log-flood, lines: 15000, bytes: 8000 }} }}
  - {{ name: denier, file: hostile.wasm, capabilities: [config, file], grants: {{ files: ["{}"] }}, interval_ms: 500, time_ms: 3000, config: {{ mode: deny-loop, count: 5000, path: /etc/passwd }} }}
  - {{ name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: {{ mode: ok }} }}
"#,
        granted.display()
    ))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (batches, logs) = p2pmon_tests::with_captured_logs(|| {
        runtime.block_on(run_agent_for(config, Duration::from_millis(2600)))
    });
    let batches = batches?;
    let calls = |plugin: &str| call_times(&batches, plugin).len() as u64;
    let (logger_calls, denier_calls) = (calls("logger"), calls("denier"));
    assert!(
        logger_calls >= 3 && denier_calls >= 3,
        "{logger_calls} {denier_calls}"
    );
    let logged_lines = logs.lines().filter(|l| l.contains("xxxxxxxx")).count() as u64;
    let logged_bytes = logs.len() as u64;
    // At most 100 lines (or 64 KiB) per call.
    assert!(
        logged_lines <= (logger_calls + 1) * 100,
        "{logged_lines} plugin lines logged in {logger_calls} calls"
    );
    let dropped =
        p2pmon_tests::self_metric(&batches, "agent_plugin_log_dropped", "logger").unwrap_or(0.0);
    assert!(
        dropped >= 14_000.0 * logger_calls as f64 - 1.0,
        "dropped {dropped}"
    );
    let warnings = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("Plugin refused"))
        .count();
    assert_eq!(warnings, 1, "refusals logged at warn");
    let denied =
        p2pmon_tests::self_metric(&batches, "agent_plugin_denied_calls", "denier").unwrap_or(0.0);
    assert!(
        denied >= 5000.0 * denier_calls as f64 - 1.0,
        "denied {denied}"
    );
    let steady = call_times(&batches, "steady");
    assert!(
        steady.len() >= 18,
        "steady plugin ran {} times",
        steady.len()
    );
    eprintln!(
        "log flood: {logger_calls} calls of 15,000 x 8,000 B: {logged_lines} lines logged, {dropped} dropped, {logged_bytes} bytes of log in all; denial flood: {denier_calls} calls of 5,000: {warnings} warning, {denied} counted"
    );
    Ok(())
}

/// A plugin busy 300 ms per call at a 100 ms interval (three times what it
/// may take): throttled to its share (25 % here) from the first window,
/// quarantined after `quarantine_after` windows over it, while a steady
/// plugin keeps its schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_over_its_cpu_share_is_throttled_then_quarantined() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 200, jitter_percent: 0 }
restart: { quarantine_after: 3, quarantine_ms: 60000, cpu_percent: 25, cpu_window_ms: 1000 }
plugins:
  - { name: spinner, file: hostile.wasm, capabilities: [config, clock], interval_ms: 100, time_ms: 1000, config: { mode: slow, busy_ms: 300 } }
  - { name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: { mode: ok } }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(5000)).await?;
    let spins = call_times(&batches, "spinner");
    // Unbudgeted it would run back to back: some 15 calls in 4.75 s. Here
    // one call per 1 s window (300 ms > 250 ms), three windows, then
    // quarantined for a minute.
    assert!(
        (2..=5).contains(&spins.len()),
        "spinner ran {} times",
        spins.len()
    );
    let throttled =
        p2pmon_tests::self_metric(&batches, "agent_plugin_throttled", "spinner").unwrap_or(0.0);
    assert!(throttled >= 3.0, "throttled {throttled}");
    let quarantined =
        p2pmon_tests::self_metric(&batches, "agent_plugin_quarantined", "spinner").unwrap_or(0.0);
    assert_eq!(quarantined, 1.0);
    let steady = call_times(&batches, "steady");
    assert!(
        steady.len() >= 40,
        "steady plugin ran {} times",
        steady.len()
    );
    eprintln!(
        "cpu: spinner ran {} calls of 300 ms in 5 s (throttled {throttled} windows, then quarantined); steady ran {}",
        spins.len(),
        steady.len()
    );
    Ok(())
}
