//! # p2pmon plugin SDK
//!
//! Write a p2pmon agent plugin in Rust: implement [`Plugin`], call
//! [`export_plugin!`], build for `wasm32-unknown-unknown`, and drop the
//! `.wasm` file in the agent's plugins directory.
//!
//! The contract between the agent and a plugin is the WIT package
//! `p2pmon:plugin` (see `wit/plugin.wit` in this crate); [`CONTRACT_VERSION`]
//! is its version. This crate wraps the generated bindings in plain Rust types
//! so a plugin never touches them.
//!
//! ## A complete plugin
//!
//! ```
//! use p2pmon_plugin_sdk::{
//!     export_plugin, host, system, Capability, Collection, MetricSpec, Plugin, PluginInfo,
//!     Severity, Unit,
//! };
//!
//! #[derive(Default)]
//! struct Uptime {
//!     collects: u64,
//! }
//!
//! impl Plugin for Uptime {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("uptime", env!("CARGO_PKG_VERSION"))
//!             .description("Seconds since boot.")
//!             .metric(MetricSpec::gauge("uptime", Unit::Seconds).describe("Time since boot"))
//!             .capability(Capability::System)
//!             .capability(Capability::Log)
//!             .interval_ms(10_000)
//!     }
//!
//!     fn collect(&mut self, out: &mut Collection) -> Result<(), String> {
//!         self.collects += 1;
//!         let snap = system::snapshot(system::Request::default())
//!             .map_err(|e| e.to_string())?;
//!         out.gauge("uptime", snap.uptime_seconds as f64);
//!         if snap.uptime_seconds < 60 {
//!             out.event("recent_boot", Severity::Info, "host booted less than a minute ago")
//!                 .field("uptime_seconds", snap.uptime_seconds.to_string());
//!         }
//!         host::debug(&format!("collect #{}", self.collects));
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(Uptime);
//! # fn main() {}
//! ```
//!
//! Build it with one command (see the crate's README for the whole path from
//! `cargo new` to a loaded plugin):
//!
//! ```text
//! cargo build --release --target wasm32-unknown-unknown
//! ```

mod collection;
pub mod file;
pub mod host;
pub mod http;
mod info;
pub mod net;
pub mod rates;
pub mod sql;
pub mod system;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use collection::{Collection, Event, Metric, Severity};
pub use host::HostError;
pub use info::{Capability, MetricKind, MetricSpec, PluginInfo, Unit};

/// Version of the `p2pmon:plugin` WIT package this SDK builds plugins for.
pub const CONTRACT_VERSION: &str = "1.2.0";

/// Generated bindings of the WIT contract. Plugin code should not need them;
/// they are public only so [`export_plugin!`] can reach them.
#[doc(hidden)]
#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        // So tests can compare what the host returns with assert_eq!.
        additional_derives: [PartialEq],
        default_bindings_module: "p2pmon_plugin_sdk::bindings",
    });
}

/// A p2pmon plugin.
///
/// The agent keeps one instance per configured plugin alive between calls, so
/// `self` may hold state (previous counters to compute rates, a cursor into a
/// log). If the plugin traps, the agent drops the instance and creates a new
/// one with [`Default`].
pub trait Plugin: Default + 'static {
    /// What the plugin is and what it needs. Called once at load time, before
    /// any capability is usable.
    fn info() -> PluginInfo;

    /// Gather metrics and events into `out`. Returning `Err` reports a
    /// recoverable failure: the agent logs and counts it, discards `out`, and
    /// calls again at the next interval. To report a partial failure and keep
    /// the rest, push an [`Event`] instead and return `Ok`.
    fn collect(&mut self, out: &mut Collection) -> Result<(), String>;
}

/// Export a [`Plugin`] implementation as the component's `guest` interface.
///
/// Use it once per plugin crate, at the crate root. Without it the crate
/// still builds, but the `.wasm` exports nothing and the agent refuses it
/// (`it does not export p2pmon:plugin/guest ... add export_plugin!`).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            struct __P2pmonExport;

            impl $crate::bindings::exports::p2pmon::plugin::guest::Guest for __P2pmonExport {
                fn metadata() -> $crate::bindings::p2pmon::plugin::types::PluginInfo {
                    $crate::__private::metadata::<$plugin>()
                }

                fn collect() -> ::core::result::Result<
                    $crate::bindings::p2pmon::plugin::types::Collection,
                    String,
                > {
                    $crate::__private::collect::<$plugin>()
                }
            }

    $crate::bindings::export!(__P2pmonExport with_types_in $crate::bindings);
        };
    };
}

/// Glue used by [`export_plugin!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::RefCell;

    use crate::bindings::p2pmon::plugin::types as wit;
    use crate::{Collection, Plugin};

    thread_local! {
        // wasm32-unknown-unknown is single-threaded: one slot holds the
        // plugin's state between calls.
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    fn install_panic_hook() {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            std::panic::set_hook(Box::new(|panic| {
                crate::host::report_panic(&panic.to_string());
            }));
        });
    }

    pub fn metadata<P: Plugin>() -> wit::PluginInfo {
        install_panic_hook();
        P::info().into_wit()
    }

    pub fn collect<P: Plugin>() -> Result<wit::Collection, String> {
        install_panic_hook();
        STATE.with(|slot| {
            let mut slot = slot.borrow_mut();
            let state = slot.get_or_insert_with(|| Box::new(P::default()));
            let plugin = state
                .downcast_mut::<P>()
                .ok_or_else(|| "plugin state has an unexpected type".to_string())?;
            let mut out = Collection::default();
            plugin.collect(&mut out)?;
            Ok(out.into_wit())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn contract_version_matches_the_wit_package() {
        let wit = include_str!("../wit/plugin.wit");
        let expected = format!("package p2pmon:plugin@{};", super::CONTRACT_VERSION);
        assert!(
            wit.lines().any(|line| line.trim() == expected),
            "plugin.wit does not declare `{expected}`"
        );
    }
}
