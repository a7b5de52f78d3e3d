//! A plugin author's path: the SDK guide's example plugin (tests/fixtures/
//! map-watch, which plugin-sdk/README.md shows verbatim) finds a small
//! process named map-server through the `system` capability, run by
//! `collect --once` with a bare `--config agent.yml` from the config's own
//! folder; `check-config` names every path problem; a plugin without
//! `export_plugin!` is refused with a message naming the macro.

use std::path::Path;
use std::process::{Child, Command};

use p2pmon_agent::runtime::{Runtime, RuntimeOptions};
use p2pmon_common::wire::Record;
use p2pmon_tests::{AgentDir, build_wasm, workspace_root};

const MAP_WATCH: &str = "p2pmon-fixture-map-watch";

/// A copy of `sleep` started as `dir/bin/map-server`: its name in the process
/// table is `map-server` and it holds well under a MiB of its own.
struct MapServer(Child);

impl MapServer {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        let program = bin.join("map-server");
        std::fs::copy("/bin/sleep", &program)?;
        Ok(Self(Command::new(&program).arg("60").spawn()?))
    }
}

impl Drop for MapServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Put the example plugin where the guide's `cargo build` leaves it.
fn add_built_plugin(dir: &Path) -> anyhow::Result<()> {
    let release = dir.join("target/wasm32-unknown-unknown/release");
    std::fs::create_dir_all(&release)?;
    std::fs::copy(build_wasm(MAP_WATCH)?, release.join("map_watch.wasm"))?;
    Ok(())
}

/// Run the agent in `dir` with `args`: (exit code, stdout, stderr).
fn agent_in(dir: &Path, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let output = Command::new(crate::bins::agent())
        .current_dir(dir)
        .args(args)
        .env("P2PMON_LOG", "info,p2pmon_agent=debug")
        .env_remove("P2PMON_JOIN_TOKEN")
        .output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// The guide's minimal agent.yml for authors, with relative paths into the
/// plugin crate's own build output.
const AUTHOR_CONFIG: &str = r#"
plugins_dir: target/wasm32-unknown-unknown/release
cache_dir: target/plugin-cache
plugins:
  - name: map-watch
    file: map_watch.wasm
    capabilities: [system, config, clock, log]
    config: { process: map-server }
"#;

#[test]
fn collect_once_with_a_bare_config_name_finds_a_small_map_server() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    add_built_plugin(dir.path())?;
    dir.write_config(AUTHOR_CONFIG)?;
    let server = MapServer::start(dir.path())?;

    let (code, _, stderr) = agent_in(dir.path(), &["--config", "agent.yml", "check-config"])?;
    assert_eq!(code, 0, "check-config: {stderr}");

    let (code, stdout, stderr) =
        agent_in(dir.path(), &["--config", "agent.yml", "collect", "--once"])?;
    assert_eq!(code, 0, "collect --once failed: {stderr}");
    assert!(
        dir.path().join("target/plugin-cache").is_dir(),
        "the relative cache_dir resolves in the config's folder"
    );
    let records: Vec<Record> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let value = |name: &str| {
        records.iter().find_map(|r| match r {
            Record::Metric(m) if m.name == name => Some((m.value, m.unit.clone())),
            _ => None,
        })
    };
    let (count, unit) = value("map_server_processes").expect("a process count");
    assert_eq!(unit, "count");
    // Other tests may run a map-server of their own meanwhile: at least ours.
    assert!(count >= 1.0, "map-server not found: {stdout}");
    let (memory, unit) = value("map_server_memory").expect("memory");
    assert_eq!(unit, "bytes");
    // sleep is small (a few MiB resident at most): never in a top-5 by memory.
    assert!(
        memory > 0.0 && memory < count * f64::from(16 << 20),
        "{memory} bytes for {count}"
    );
    let (uptime, _) = value("map_server_uptime").expect("uptime");
    assert!((0.0..120.0).contains(&uptime), "uptime {uptime}");
    assert!(
        !records.iter().any(|r| matches!(r, Record::Event(_))),
        "no down event while it runs: {stdout}"
    );
    // The plugin's own debug line shows with the guide's log filter.
    let pid = server.0.id().to_string();
    assert!(
        stderr.contains("map-server: ") && stderr.contains(&pid),
        "plugin log line missing: {stderr}"
    );
    Ok(())
}

#[test]
fn check_config_names_every_path_problem() -> anyhow::Result<()> {
    let dir = AgentDir::new()?;
    std::fs::write(dir.path().join("a-file"), "not a folder")?;
    // What `run` cannot start with: refused on loading, all at once.
    dir.write_config(
        r#"
plugins_dir: no-plugins-here
cache_dir: a-file/cache
output: { kind: file, path: a-file/out.jsonl }
plugins:
  - name: map-watch
    file: map_watch.wasm
    capabilities: [system]
"#,
    )?;
    let (code, stdout, stderr) = agent_in(dir.path(), &["--config", "agent.yml", "check-config"])?;
    assert_eq!(code, 2, "{stdout}{stderr}");
    for field in ["plugins[0].file:", "cache_dir:", "output.path:"] {
        assert!(stderr.contains(field), "{field} not reported: {stderr}");
    }
    assert!(stderr.contains("a-file is not a directory"), "{stderr}");
    let (code, _, stderr) = agent_in(dir.path(), &["--config", "agent.yml", "collect", "--once"])?;
    assert_eq!(code, 2, "collect refuses the same config: {stderr}");
    assert!(stderr.contains("cache_dir:"), "{stderr}");

    // What `run` starts with but will trip on: check-config reports it.
    dir.add_plugin(&build_wasm(MAP_WATCH)?, "map_watch.wasm")?;
    std::fs::write(dir.path().join("a-file"), "still not a folder")?;
    dir.write_config(
        r#"
plugins_dir: plugins
cache_dir: plugin-cache
output: { kind: aggregator }
aggregator:
  url: http://127.0.0.1:9
  spool: { dir: a-file/spool }
  credential_file: credential
plugins:
  - name: map-watch
    file: map_watch.wasm
    capabilities: [system, file]
    grants: { files: [/nonexistent/p2pmon/map.log] }
"#,
    )?;
    let (code, stdout, stderr) = agent_in(dir.path(), &["--config", "agent.yml", "check-config"])?;
    assert_eq!(code, 2, "{stdout}{stderr}");
    for field in ["aggregator.spool.dir:", "plugins[0].grants.files[0]:"] {
        assert!(stderr.contains(field), "{field} not reported: {stderr}");
    }
    assert!(!stderr.contains("credential_file"), "{stderr}");

    // The guide's config, its paths in order, is valid.
    add_built_plugin(dir.path())?;
    dir.write_config(AUTHOR_CONFIG)?;
    let (code, stdout, stderr) = agent_in(dir.path(), &["--config", "agent.yml", "check-config"])?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("agent.yml is valid"), "{stdout}");
    Ok(())
}

#[test]
fn a_plugin_without_export_plugin_is_refused_naming_the_macro() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("forgot.wasm");
    std::fs::write(&path, wat::parse_str("(component)")?)?;
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    let error = runtime.load(&path).err().expect("refused").to_string();
    assert!(
        error.contains("exports: nothing") && error.contains("export_plugin!(YourPlugin);"),
        "{error}"
    );
    Ok(())
}

#[test]
fn the_guide_shows_the_example_plugin_and_its_test_as_built_here() -> anyhow::Result<()> {
    let root = workspace_root();
    let guide = std::fs::read_to_string(root.join("plugin-sdk/README.md"))?;
    let source = std::fs::read_to_string(root.join("tests/fixtures/map-watch/src/lib.rs"))?;
    let (plugin, test) = source
        .split_once("\n#[cfg(test)]\n")
        .expect("the fixture has a test module");
    assert!(
        guide.contains(plugin.trim()),
        "plugin-sdk/README.md no longer shows tests/fixtures/map-watch/src/lib.rs"
    );
    assert!(
        guide.contains(&format!("#[cfg(test)]\n{}", test.trim())),
        "plugin-sdk/README.md no longer shows the fixture's test module"
    );
    assert!(
        guide.contains(AUTHOR_CONFIG.trim()),
        "the guide's agent.yml"
    );
    Ok(())
}
