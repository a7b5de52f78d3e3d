use std::process::ExitCode;

use clap::Parser;
use p2pmon_aggregator::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(&cli);
    cli::main(cli)
}
