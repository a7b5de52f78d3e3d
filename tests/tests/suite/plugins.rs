//! Every plugin in plugins/ builds from source, loads and declares its
//! metrics; those that need no scoped grant collect real values on this
//! machine here (the game, network and anti-cheat plugins collect against a
//! simulated host in game_plugins.rs).

use std::collections::BTreeSet;
use std::sync::Arc;

use p2pmon_agent::runtime::{Runtime, RuntimeOptions, Sandbox};
use p2pmon_agent::supervisor::collect_once;
use p2pmon_agent::validate::Descriptors;
use p2pmon_aggregator::config::MetricsConfig;
use p2pmon_common::wire::Record;
use p2pmon_tests::{build_wasm, plugin_packages, workspace_root};

#[tokio::test]
async fn every_plugin_loads_and_collects_declared_metrics() -> anyhow::Result<()> {
    let packages = plugin_packages()?;
    assert!(!packages.is_empty(), "no plugins found under plugins/");
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let shipped = MetricsConfig::load(&workspace_root().join("conf/p2p/metrics.yml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (package, _dir) in packages {
        let wasm = build_wasm(&package)?;
        let plugin = runtime.load(&wasm)?;
        let info = runtime.inspect(&plugin).await?;
        assert!(!info.name.is_empty(), "{package}: empty name");
        assert!(!info.metrics.is_empty(), "{package}: declares no metrics");
        // The shipped metrics.yml collects everything the shipped plugins
        // declare: a metric left out of its group's include is dropped.
        for metric in &info.metrics {
            assert!(
                shipped.metrics.allows(&info.name, &metric.name),
                "conf/p2p/metrics.yml does not collect {} of plugin {}",
                metric.name,
                info.name
            );
        }

        let scoped = ["sql", "file", "net", "http"];
        if info
            .capabilities
            .iter()
            .any(|c| scoped.contains(&c.as_str()))
        {
            continue;
        }
        // Grant what the plugin asks for; these plugins need no config.
        let sandbox = Sandbox {
            grants: info
                .capabilities
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            ..Sandbox::inspect()
        };
        let stats = Arc::default();
        let mut instance = runtime
            .instantiate(
                &plugin,
                Arc::from(package.as_str()),
                &sandbox,
                Arc::clone(&stats),
            )
            .await?;
        let records = collect_once(
            &package,
            &mut instance,
            &Descriptors::from_info(&info),
            &stats,
        )
        .await?;
        assert!(!records.is_empty(), "{package}: collected nothing");

        let declared: BTreeSet<&str> = info.metrics.iter().map(|m| m.name.as_str()).collect();
        for record in &records {
            if let Record::Metric(metric) = record {
                assert!(
                    declared.contains(metric.name.as_str()),
                    "{package}: produced undeclared metric {}",
                    metric.name
                );
                assert!(
                    !metric.unit.is_empty(),
                    "{package}: {} has no unit",
                    metric.name
                );
                assert!(metric.value.is_finite());
            }
        }
    }
    Ok(())
}

/// Values of the named metric in `records`.
fn values(records: &[Record], name: &str) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Metric(m) if m.name == name => Some(m.value),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn system_plugin_reports_this_machine() -> anyhow::Result<()> {
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let plugin = runtime.load(&build_wasm("p2pmon-plugin-system")?)?;
    let info = runtime.inspect(&plugin).await?;
    let sandbox = Sandbox {
        grants: ["system".parse()?].into(),
        ..Sandbox::inspect()
    };
    let stats = Arc::default();
    let mut instance = runtime
        .instantiate(&plugin, Arc::from("system"), &sandbox, Arc::clone(&stats))
        .await?;
    // Let the cpu and network rate windows fill.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let records = collect_once(
        "system",
        &mut instance,
        &Descriptors::from_info(&info),
        &stats,
    )
    .await?;

    let cpu = values(&records, "cpu_usage");
    assert_eq!(cpu.len(), 1);
    assert!((0.0..=100.0).contains(&cpu[0]), "cpu_usage {}", cpu[0]);
    let memory = values(&records, "memory_usage");
    assert!(
        memory[0] > 0.0 && memory[0] <= 100.0,
        "memory_usage {}",
        memory[0]
    );
    let disks = values(&records, "disk_usage");
    assert!(!disks.is_empty(), "no disk_usage");
    assert!(disks.iter().all(|d| (0.0..=100.0).contains(d)));
    assert!(values(&records, "uptime")[0] > 0.0);
    assert_eq!(values(&records, "load_average").len(), 3);
    assert!(values(&records, "process_count")[0] >= 1.0);
    // rx and tx for every interface, loopback included.
    let network = values(&records, "network_io");
    assert!(
        network.len() >= 2 && network.len().is_multiple_of(2),
        "network_io {network:?}"
    );
    assert!(network.iter().all(|v| *v >= 0.0));

    let units: BTreeSet<(String, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Metric(m) => Some((m.name.clone(), m.unit.clone())),
            _ => None,
        })
        .collect();
    assert!(units.contains(&("cpu_usage".to_string(), "percent".to_string())));
    assert!(units.contains(&("network_io".to_string(), "bytes_per_second".to_string())));
    assert!(units.contains(&("uptime".to_string(), "seconds".to_string())));
    Ok(())
}

#[tokio::test]
async fn inspect_reports_metadata_capabilities_and_contract() -> anyhow::Result<()> {
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let wasm = build_wasm("p2pmon-plugin-system")?;
    let plugin = runtime.load(&wasm)?;
    let info = runtime.inspect(&plugin).await?;
    let report = p2pmon_agent::cli::inspect_report(&wasm, &plugin, &info);
    assert_eq!(report["name"], "system");
    assert_eq!(
        report["contract_version"],
        p2pmon_plugin_sdk::CONTRACT_VERSION
    );
    assert_eq!(
        report["capabilities"],
        serde_json::json!(["system", "clock"])
    );
    assert_eq!(report["default_interval_ms"], 5000);
    let cpu = report["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "cpu_usage"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(cpu["unit"], "percent");
    assert_eq!(cpu["kind"], "gauge");
    assert_eq!(report["sha256"].as_str().map(str::len), Some(64));
    Ok(())
}
