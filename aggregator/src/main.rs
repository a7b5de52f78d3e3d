fn main() -> std::process::ExitCode {
    p2pmon_aggregator::cli::entry()
}
