//! A plugin that grabs memory past its limit is stopped, and the agent's
//! resident memory grows by less than twice that limit. In a file of its own
//! so the process's peak RSS belongs to this test alone.

use std::sync::Arc;

use p2pmon_agent::runtime::{CallError, Runtime, RuntimeOptions, Sandbox};
use p2pmon_tests::build_wasm;

/// A field of /proc/self/status in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[tokio::test]
async fn memory_grab_is_stopped_and_rss_stays_bounded() -> anyhow::Result<()> {
    const LIMIT_MB: usize = 64;
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let plugin = runtime.load(&build_wasm("p2pmon-fixture-hostile")?)?;
    let sandbox = Sandbox {
        grants: ["config".parse()?].into(),
        config: Arc::new([("mode".to_string(), "grow".to_string())].into()),
        memory_limit_bytes: LIMIT_MB << 20,
        time_limit: std::time::Duration::from_secs(10),
        access: Default::default(),
    };
    let mut instance = runtime
        .instantiate(&plugin, Arc::from("grabber"), &sandbox, Arc::default())
        .await?;

    // Reset the peak-RSS mark so VmHWM measures this call only.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let before = status_bytes("VmRSS:");
    let result = instance.collect().await;
    let peak = status_bytes("VmHWM:");

    assert_eq!(
        result.err(),
        Some(CallError::OutOfMemory {
            limit_bytes: LIMIT_MB << 20
        })
    );
    assert!(instance.peak_memory_bytes() <= LIMIT_MB << 20);
    // The plugin really did fill most of its allowance.
    assert!(
        instance.peak_memory_bytes() >= (LIMIT_MB - 4) << 20,
        "peak {}",
        instance.peak_memory_bytes()
    );
    let growth = peak.saturating_sub(before);
    assert!(
        growth < (2 * LIMIT_MB as u64) << 20,
        "RSS grew by {} MiB for a {LIMIT_MB} MiB limit",
        growth >> 20
    );
    assert!(
        growth > (LIMIT_MB as u64 / 2) << 20,
        "RSS grew by only {} MiB: did the plugin touch its memory?",
        growth >> 20
    );
    Ok(())
}
