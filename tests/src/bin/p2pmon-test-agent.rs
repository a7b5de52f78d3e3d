//! The agent binary, built inside this package so that its tests can run it
//! as a process (`CARGO_BIN_EXE_p2pmon-test-agent`).
fn main() -> std::process::ExitCode {
    p2pmon_agent::cli::entry()
}
