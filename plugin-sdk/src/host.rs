//! Host services: logging (`log`), the clock (`clock`) and this plugin's
//! config values (`config`). Each needs its capability granted in agent.yml;
//! without it the call returns [`HostError::Denied`] naming the capability.

use std::fmt;

use crate::bindings::p2pmon::plugin::host as wit_host;
use crate::bindings::p2pmon::plugin::types as wit;

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

fn log(level: wit_host::LogLevel, message: &str) {
    // Logging is best effort: a plugin without the `log` grant runs silently.
    let _ = wit_host::log(level, message);
}

/// Log at debug level (capability `log`; silently dropped without it).
pub fn debug(message: &str) {
    log(wit_host::LogLevel::Debug, message);
}

/// Log at info level (capability `log`; silently dropped without it).
pub fn info(message: &str) {
    log(wit_host::LogLevel::Info, message);
}

/// Log at warn level (capability `log`; silently dropped without it).
pub fn warn(message: &str) {
    log(wit_host::LogLevel::Warn, message);
}

/// Log at error level (capability `log`; silently dropped without it).
pub fn error(message: &str) {
    log(wit_host::LogLevel::Error, message);
}

/// Wall-clock time in Unix milliseconds (capability `clock`).
pub fn now_ms() -> Result<u64, HostError> {
    wit_host::now_ms().map_err(HostError::from)
}

/// A value from this plugin's `config` map in agent.yml (capability `config`).
pub fn config(key: &str) -> Result<Option<String>, HostError> {
    wit_host::config_get(key).map_err(HostError::from)
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
    wit_host::config_keys().map_err(HostError::from)
}

pub(crate) fn report_panic(message: &str) {
    wit_host::report_panic(message);
}
