//! Plugins in Python and JavaScript: the examples and the hostile fixtures
//! are built from source with the registry toolchains (componentize-py,
//! componentize-js, installed by scripts/polyglot-setup.sh) and loaded in
//! the agent under WASI with nothing reachable; `plugin test` answers from
//! fixtures; `plugin new` makes projects that build and pass it.
//!
//! Builds are cached by source hash (scripts/polyglot-build.sh) and compiled
//! code by wasmtime's cache under target/polyglot, so a suite run pays for
//! each once.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pmon_agent::runtime::{Runtime, RuntimeOptions};
use p2pmon_common::wire::Record;
use p2pmon_tests::fake_http::{FakeHttp, Reply};
use p2pmon_tests::{AgentDir, call_times, records, run_agent_for, self_metric, workspace_root};

use crate::bins;

/// Build a Python or JavaScript plugin from `dir` (relative to the
/// workspace), cached by the hash of its sources.
fn build(lang: &str, dir: &str) -> Result<PathBuf> {
    let root = workspace_root();
    let output = Command::new(root.join("scripts/polyglot-build.sh"))
        .arg(lang)
        .arg(root.join(dir))
        .output()
        .context("running scripts/polyglot-build.sh")?;
    if !output.status.success() {
        bail!(
            "building {dir} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(PathBuf::from(
        String::from_utf8(output.stdout)?.trim().to_string(),
    ))
}

/// wasmtime's compiled-code cache shared by these tests: an 18 MB Python
/// component compiles once, not once per test.
fn compile_cache() -> String {
    workspace_root()
        .join("target/polyglot/compiled")
        .display()
        .to_string()
}

/// Compile `files` into the shared cache first, so a test's timings do not
/// include a cold compile (tens of seconds for CPython on two cores).
fn warm(files: &[&Path]) -> Result<()> {
    let runtime = Runtime::new(&RuntimeOptions {
        cache_dir: Some(PathBuf::from(compile_cache())),
        pooling: false,
    })?;
    for file in files {
        runtime.load(file)?;
    }
    Ok(())
}

/// Values of metric `name` from `plugin` whose tag `key` is `value`.
fn values(
    batches: &[p2pmon_common::wire::Batch],
    plugin: &str,
    name: &str,
    tag: Option<(&str, &str)>,
) -> Vec<f64> {
    records(batches)
        .into_iter()
        .filter_map(|r| match r {
            Record::Metric(m)
                if m.plugin == plugin
                    && m.name == name
                    && tag.is_none_or(|(k, v)| m.tags.get(k).map(String::as_str) == Some(v)) =>
            {
                Some(m.value)
            }
            _ => None,
        })
        .collect()
}

/// Lines in rAthena's console format (src/common/showmsg.cpp's tags).
const MAP_LOG: &str = "[Status]: Loading maps...\n\
[Status]: Done reading '1021' maps.\n\
[Warning]: Map 'pay_dun00' has no NPCs.\n\
[Error]: npc_parsesrcfile: Unknown syntax in file 'npc/custom/broken.txt', line '12'.\n\
[Status]: Server is 'ready' and listening on port '5121'.\n\
[Error]: Lost connection to char-server.\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polyglot_examples_report_their_metrics_in_the_agent() -> Result<()> {
    let python = build("python", "plugins/examples/python/map-log-check")?;
    let js = build("js", "plugins/examples/js/map-http-check")?;
    warm(&[&python, &js])?;
    let http = FakeHttp::start(|path, _| match path {
        "/status" => Reply::body(200, "ok: 12 players"),
        _ => Reply::status(404),
    })
    .await?;
    let dir = AgentDir::with_hostile()?;
    dir.add_plugin(&python, "map-log-check.wasm")?;
    dir.add_plugin(&js, "map-http-check.wasm")?;
    let log = dir.path().join("map-server.log");
    std::fs::write(&log, MAP_LOG)?;
    let config = dir.config(&format!(
        r#"
plugins_dir: plugins
cache_dir: "{cache}"
collection: {{ flush_interval_ms: 200, jitter_percent: 0 }}
plugins:
  - {{ name: maplog, file: map-log-check.wasm, capabilities: [config, file], grants: {{ files: ["{log}"] }}, interval_ms: 500, memory_mb: 128, config: {{ path: "{log}" }} }}
  - {{ name: maphttp, file: map-http-check.wasm, capabilities: [config, clock, http], grants: {{ http: ["{base}/"] }}, interval_ms: 500, memory_mb: 128, config: {{ url: "{base}/status" }} }}
  - {{ name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: {{ mode: ok }} }}
"#,
        cache = compile_cache(),
        log = log.display(),
        base = http.base,
    ))?;
    let batches = run_agent_for(config, Duration::from_millis(3000)).await?;

    // The first call reads the whole log; the counts are the file's.
    for (level, lines) in [
        ("status", 3.0),
        ("warning", 1.0),
        ("error", 2.0),
        ("info", 0.0),
    ] {
        let seen = values(&batches, "maplog", "map_log_lines", Some(("level", level)));
        assert_eq!(seen.first(), Some(&lines), "{level}: {seen:?}");
    }
    let errors: Vec<String> = records(&batches)
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) if e.plugin == "maplog" && e.kind == "map_log_error" => {
                Some(e.message)
            }
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[1].contains("Lost connection"), "{errors:?}");

    let up = values(&batches, "maphttp", "map_http_up", None);
    assert!(up.len() >= 2 && up.iter().all(|v| *v == 1.0), "{up:?}");
    assert_eq!(
        values(&batches, "maphttp", "map_http_status", None)[0],
        200.0
    );
    assert_eq!(
        values(&batches, "maphttp", "map_http_body_bytes", None)[0],
        "ok: 12 players".len() as f64
    );
    assert!(!http.on("/status").is_empty());
    assert!(call_times(&batches, "steady").len() >= 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polyglot_hostile_plugins_end_in_clean_errors_with_the_others_on_schedule() -> Result<()> {
    let python = build("python", "tests/fixtures/polyglot-hostile/python")?;
    let js = build("js", "tests/fixtures/polyglot-hostile/js")?;
    warm(&[&python, &js])?;
    let dir = AgentDir::with_hostile()?;
    dir.add_plugin(&python, "hostile-python.wasm")?;
    dir.add_plugin(&js, "hostile-js.wasm")?;
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "root:x:0:0\n")?;
    // What the socket attempts aim at; nothing may ever connect.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let target = listener.local_addr()?.to_string();
    let mut plugins = String::new();
    for (lang, file) in [("py", "hostile-python.wasm"), ("js", "hostile-js.wasm")] {
        for mode in ["loop", "memory", "read_file", "socket"] {
            plugins.push_str(&format!(
                "  - {{ name: {lang}_{mode}, file: {file}, capabilities: [config], interval_ms: 200, time_ms: 500, memory_mb: 96, config: {{ mode: {mode}, path: \"{}\", target: \"{target}\" }} }}\n",
                secret.display()
            ));
        }
        plugins.push_str(&format!(
            "  - {{ name: {lang}_steady, file: {file}, capabilities: [config], interval_ms: 200, memory_mb: 96, config: {{ mode: ok }} }}\n"
        ));
    }
    let config = dir.config(&format!(
        r#"
plugins_dir: plugins
cache_dir: "{cache}"
collection: {{ flush_interval_ms: 200, jitter_percent: 0 }}
restart: {{ initial_backoff_ms: 100, max_backoff_ms: 400, quarantine_after: 1000 }}
plugins:
{plugins}  - {{ name: steady, file: hostile.wasm, capabilities: [config], interval_ms: 100, config: {{ mode: ok }} }}
"#,
        cache = compile_cache(),
    ))?;
    let batches = tokio::time::timeout(
        Duration::from_secs(30),
        run_agent_for(config, Duration::from_millis(4000)),
    )
    .await
    .context("the agent did not stop")??;

    assert!(
        records(&batches)
            .iter()
            .all(|r| !matches!(r, Record::Metric(m) if m.name == "escaped")),
        "a hostile plugin got through"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the listener: {other:?}"),
    }
    for lang in ["py", "js"] {
        let count = |plugin: &str, name: &str| {
            self_metric(&batches, name, &format!("{lang}_{plugin}")).unwrap_or(0.0)
        };
        assert!(count("loop", "agent_plugin_timeouts") >= 1.0, "{lang} loop");
        assert!(
            count("memory", "agent_plugin_out_of_memory") >= 1.0,
            "{lang} memory: oom {}, traps {}, errors {}",
            count("memory", "agent_plugin_out_of_memory"),
            count("memory", "agent_plugin_traps"),
            count("memory", "agent_plugin_errors")
        );
        // Python's open() and socket raise (the call's error); JavaScript's
        // fetch(), left out of the build, traps (the instance is replaced).
        for mode in ["read_file", "socket"] {
            assert!(
                count(mode, "agent_plugin_errors") + count(mode, "agent_plugin_traps") >= 1.0,
                "{lang} {mode}: errors {}, traps {}",
                count(mode, "agent_plugin_errors"),
                count(mode, "agent_plugin_traps")
            );
        }
        let steady = call_times(&batches, &format!("{lang}_steady"));
        assert!(
            steady.len() >= 12,
            "{lang}_steady ran {} times",
            steady.len()
        );
    }
    let steady = call_times(&batches, "steady");
    assert!(
        steady.len() >= 30,
        "steady plugin ran {} times",
        steady.len()
    );
    let worst_gap = steady.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(worst_gap <= 400, "steady plugin waited {worst_gap} ms");
    Ok(())
}

/// `p2pmon-agent plugin test ARGS`: exit code and stdout.
fn plugin_test(args: &[&str]) -> Result<(i32, String)> {
    let output = Command::new(bins::agent())
        .args(["--log", "warn", "plugin", "test", "--cache-dir"])
        .arg(compile_cache())
        .args(args)
        .output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    ))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

#[test]
fn polyglot_plugin_test_answers_from_fixtures_and_reports_failures() -> Result<()> {
    let python = build("python", "plugins/examples/python/map-log-check")?;
    let js = build("js", "plugins/examples/js/map-http-check")?;
    let hostile = build("python", "tests/fixtures/polyglot-hostile/python")?;
    let dir = tempfile::tempdir()?;
    let fixture = dir.path().join("fixture");
    std::fs::create_dir(&fixture)?;
    std::fs::write(fixture.join("map-server.log"), MAP_LOG)?;
    std::fs::write(
        fixture.join("fixture.yml"),
        "files:\n  /srv/rathena/log/map-server.log: map-server.log\nhttp:\n  \"http://map.test/status\": { status: 503, body: maintenance }\n",
    )?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let log_yml = write(
        "log.yml",
        "name: maplog\ncapabilities: [config, file]\nconfig: { path: /srv/rathena/log/map-server.log }\nmemory_mb: 128\n",
    )?;
    let (code, out) = plugin_test(&[
        path_str(&python),
        "--config",
        path_str(&log_yml),
        "--fixture",
        path_str(&fixture),
        "--runs",
        "2",
        "--json",
    ])?;
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).context(out.clone())?;
    let run = |i: usize, level: &str| {
        report["runs"][i]["records"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == "map_log_lines" && r["tags"]["level"] == level)
            .and_then(|r| r["value"].as_f64())
    };
    assert_eq!(run(0, "error"), Some(2.0), "{out}");
    assert_eq!(run(0, "status"), Some(3.0), "{out}");
    // The second call has nothing new to read.
    assert_eq!(run(1, "error"), Some(0.0), "{out}");

    let http_yml = write(
        "http.yml",
        "capabilities: [config, clock, http]\nconfig: { url: \"http://map.test/status\" }\nmemory_mb: 128\n",
    )?;
    let (code, out) = plugin_test(&[
        path_str(&js),
        "--config",
        path_str(&http_yml),
        "--fixture",
        path_str(&fixture),
    ])?;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("map_http_up{url=\"http://map.test/status\"} = 0"),
        "{out}"
    );
    assert!(
        out.contains("map_http_status{url=\"http://map.test/status\"} = 503"),
        "{out}"
    );
    assert!(out.contains("event  map_http_down [Warning]"), "{out}");

    // Without the clock and http grants the same plugin is refused its
    // calls: the call fails, the refusals are counted, exit 1.
    let deny_yml = write(
        "deny.yml",
        "capabilities: [config]\nconfig: { url: \"http://map.test/status\" }\nmemory_mb: 128\n",
    )?;
    let (code, out) = plugin_test(&[
        path_str(&js),
        "--config",
        path_str(&deny_yml),
        "--fixture",
        path_str(&fixture),
    ])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: plugin reported an error: HostError: denied: clock"),
        "{out}"
    );
    assert!(out.contains("denied: 1 host call(s) refused"), "{out}");
    // The report ends in FAIL; the log's warning (stderr) follows it.
    assert!(out.lines().any(|l| l == "FAIL"), "{out}");

    let read_yml = write(
        "read.yml",
        "capabilities: [config]\nconfig: { mode: read_file, path: /etc/hostname }\nmemory_mb: 128\n",
    )?;
    let (code, out) = plugin_test(&[path_str(&hostile), "--config", path_str(&read_yml)])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error: plugin reported an error:"), "{out}");
    assert!(!out.contains("escaped"), "{out}");

    // A component importing an interface the agent lacks is refused, named.
    let refused = write("http-client.wasm", "")?;
    std::fs::write(
        &refused,
        wat::parse_str(
            r#"(component
                (import "wasi:http/outgoing-handler@0.2.0" (instance))
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (instance $g (export "collect" (func $f)))
                (export "p2pmon:plugin/guest@1.2.0" (instance $g)))"#,
        )?,
    )?;
    let (code, out) = plugin_test(&[path_str(&refused)])?;
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("refused:"))
        .context(out.clone())?;
    assert!(
        line.contains("it imports wasi:http/outgoing-handler@0.2.0"),
        "{out}"
    );
    Ok(())
}

#[test]
fn polyglot_plugin_new_builds_and_passes_plugin_test_in_each_language() -> Result<()> {
    let root = workspace_root();
    let status = Command::new(root.join("scripts/polyglot-setup.sh")).status()?;
    assert!(status.success());
    let dir = tempfile::tempdir()?;
    for lang in ["rust", "python", "js"] {
        let name = format!("new-{lang}");
        let made = Command::new(bins::agent())
            .args(["plugin", "new", &name, "--lang", lang, "--dir"])
            .arg(dir.path())
            .arg("--sdk")
            .arg(root.join("plugin-sdk"))
            .output()?;
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let project = dir.path().join(&name);
        if lang == "rust" {
            // The workspace's lock, so the SDK's dependencies resolve to what
            // target/scaffold has already built.
            std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock"))?;
        }
        let built = Command::new(project.join("build.sh"))
            .env("PYTHON", root.join("target/polyglot/venv/bin/python"))
            .env("CARGO_TARGET_DIR", root.join("target/scaffold"))
            .output()?;
        assert!(
            built.status.success(),
            "{lang}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let wasm = project.join(format!("{name}.wasm"));
        let (code, out) = plugin_test(&[
            path_str(&wasm),
            "--config",
            path_str(&project.join("plugin.yml")),
            "--fixture",
            path_str(&project.join("fixture")),
        ])?;
        assert_eq!(code, 0, "{lang}: {out}");
        let metric = format!("new_{lang}_log_lines{{path=\"/var/log/{name}.log\"}} = 3");
        assert!(out.contains(&metric), "{lang}: {out}");
        assert!(out.trim_end().ends_with("PASS"), "{lang}: {out}");
    }
    Ok(())
}
