//! Tailing a 10 MB line and a 1 GB file costs the agent no more memory than
//! a small file: reads are 1 MiB per call at most and lines are cut at
//! 64 KiB. Its own test binary, so no other test's allocations are counted.

use p2pmon_tests::world::{World, round, value};

fn tail_plugin(world: &World, path: &std::path::Path) -> String {
    format!(
        r#"  - name: tailer
    file: p2pmon_fixture_hostile.wasm
    capabilities: [config, file]
    grants: {{ files: ["{dir}"] }}
    config: {{ mode: tail, path: "{path}" }}
"#,
        dir = world.log_dir().display(),
        path = path.display()
    )
}

#[tokio::test]
async fn a_10_mb_line_and_a_1_gb_file_keep_memory_bounded() -> anyhow::Result<()> {
    let world = World::new("file_memory").await?;
    let logs = world.log_dir();
    // A 10 MB line is cut to the host's 64 KiB line limit; the next line
    // arrives whole.
    let long = logs.join("long.log");
    std::fs::write(&long, format!("{}\nshort line\n", "x".repeat(10 << 20)))?;
    // A 1 GB file (sparse: no disk used) with no line end at all.
    let huge = logs.join("huge.log");
    std::fs::File::create(&huge)?.set_len(1 << 30)?;

    let mut long_agent = world.agent("", &tail_plugin(&world, &long)).await?;
    let mut huge_agent = world.agent("", &tail_plugin(&world, &huge)).await?;
    // Warm up: compile, instantiate, first reads.
    let first = round(&mut long_agent).await?;
    round(&mut huge_agent).await?;
    let before = rss_bytes();

    let (mut lines, mut cut, mut longest) = (0.0, 0.0, 0.0f64);
    let mut rounds = vec![first];
    for _ in 0..12 {
        rounds.push(round(&mut long_agent).await?);
    }
    for records in &rounds {
        lines += value(records, "lines", &[]).unwrap_or(0.0);
        cut += value(records, "cut_lines", &[]).unwrap_or(0.0);
        longest = longest.max(value(records, "bytes", &[]).unwrap_or(0.0));
    }
    assert_eq!((lines, cut, longest), (2.0, 1.0, 65536.0));
    // 40 MiB of the 1 GB file, 1 MiB per call.
    for _ in 0..40 {
        let records = round(&mut huge_agent).await?;
        assert_eq!(value(&records, "lines", &[]), Some(0.0));
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 16 << 20, "RSS grew by {} MiB", grown >> 20);
    long_agent.close().await;
    huge_agent.close().await;
    world.close().await
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}
