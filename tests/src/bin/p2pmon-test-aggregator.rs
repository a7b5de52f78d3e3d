//! The aggregator binary, built inside this package so that its tests and
//! benchmarks can run it as a process (`CARGO_BIN_EXE_p2pmon-test-aggregator`).
fn main() -> std::process::ExitCode {
    p2pmon_aggregator::cli::entry()
}
