//! The host simulator, built inside this package so that its tests can run it
//! as a process (`CARGO_BIN_EXE_p2pmon-test-hostsim`).
fn main() -> std::process::ExitCode {
    p2pmon_hostsim::cli::entry()
}
