//! `p2pmon-agent plugin new NAME --lang rust|python|js`: a plugin project
//! that builds (`./build.sh`) and passes `plugin test` as generated
//! (`p2pmon-agent plugin test NAME.wasm --config plugin.yml --fixture fixture`).
//!
//! Every language gets the same plugin: it tails the log file its config
//! names and reports how many lines were written since the last call, with
//! a fixture that answers for that file.

use std::path::{Path, PathBuf};

/// The plugin's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// Why the project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "plugin name {0:?}: use lower-case letters, digits and `-`, starting with a letter, at most 64 bytes"
    )]
    Name(String),
    #[error("{} already exists; choose another name or folder", .0.display())]
    Exists(PathBuf),
    #[error(
        "{}: no plugin SDK there (expected wit/plugin.wit); give the repository's plugin-sdk folder with --sdk",
        .0.display()
    )]
    Sdk(PathBuf),
    #[error("{}: {message}", .path.display())]
    Write { path: PathBuf, message: String },
}

/// The SDK folder of the source tree this agent was built from, if it is
/// still there.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk")
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// Write a new project `parent/NAME`; returns its folder and the files made.
pub fn scaffold(
    name: &str,
    lang: Lang,
    parent: &Path,
    sdk: &Path,
) -> Result<(PathBuf, Vec<PathBuf>), ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::Name(name.to_string()));
    }
    let sdk = std::fs::canonicalize(sdk).map_err(|_| ScaffoldError::Sdk(sdk.to_path_buf()))?;
    if !sdk.join("wit/plugin.wit").is_file() {
        return Err(ScaffoldError::Sdk(sdk));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let metric = format!("{}_log_lines", name.replace('-', "_"));
    let log_path = format!("/var/log/{name}.log");
    let sdk_text = sdk.display().to_string();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{metric}}", &metric)
            .replace("{{log_path}}", &log_path)
            .replace("{{sdk}}", &sdk_text)
            .replace("{{crate}}", &name.replace('-', "_"))
    };
    let mut files: Vec<(&str, String)> = vec![
        ("plugin.yml", fill(PLUGIN_YML)),
        ("fixture/fixture.yml", fill(FIXTURE_YML)),
        ("fixture/sample.log", SAMPLE_LOG.to_string()),
        ("README.md", fill(README)),
    ];
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml", fill(RUST_CARGO)));
            files.push(("src/lib.rs", fill(RUST_LIB)));
            files.push(("build.sh", fill(RUST_BUILD)));
        }
        Lang::Python => {
            files.push(("app.py", fill(PYTHON_APP)));
            files.push(("build.sh", fill(PYTHON_BUILD)));
        }
        Lang::Js => {
            files.push(("plugin.js", fill(JS_PLUGIN)));
            files.push(("build.sh", fill(JS_BUILD)));
        }
    }
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(relative);
        let fail = |e: std::io::Error| ScaffoldError::Write {
            path: path.clone(),
            message: e.to_string(),
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(fail)?;
        }
        std::fs::write(&path, text).map_err(fail)?;
        if relative == "build.sh" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(fail)?;
        }
        written.push(path);
    }
    Ok((dir, written))
}

const PLUGIN_YML: &str = r#"# This plugin's entry, as in agent.yml's `plugins:` list. `plugin test`
# grants what is here; copy it into agent.yml (with `file: {{name}}.wasm`).
name: {{name}}
capabilities: [config, file]
grants:
  files: ["{{log_path}}"]
# Room above the 9 to 13 MiB a JavaScript or Python runtime holds by itself.
memory_mb: 128
config:
  path: "{{log_path}}"
"#;

const FIXTURE_YML: &str = r#"# What the fake capabilities answer in `p2pmon-agent plugin test`.
files:
  "{{log_path}}": sample.log
"#;

const SAMPLE_LOG: &str = "[Status]: Server is 'ready' and listening on port '5121'.\n\
[Warning]: Map 'prontera' has no NPCs.\n\
[Info]: 12 players online.\n";

const README: &str = r#"# {{name}}

A p2pmon agent plugin: how many lines its log file got since the last call.

    ./build.sh                       # makes {{name}}.wasm
    p2pmon-agent plugin test {{name}}.wasm --config plugin.yml --fixture fixture

Then copy `{{name}}.wasm` into the agent's `plugins_dir` and the entry in
`plugin.yml` into agent.yml's `plugins:` list (with `file: {{name}}.wasm`).
"#;

const RUST_CARGO: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
p2pmon-plugin-sdk = { path = "{{sdk}}" }

# A project of its own, not a member of a surrounding workspace.
[workspace]

[profile.plugin]
inherits = "release"
opt-level = "s"
lto = true
panic = "abort"
codegen-units = 1
debug = false
"#;

const RUST_LIB: &str = r#"use p2pmon_plugin_sdk::{
    Capability, Collection, MetricSpec, Plugin, PluginInfo, Unit, export_plugin, file, host,
};

#[derive(Default)]
pub struct LogLines;

impl Plugin for LogLines {
    fn info() -> PluginInfo {
        PluginInfo::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .description("Lines written to a log file since the last call.")
            .metric(
                MetricSpec::gauge("{{metric}}", Unit::Count)
                    .describe("Lines since the last call"),
            )
            .capability(Capability::Config)
            .capability(Capability::File)
            .interval_ms(10_000)
    }

    fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
        let path = host::config("path")?.unwrap_or_else(|| "{{log_path}}".to_string());
        let read = file::tail(&path, file::StartAt::Beginning, 1 << 20)?;
        out.gauge("{{metric}}", read.lines.len() as f64)
            .tag("path", path.as_str());
        Ok(())
    }
}

export_plugin!(LogLines);
"#;

const RUST_BUILD: &str = r#"#!/bin/sh
# Build {{name}}.wasm (needs `rustup target add wasm32-unknown-unknown`).
set -e
cd "$(dirname "$0")"
cargo build --quiet --profile plugin --target wasm32-unknown-unknown
cp "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/plugin/{{crate}}.wasm" {{name}}.wasm
echo "{{name}}.wasm"
"#;

const PYTHON_APP: &str = r#""""{{name}}: lines written to a log file since the last call."""

from p2pmon_plugin import Plugin, config_get, export, gauge, tail


class LogLines(Plugin):
    name = "{{name}}"
    version = "0.1.0"
    description = "Lines written to a log file since the last call."
    capabilities = ["config", "file"]
    default_interval_ms = 10_000
    metrics = [gauge("{{metric}}", "count", "Lines since the last call")]

    def collect(self, out):
        path = config_get("path", "{{log_path}}")
        read = tail(path, start="beginning")
        out.metric("{{metric}}", len(read.lines), {"path": path})


Guest = export(LogLines)
"#;

const PYTHON_BUILD: &str = r#"#!/bin/sh
# Build {{name}}.wasm with componentize-py (pip install componentize-py==0.25.1);
# PYTHON may name the interpreter of a venv that has it.
set -e
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" "{{sdk}}/python/p2pmon_plugin/build.py" . -o {{name}}.wasm
"#;

const JS_PLUGIN: &str = r#"// {{name}}: lines written to a log file since the last call.

import { configGet, definePlugin, gauge, tail } from '@p2pmon/plugin';

export const guest = definePlugin({
  name: '{{name}}',
  version: '0.1.0',
  description: 'Lines written to a log file since the last call.',
  capabilities: ['config', 'file'],
  defaultIntervalMs: 10000,
  metrics: [gauge('{{metric}}', 'count', 'Lines since the last call')],
  collect(out) {
    const path = configGet('path', '{{log_path}}');
    const read = tail(path, { start: 'beginning' });
    out.metric('{{metric}}', read.lines.length, { path });
  },
});
"#;

const JS_BUILD: &str = r#"#!/bin/sh
# Build {{name}}.wasm with componentize-js (`npm ci` in {{sdk}}/js first).
set -e
cd "$(dirname "$0")"
exec node "{{sdk}}/js/build.mjs" plugin.js -o {{name}}.wasm
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_projects_not_overwritten() {
        let parent = tempfile::tempdir().expect("tempdir");
        let sdk = default_sdk();
        for bad in ["", "Map", "1map", "map_check", "map-", "a/b"] {
            assert!(
                matches!(
                    scaffold(bad, Lang::Python, parent.path(), &sdk),
                    Err(ScaffoldError::Name(_))
                ),
                "{bad:?}"
            );
        }
        let (dir, files) = scaffold("map-check", Lang::Js, parent.path(), &sdk).expect("scaffold");
        assert!(files.iter().any(|f| f.ends_with("plugin.js")));
        let js = std::fs::read_to_string(dir.join("plugin.js")).expect("plugin.js");
        assert!(js.contains("'map_check_log_lines'"), "{js}");
        assert!(!js.contains("{{"), "{js}");
        assert!(matches!(
            scaffold("map-check", Lang::Js, parent.path(), &sdk),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            scaffold("other", Lang::Rust, parent.path(), parent.path()),
            Err(ScaffoldError::Sdk(_))
        ));
    }
}
