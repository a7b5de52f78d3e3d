//! `p2pmon-hostsim`: a simulated rAthena host (see the library docs).

fn main() -> std::process::ExitCode {
    p2pmon_hostsim::cli::entry()
}
