//! GET requests to URLs under the prefixes agent.yml grants (capability
//! `http`, since contract 1.1). Redirects are not followed.

pub use crate::bindings::p2pmon::plugin::http::Response;
use crate::host::HostError;

/// GET `url`; a body over `max_bytes` or a request past `timeout_ms` is an
/// error, never a partial answer.
pub fn get(url: &str, timeout_ms: u32, max_bytes: u32) -> Result<Response, HostError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::p2pmon::plugin::http::get(url, timeout_ms, max_bytes)
        .map_err(HostError::from);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::call(|host| host.on_http_get(url, timeout_ms, max_bytes))
}

impl Response {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
