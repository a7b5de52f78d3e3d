//! Read and tail files under the paths agent.yml grants (capability `file`,
//! since contract 1.1). Paths must be absolute; symlinks and `..` are
//! resolved before the grant is checked.

pub use crate::bindings::p2pmon::plugin::file::{StartAt, TailResult as Tail};
use crate::host::HostError;

/// The complete lines appended to `path` since this plugin's last call. The
/// agent keeps the position (across plugin restarts too) and follows rotation
/// and truncation; `start` says where the first call begins. At most
/// `max_bytes` (capped by the host at 1 MiB) are read per call.
pub fn tail(path: &str, start: StartAt, max_bytes: u32) -> Result<Tail, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::file::tail(path, start, max_bytes)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_file_tail(path, start, max_bytes))
}

/// The first `max_bytes` (capped by the host at 1 MiB) of a file.
pub fn read(path: &str, max_bytes: u32) -> Result<Vec<u8>, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::file::read(path, max_bytes).map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_file_read(path, max_bytes))
}
