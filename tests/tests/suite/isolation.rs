//! A misbehaving plugin is stopped, counted and restarted (or quarantined)
//! while the agent and the other plugins carry on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pmon_agent::runtime::{CallError, Runtime, RuntimeOptions, Sandbox};
use p2pmon_agent::stats::PluginStats;
use p2pmon_tests::{
    AgentDir, build_wasm, call_times, run_agent_for, self_metric, with_captured_logs,
};

const HOSTILE: &str = "p2pmon-fixture-hostile";

fn sandbox(mode: &str, grants: &[&str], memory_mb: usize, time_ms: u64) -> Sandbox {
    Sandbox {
        grants: grants
            .iter()
            .map(|g| g.parse().expect("capability"))
            .collect(),
        config: Arc::new([("mode".to_string(), mode.to_string())].into()),
        memory_limit_bytes: memory_mb << 20,
        time_limit: Duration::from_millis(time_ms),
        access: Default::default(),
    }
}

/// One collect call of the hostile fixture in `mode`.
async fn call_hostile(
    mode: &str,
    grants: &[&str],
    memory_mb: usize,
    time_ms: u64,
) -> (Result<(), CallError>, Arc<PluginStats>, Duration) {
    let runtime = Runtime::new(&RuntimeOptions::default()).expect("runtime");
    let plugin = runtime
        .load(&build_wasm(HOSTILE).expect("build hostile"))
        .expect("load");
    let stats = Arc::new(PluginStats::default());
    let mut instance = runtime
        .instantiate(
            &plugin,
            Arc::from(mode),
            &sandbox(mode, grants, memory_mb, time_ms),
            stats.clone(),
        )
        .await
        .expect("instantiate");
    let started = Instant::now();
    let result = instance.collect().await.map(|_| ());
    (result, stats, started.elapsed())
}

#[tokio::test]
async fn looping_plugin_is_stopped_at_its_time_limit() {
    let (result, _, elapsed) = call_hostile("loop", &["config"], 16, 300).await;
    assert_eq!(result, Err(CallError::Timeout { limit_ms: 300 }));
    assert!(
        elapsed >= Duration::from_millis(300),
        "stopped early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(400),
        "stopped {elapsed:?} after the call began, limit 300 ms"
    );
}

#[tokio::test]
async fn panicking_plugin_reports_its_message() {
    let (result, _, _) = call_hostile("panic", &["config"], 16, 1000).await;
    match result {
        Err(CallError::Panic(message)) => {
            assert!(message.contains("panics on purpose"), "{message}")
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[tokio::test]
async fn trapping_plugin_is_a_trap() {
    let (result, _, _) = call_hostile("trap", &["config"], 16, 1000).await;
    assert!(
        matches!(result, Err(CallError::Trap(ref m)) if m.contains("unreachable")),
        "{result:?}"
    );
}

#[tokio::test]
async fn memory_grab_is_stopped_at_the_limit() {
    let (result, _, _) = call_hostile("grow", &["config"], 24, 5000).await;
    assert_eq!(
        result,
        Err(CallError::OutOfMemory {
            limit_bytes: 24 << 20
        })
    );
}

#[test]
fn ungranted_capability_is_denied_and_the_log_names_the_grant() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let ((result, stats, _), logs) =
        with_captured_logs(|| runtime.block_on(call_hostile("deny", &["config"], 16, 1000)));
    match result {
        Err(CallError::Failed(message)) => {
            assert!(message.contains("`system` not granted"), "{message}")
        }
        other => panic!("expected the plugin to report the denial, got {other:?}"),
    }
    assert_eq!(stats.denied.get(), 1);
    assert!(
        logs.contains("capability=\"system\"") || logs.contains("capability=system"),
        "{logs}"
    );
    assert!(logs.contains("without the `system` capability"), "{logs}");
}

#[tokio::test]
async fn oversized_argument_to_a_host_function_is_rejected() {
    let (result, _, _) = call_hostile("huge-key", &["config"], 16, 1000).await;
    match result {
        Err(CallError::Failed(message)) => {
            assert!(
                message.contains("invalid argument") && message.contains("limit"),
                "{message}"
            )
        }
        other => panic!("expected the host to reject the argument, got {other:?}"),
    }
}

#[tokio::test]
async fn flood_of_invalid_output_is_dropped_and_counted() -> anyhow::Result<()> {
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let plugin = runtime.load(&build_wasm(HOSTILE)?)?;
    let stats = Arc::new(PluginStats::default());
    let mut instance = runtime
        .instantiate(
            &plugin,
            Arc::from("flood"),
            &sandbox("flood", &["config"], 64, 5000),
            stats.clone(),
        )
        .await?;
    let records =
        p2pmon_agent::supervisor::collect_once("flood", &mut instance, &Default::default(), &stats)
            .await?;
    assert!(records.is_empty(), "kept {} records", records.len());
    assert!(stats.rejected.get() > 100_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_plugin_does_not_delay_another_plugin() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 200, jitter_percent: 0 }
restart: { initial_backoff_ms: 50, max_backoff_ms: 50, quarantine_after: 1000 }
plugins:
  - { name: looper, file: hostile.wasm, capabilities: [config], interval_ms: 100, time_ms: 400, config: { mode: loop } }
  - { name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: { mode: ok } }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(2500)).await?;
    let times = call_times(&batches, "steady");
    // 2.25 s of collecting at 100 ms: about 22 calls.
    assert!(times.len() >= 18, "steady plugin ran {} times", times.len());
    let worst_gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(
        worst_gap <= 250,
        "steady plugin waited {worst_gap} ms between calls"
    );
    let timeouts = self_metric(&batches, "agent_plugin_timeouts", "looper").unwrap_or(0.0);
    assert!(timeouts >= 3.0, "looper timed out {timeouts} times");
    Ok(())
}

#[tokio::test]
async fn trapping_plugin_is_restarted_with_growing_backoff() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 200, jitter_percent: 0 }
restart: { initial_backoff_ms: 100, max_backoff_ms: 5000, quarantine_after: 100 }
plugins:
  - name: crashy
    file: hostile.wasm
    capabilities: [config]
    interval_ms: 50
    config: { mode: trap-after, ok_calls: 1 }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(2200)).await?;
    // Each instance answers once, then traps; the next instance comes after
    // a backoff of 100, 200, 400, 800 ms.
    let times = call_times(&batches, "crashy");
    assert!(
        times.len() >= 4,
        "only {} successful calls: {times:?}",
        times.len()
    );
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= 140, "first restart after {} ms", gaps[0]);
    assert!(
        gaps[1] >= gaps[0] + 80 && gaps[2] >= gaps[1] + 150,
        "backoff does not grow: {gaps:?}"
    );
    let traps = self_metric(&batches, "agent_plugin_traps", "crashy").unwrap_or(0.0);
    let restarts = self_metric(&batches, "agent_plugin_restarts", "crashy").unwrap_or(0.0);
    assert!(
        traps >= 4.0 && restarts >= 3.0,
        "traps {traps}, restarts {restarts}"
    );
    assert_eq!(
        self_metric(&batches, "agent_plugin_quarantined", "crashy"),
        Some(0.0)
    );
    Ok(())
}

#[tokio::test]
async fn plugin_crashing_repeatedly_is_quarantined() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 200, jitter_percent: 0 }
restart: { initial_backoff_ms: 10, max_backoff_ms: 20, quarantine_after: 3 }
plugins:
  - { name: doomed, file: hostile.wasm, capabilities: [config], interval_ms: 50, config: { mode: panic } }
  - { name: fine, file: hostile.wasm, capabilities: [config], interval_ms: 50 }
"#,
    )?;
    let batches = run_agent_for(config, Duration::from_millis(1200)).await?;
    assert_eq!(
        self_metric(&batches, "agent_plugin_quarantined", "doomed"),
        Some(1.0)
    );
    assert_eq!(
        self_metric(&batches, "agent_plugin_panics", "doomed"),
        Some(3.0)
    );
    assert_eq!(
        self_metric(&batches, "agent_plugin_calls", "doomed"),
        Some(3.0)
    );
    assert_eq!(
        self_metric(&batches, "agent_plugin_quarantined", "fine"),
        Some(0.0)
    );
    assert!(call_times(&batches, "fine").len() >= 15);
    Ok(())
}

#[tokio::test]
async fn shutdown_waits_for_the_call_in_progress_and_keeps_its_output() -> anyhow::Result<()> {
    let dir = AgentDir::with_hostile()?;
    let config = dir.config(
        r#"
plugins_dir: plugins
collection: { flush_interval_ms: 60000, jitter_percent: 0 }
plugins:
  - name: slow
    file: hostile.wasm
    capabilities: [config, clock]
    interval_ms: 10000
    config: { mode: slow, busy_ms: 400 }
"#,
    )?;
    // The first call starts 250 ms in and runs 400 ms: stop in the middle of it.
    let batches = run_agent_for(config, Duration::from_millis(450)).await?;
    assert_eq!(
        call_times(&batches, "slow").len(),
        1,
        "the call in progress was lost"
    );
    assert_eq!(
        self_metric(&batches, "agent_plugin_calls", "slow"),
        Some(1.0)
    );
    Ok(())
}
