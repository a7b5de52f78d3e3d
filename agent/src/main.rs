use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = p2pmon_agent::cli::Cli::parse();
    p2pmon_agent::cli::init_logging(&cli);
    p2pmon_agent::cli::main(cli)
}
