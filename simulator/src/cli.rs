//! The `p2pmon-hostsim` command line, in the library so that the tests
//! package can build the same binary with the test build's features.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{DEFAULT_MAPS, Incident, Sim, SimConfig, listen_map_port};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "p2pmon-hostsim",
    version,
    about = "A simulated rAthena host: tables, players, logs, attacks on demand."
)]
struct Cli {
    /// MariaDB/MySQL server (no database in the URL).
    #[arg(
        long,
        global = true,
        env = "P2PMON_SIM_MYSQL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql: String,
    /// rAthena's main database.
    #[arg(long, global = true, default_value = "p2pmon_sim")]
    main_db: String,
    /// rAthena's logs database.
    #[arg(long, global = true, default_value = "p2pmon_sim_log")]
    logs_db: String,
    /// The map-server console log to append to.
    #[arg(long, global = true, default_value = "target/hostsim/map-msg_log.log")]
    log_file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the databases and tables (idempotent).
    Setup,
    /// Empty the tables, then put PLAYERS online over MAPS maps.
    Populate {
        #[arg(long, default_value_t = 120)]
        players: u32,
        /// How many of the built-in maps to use (more are generated past 8).
        #[arg(long, default_value_t = 8)]
        maps: usize,
    },
    /// Set the number of players online on one map.
    SetPlayers { map: String, players: u32 },
    /// Run a live server until Ctrl-C: ticks every INTERVAL, a map-server port.
    Run {
        #[arg(long, default_value_t = 5000)]
        interval_ms: u64,
        /// Where the simulated map-server accepts connections.
        #[arg(long, default_value = "127.0.0.1:6121")]
        map_port: String,
    },
    /// Stage an incident for the anti-cheat plugin.
    Inject {
        #[arg(value_enum)]
        incident: Incident,
        /// Lines, rows or items.
        #[arg(long, default_value_t = 20)]
        count: u32,
    },
    /// Print players online per map.
    Status,
    /// Drop both databases.
    Drop,
}

fn map_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match DEFAULT_MAPS.get(i) {
            Some(name) => name.to_string(),
            None => format!("sim_{i:03}"),
        })
        .collect()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let sim = Sim::new(SimConfig {
        url: cli.mysql,
        main_db: cli.main_db,
        logs_db: cli.logs_db,
        log_file: cli.log_file,
    })?;
    match cli.command {
        Command::Setup => {
            sim.setup().await?;
            println!(
                "Tables ready in {} and {}.",
                sim.config.main_db, sim.config.logs_db
            );
        }
        Command::Populate { players, maps } => {
            sim.setup().await?;
            sim.clear().await?;
            sim.populate(players, &map_names(maps)).await?;
            println!("{players} players online over {maps} maps.");
        }
        Command::SetPlayers { map, players } => {
            sim.set_players(&map, players).await?;
            sim.write_map_status().await?;
        }
        Command::Run {
            interval_ms,
            map_port,
        } => {
            sim.setup().await?;
            let bound = listen_map_port(&map_port).await?;
            println!(
                "Simulated host: map-server on {bound}, console log {}, ticking every {interval_ms} ms (Ctrl-C stops).",
                sim.config.log_file.display()
            );
            let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms.max(100)));
            loop {
                tokio::select! {
                    _ = ticker.tick() => sim.tick().await?,
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
        Command::Inject { incident, count } => {
            sim.inject(incident, count).await?;
            println!("Injected {incident:?}.");
        }
        Command::Status => {
            for (map, players) in sim.players_per_map().await? {
                println!("{map:<12} {players}");
            }
        }
        Command::Drop => sim.drop_databases().await?,
    }
    sim.close().await
}

/// Parses the command line, runs the command, and reports errors on stderr.
pub fn entry() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("p2pmon-hostsim: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("p2pmon-hostsim: {error:#}");
            ExitCode::FAILURE
        }
    }
}
