fn main() -> std::process::ExitCode {
    p2pmon_agent::cli::entry()
}
