//! The `p2pmon-agent` command line: `run`, `collect --once`, `enroll`,
//! `plugin inspect`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::agent::Agent;
use crate::config::{self, AgentConfig, OutputFormat, OutputKind};
use crate::output::Sink;
use crate::runtime::{LoadedPlugin, PluginInfo, Runtime, RuntimeOptions};
use crate::transport::{self, Transport};

#[derive(Debug, Parser)]
#[command(
    name = "p2pmon-agent",
    version,
    about = "p2pmon host agent: sandboxed WASM plugins collecting host, game and network metrics."
)]
pub struct Cli {
    /// Agent config file.
    #[arg(long, global = true, default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, env = "P2PMON_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a daemon: collect on schedule and write batches until SIGINT or SIGTERM.
    Run {
        /// Overrides output.format.
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Run each plugin once and print every metric and event as one JSON object per line.
    Collect {
        /// Collect once and exit (the only mode).
        #[arg(long, required = true)]
        once: bool,
    },
    /// Exchange a join token (from `p2pmon-aggregator token create --join`)
    /// for this host's credential, kept in aggregator.credential_file.
    Enroll {
        /// The join token; single-use.
        #[arg(long, env = "P2PMON_JOIN_TOKEN", hide_env_values = true)]
        token: String,
        /// Replace an existing credential.
        #[arg(long)]
        force: bool,
    },
    /// Check agent.yml and that every enabled plugin's file is there (exit 2
    /// if not); what an installer or a service manager runs first.
    CheckConfig,
    /// Work with plugin files.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's metadata, requested capabilities and contract version.
    Inspect {
        /// The .wasm file.
        file: PathBuf,
    },
    /// Run a plugin without a running host: sql, file, net and http answer
    /// from fixture files; prints its metrics, events and refusals. Exit 0
    /// when every run passed, 1 when not, 2 when the test could not start.
    /// Here `--config` names the plugin's entry as in agent.yml's `plugins:`
    /// list (capabilities, grants, config, limits); without it the plugin is
    /// granted what it requests, with no config.
    Test {
        /// The .wasm file (Rust, Python or JavaScript).
        file: PathBuf,
        /// wasmtime's compiled-code cache (a Python plugin compiles in
        /// seconds once, then loads from here).
        #[arg(long, env = "P2PMON_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Folder with fixture.yml (SQL results, file contents, probe and
        /// HTTP answers).
        #[arg(long)]
        fixture: Option<PathBuf>,
        /// Collect calls to make, in one instance as the agent would.
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// Print one JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a new plugin project that builds and passes `plugin test`.
    New {
        /// Plugin name: lower-case letters, digits and `-`.
        name: String,
        #[arg(long, value_enum)]
        lang: crate::plugin_tool::Lang,
        /// Where to create the project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The plugin-sdk folder of the p2pmon sources (contract, SDKs).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

/// Parse the command line, set up logging, run.
pub fn entry() -> ExitCode {
    let cli = Cli::parse();
    p2pmon_common::logging::init(&cli.log);
    main(cli)
}

pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("p2pmon-agent")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("p2pmon-agent: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("p2pmon-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { format } => {
            let Some(config) = load_config(&cli.config) else {
                return Ok(ExitCode::from(2));
            };
            run(config, format).await
        }
        Command::Collect { .. } => {
            let Some(config) = load_config(&cli.config) else {
                return Ok(ExitCode::from(2));
            };
            collect_once(config).await
        }
        Command::Enroll { token, force } => {
            let Some(config) = load_config(&cli.config) else {
                return Ok(ExitCode::from(2));
            };
            let credential = transport::enroll(&config, token.trim(), force).await?;
            println!(
                "Enrolled as host {:?}; credential saved to {}.",
                credential.host_id,
                config.resolve(&config.aggregator.credential_file).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            command: PluginCommand::Inspect { file },
        } => inspect(&cli.config, &file).await,
        Command::Plugin {
            command:
                PluginCommand::Test {
                    file,
                    cache_dir,
                    fixture,
                    runs,
                    json,
                },
        } => {
            // The global `--config` is the plugin's entry here; its default
            // (agent.yml's path) means none was given.
            let plugin_config =
                (cli.config != Path::new(config::DEFAULT_PATH)).then_some(cli.config);
            let options = crate::plugin_tool::TestOptions {
                file,
                config: plugin_config,
                fixture,
                runs,
                cache_dir,
            };
            plugin_test(&options, json).await
        }
        Command::Plugin {
            command:
                PluginCommand::New {
                    name,
                    lang,
                    dir,
                    sdk,
                },
        } => Ok(plugin_new(&name, lang, &dir, sdk)),
        Command::CheckConfig => Ok(check_config(&cli.config)),
    }
}

/// `plugin new`: a plugin project scaffolded, and what to do next.
fn plugin_new(
    name: &str,
    lang: crate::plugin_tool::Lang,
    dir: &Path,
    sdk: Option<std::path::PathBuf>,
) -> ExitCode {
    let sdk = sdk.unwrap_or_else(crate::plugin_tool::scaffold::default_sdk);
    match crate::plugin_tool::scaffold(name, lang, dir, &sdk) {
        Ok((folder, files)) => {
            println!("Created {} ({} files).", folder.display(), files.len());
            println!(
                "Next: cd {} && ./build.sh && p2pmon-agent plugin test {name}.wasm --config plugin.yml --fixture fixture",
                folder.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("p2pmon-agent: {error}");
            ExitCode::from(2)
        }
    }
}

/// `check-config`: agent.yml loaded and its paths checked.
fn check_config(path: &Path) -> ExitCode {
    let Some(config) = load_config(path) else {
        return ExitCode::from(2);
    };
    let problems = config.path_problems();
    if !problems.is_empty() {
        eprintln!(
            "p2pmon-agent: {} has {} path problem(s):",
            path.display(),
            problems.len()
        );
        for (field, problem) in &problems {
            eprintln!("  {field}: {problem}");
        }
        return ExitCode::from(2);
    }
    println!(
        "{} is valid: {} plugins enabled, output {:?}",
        path.display(),
        config.enabled_plugins().count(),
        config.output.kind
    );
    ExitCode::SUCCESS
}

fn load_config(path: &Path) -> Option<AgentConfig> {
    match AgentConfig::load(path) {
        Ok(config) => Some(config),
        Err(errors) => {
            eprintln!("p2pmon-agent: invalid config {errors}");
            None
        }
    }
}

async fn run(config: AgentConfig, format: Option<OutputFormat>) -> anyhow::Result<ExitCode> {
    let format = format.unwrap_or(config.output.format);
    let writer = match config.output.kind {
        OutputKind::Stdout => Some(Sink::stdout(format)),
        OutputKind::File => {
            let path = config.output_path();
            Some(
                Sink::file(&path, format)
                    .map_err(|e| anyhow::anyhow!("output file {}: {e}", path.display()))?,
            )
        }
        OutputKind::Aggregator => None,
    };
    let agent = Agent::start(config.clone()).await?;
    if agent.plugin_names().is_empty() {
        anyhow::bail!("no plugin could be started; see the errors above");
    }
    // The transport starts once the plugins (reported in the hello) are known.
    let (sink, transport) = match writer {
        Some(sink) => (sink, None),
        None => {
            let transport = Transport::start(&config, agent.plugin_identities())?;
            let sink = Sink::spool(&transport);
            (sink, Some(transport))
        }
    };
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutting down: flushing pending records.");
        let _ = stop.send(true);
    });
    let batches = agent.run(sink, shutdown).await?;
    if let Some(transport) = transport {
        transport.finish().await;
    }
    tracing::info!(batches, "Agent stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn collect_once(config: AgentConfig) -> anyhow::Result<ExitCode> {
    let agent = Agent::start(config).await?;
    let mut failed = agent.failed().len();
    let outcomes = agent.collect_once().await;
    let mut stdout = std::io::stdout().lock();
    for outcome in outcomes {
        match outcome.result {
            Ok(records) => {
                for record in records {
                    serde_json::to_writer(&mut stdout, &record)?;
                    stdout.write_all(b"\n")?;
                }
            }
            Err(error) => {
                failed += 1;
                tracing::error!(plugin = %outcome.plugin, %error, "Collect failed.");
            }
        }
    }
    stdout.flush()?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn plugin_test(
    options: &crate::plugin_tool::TestOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let report = match crate::plugin_tool::run_test(options).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("p2pmon-agent: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn inspect(config_path: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    // The config only supplies the cache directory; inspect works without one.
    let cache_dir = if config_path.exists() {
        AgentConfig::load(config_path)
            .ok()
            .and_then(|c| c.cache_dir())
    } else {
        None
    };
    let runtime = Runtime::new(&RuntimeOptions {
        cache_dir,
        pooling: false,
    })?;
    let plugin = match runtime.load(file) {
        Ok(plugin) => plugin,
        Err(error) => {
            eprintln!("p2pmon-agent: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let info = runtime
        .inspect(&plugin)
        .await
        .map_err(|e| anyhow::anyhow!("{}: cannot read metadata: {e}", file.display()))?;
    let report = inspect_report(file, &plugin, &info);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// What `plugin inspect` prints: the plugin's metadata, its requested
/// capabilities, and the contract versions of the plugin and of this agent.
pub fn inspect_report(file: &Path, plugin: &LoadedPlugin, info: &PluginInfo) -> serde_json::Value {
    let metrics: Vec<serde_json::Value> = info
        .metrics
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "unit": m.unit,
                "kind": p2pmon_common::wire::MetricKind::from(m.kind),
                "description": m.description,
            })
        })
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "sha256": plugin.sha256,
        "contract_version": plugin.contract.to_string(),
        "agent_contract_version": crate::runtime::contract_version().to_string(),
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "default_interval_ms": info.default_interval_ms,
        "capabilities": info.capabilities,
        "metrics": metrics,
    })
}
