//! Logging set-up shared by both binaries: a tracing filter from `--log`
//! (or its environment variable), written to stderr so stdout carries data.

/// Install the global subscriber; an invalid filter falls back to `info`.
pub fn init(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
