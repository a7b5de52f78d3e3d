//! Host services: logging (`log`), the clock (`clock`) and this plugin's
//! config values (`config`). Each needs its capability granted in agent.yml;
//! without it the call returns [`HostError::Denied`] naming the capability.

use std::fmt;

#[cfg(target_arch = "wasm32")]
use crate::bindings::p2pmon::plugin::host as wit_host;
use crate::bindings::p2pmon::plugin::types as wit;

/// Level of a log line.
pub use crate::bindings::p2pmon::plugin::host::LogLevel as Level;

/// Why a host function refused or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// Refused: the bare name of a capability not granted to this plugin, or
    /// why a scoped call (a database, path, target or URL) fell outside its
    /// grant.
    Denied(String),
    /// The host could not provide the data right now.
    Unavailable(String),
    /// The arguments were rejected.
    Invalid(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Denied(what) if what.bytes().all(|b| b.is_ascii_lowercase()) => {
                write!(f, "capability `{what}` not granted")
            }
            HostError::Denied(why) => write!(f, "denied: {why}"),
            HostError::Unavailable(why) => write!(f, "unavailable: {why}"),
            HostError::Invalid(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl std::error::Error for HostError {}

/// So `?` works in [`crate::Plugin::collect`], which reports errors as text.
impl From<HostError> for String {
    fn from(error: HostError) -> Self {
        error.to_string()
    }
}

impl From<wit::HostError> for HostError {
    fn from(error: wit::HostError) -> Self {
        match error {
            wit::HostError::Denied(cap) => HostError::Denied(cap),
            wit::HostError::Unavailable(why) => HostError::Unavailable(why),
            wit::HostError::Invalid(why) => HostError::Invalid(why),
        }
    }
}

/// Write a line to the agent's log at `level` (capability `log`). Best
/// effort: without the grant the line is dropped (the agent warns once that
/// the plugin lacks `log`). The agent logs it under its own target
/// `p2pmon_agent` with a `plugin` field, so `--log info,p2pmon_agent=debug`
/// shows a plugin's debug lines without wasmtime's.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    let _ = wit_host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_log(level, message));
}

/// Log at debug level (capability `log`; dropped without it).
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at info level (capability `log`; dropped without it).
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at warn level (capability `log`; dropped without it).
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at error level (capability `log`; dropped without it).
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Wall-clock time in Unix milliseconds (capability `clock`).
pub fn now_ms() -> Result<u64, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit_host::now_ms().map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_now_ms())
}

/// A value from this plugin's `config` map in agent.yml (capability `config`).
pub fn config(key: &str) -> Result<Option<String>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit_host::config_get(key).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_config_get(key))
}

/// A config value parsed into `T`, or `default` when the key is absent.
/// A present but unparsable value is an [`HostError::Invalid`].
pub fn config_or<T: std::str::FromStr>(key: &str, default: T) -> Result<T, HostError> {
    match config(key)? {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| HostError::Invalid(format!("config `{key}`: cannot parse {raw:?}"))),
    }
}

/// Every key of this plugin's `config` map (capability `config`).
pub fn config_keys() -> Result<Vec<String>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return wit_host::config_keys().map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_config_keys())
}

pub(crate) fn report_panic(message: &str) {
    #[cfg(target_arch = "wasm32")]
    wit_host::report_panic(message);
    // Natively a panic unwinds into the test that ran the plugin.
    #[cfg(not(target_arch = "wasm32"))]
    let _ = message;
}
