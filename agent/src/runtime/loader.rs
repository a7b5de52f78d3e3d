//! Turning a plugin file into a compiled component: format detection,
//! componentisation of SDK-built core modules, and the contract check.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package of the contract, without version.
const CONTRACT_PACKAGE: &str = "p2pmon:plugin";

/// The interface every plugin exports.
const GUEST_INTERFACE: &str = "p2pmon:plugin/guest@";

/// The contract version this agent implements, read from the WIT file the
/// host bindings are generated from, so the two cannot disagree.
pub fn contract_version() -> &'static semver::Version {
    static VERSION: OnceLock<semver::Version> = OnceLock::new();
    VERSION.get_or_init(|| {
        const WIT: &str = include_str!("../../../plugin-sdk/wit/plugin.wit");
        WIT.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("package p2pmon:plugin@")?
                    .strip_suffix(';')
            })
            .and_then(|v| semver::Version::parse(v).ok())
            .unwrap_or_else(|| unreachable!("plugin.wit declares `package p2pmon:plugin@X.Y.Z;`"))
    })
}

/// Why a plugin file could not be loaded. Each message is one line and
/// starts with the file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: not a WebAssembly file (no \\0asm header)", .path.display())]
    NotWasm { path: PathBuf },
    #[error("{}: invalid or truncated WebAssembly: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: not a p2pmon plugin: {message}", .path.display())]
    NotAPlugin { path: PathBuf, message: String },
    #[error(
        "{}: built for plugin contract {found}, but this agent loads contracts {}.0.0 to {supported}; {}",
        .path.display(), .supported.major, rebuild_advice(.found, .supported)
    )]
    IncompatibleContract {
        path: PathBuf,
        found: semver::Version,
        supported: semver::Version,
    },
    #[error("{}: cannot link: {message}", .path.display())]
    Link { path: PathBuf, message: String },
}

/// The SDK release of this agent: the SDK is versioned with the workspace,
/// so the agent's own version is the version of the SDK shipped with it.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What to do about a plugin built for a contract this agent cannot load.
fn rebuild_advice(found: &semver::Version, supported: &semver::Version) -> String {
    let rebuild = format!(
        "rebuild the plugin with p2pmon-plugin-sdk {SDK_VERSION} (the SDK of this agent's release, which builds contract {supported})"
    );
    if found.major == supported.major && found.minor > supported.minor {
        format!("upgrade the agent, or {rebuild}")
    } else {
        rebuild
    }
}

/// An error with its causes on one line.
pub fn one_line(error: &impl std::fmt::Display) -> String {
    format!("{error:#}").replace('\n', " ")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compile `bytes` into a component. A core module (what `cargo build
/// --target wasm32-unknown-unknown` produces with the SDK) is first turned
/// into a component from the WIT type information the SDK embeds in it.
pub fn compile(engine: &Engine, path: &Path, bytes: &[u8]) -> Result<Component, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    // Bytes 4..8: version and layer; layer 0 is a core module, 1 a component.
    let is_core_module = bytes[6..8] == [0, 0];
    let component_bytes;
    let bytes = if is_core_module {
        wasmtime::wasmparser::Validator::new()
            .validate_all(bytes)
            .map_err(|e| invalid(e.to_string()))?;
        component_bytes = wit_component::ComponentEncoder::default()
            .module(bytes)
            .and_then(|encoder| encoder.validate(true).encode())
            .map_err(|e| LoadError::NotAPlugin {
                path: path.to_path_buf(),
                message: format!(
                    "core module without usable component type information (build it with p2pmon-plugin-sdk): {}",
                    one_line(&e)
                ),
            })?;
        &component_bytes[..]
    } else {
        bytes
    };
    Component::new(engine, bytes).map_err(|e| invalid(one_line(&e)))
}

/// Whether a plugin built for contract `found` runs on an agent implementing
/// `supported`: same major version and a minor version no newer than the
/// agent's (patch releases never change the interface). For 0.x, the minor
/// version plays the role of the major, as in the component model.
pub fn is_compatible(found: &semver::Version, supported: &semver::Version) -> bool {
    if !found.pre.is_empty() || found.major != supported.major {
        return false;
    }
    if supported.major == 0 {
        found.minor == supported.minor
    } else {
        found.minor <= supported.minor
    }
}

/// Check that `component` is a plugin for a contract this agent supports:
/// it exports `p2pmon:plugin/guest@X.Y.Z` with the same major version and a
/// minor version no newer than the agent's, and imports only contract
/// interfaces.
pub fn check_contract(path: &Path, component: &Component) -> Result<semver::Version, LoadError> {
    let not_a_plugin = |message: String| LoadError::NotAPlugin {
        path: path.to_path_buf(),
        message,
    };
    let engine = component.engine();
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let found = exports
        .iter()
        .find_map(|name| name.strip_prefix(GUEST_INTERFACE))
        .ok_or_else(|| {
            let names: Vec<&str> = exports.iter().map(String::as_str).collect();
            not_a_plugin(format!(
                "it does not export {CONTRACT_PACKAGE}/guest (exports: {}); a Rust plugin needs `export_plugin!(YourPlugin);` at its crate root",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })?;
    let found = semver::Version::parse(found)
        .map_err(|e| not_a_plugin(format!("bad contract version {found:?}: {e}")))?;
    let supported = contract_version();
    if !is_compatible(&found, supported) {
        return Err(LoadError::IncompatibleContract {
            path: path.to_path_buf(),
            found,
            supported: supported.clone(),
        });
    }
    let contract_prefix = format!("{CONTRACT_PACKAGE}/");
    if let Some((name, _)) = ty
        .imports(engine)
        .find(|(name, _)| !name.starts_with(&contract_prefix) && !super::wasi::is_provided(name))
    {
        return Err(not_a_plugin(format!(
            "it imports {name}, which the agent does not provide (plugins may import only {CONTRACT_PACKAGE} interfaces and WASI 0.2's cli, io, clocks, random, filesystem and sockets, which reach nothing)"
        )));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::is_compatible;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).expect("test version")
    }

    #[test]
    fn compatibility_follows_semver() {
        let agent = v("1.2.3");
        for (plugin, ok) in [
            ("1.2.3", true),
            ("1.2.0", true),
            ("1.0.0", true),
            ("1.2.9", true),
            ("1.3.0", false),
            ("2.0.0", false),
            ("0.9.0", false),
            ("1.2.0-rc.1", false),
        ] {
            assert_eq!(
                is_compatible(&v(plugin), &agent),
                ok,
                "plugin {plugin} on agent 1.2.3"
            );
        }
        assert!(is_compatible(&v("0.4.3"), &v("0.4.2")));
        assert!(!is_compatible(&v("0.3.0"), &v("0.4.0")));
    }

    #[test]
    fn agent_contract_version_comes_from_the_wit_file() {
        assert_eq!(super::contract_version().major, 1);
    }

    #[test]
    fn the_sdk_shares_the_agents_version() {
        // SDK_VERSION relies on both crates taking the workspace's version.
        for manifest in [
            include_str!("../../Cargo.toml"),
            include_str!("../../../plugin-sdk/Cargo.toml"),
        ] {
            assert!(
                manifest
                    .lines()
                    .any(|l| l.trim() == "version.workspace = true")
            );
        }
    }

    #[test]
    fn contract_errors_name_versions_that_exist() {
        let error = super::LoadError::IncompatibleContract {
            path: "p.wasm".into(),
            found: v("1.9.0"),
            supported: v("1.2.0"),
        }
        .to_string();
        assert_eq!(
            error,
            format!(
                "p.wasm: built for plugin contract 1.9.0, but this agent loads contracts 1.0.0 to 1.2.0; upgrade the agent, or rebuild the plugin with p2pmon-plugin-sdk {} (the SDK of this agent's release, which builds contract 1.2.0)",
                super::SDK_VERSION
            )
        );
        let older = super::LoadError::IncompatibleContract {
            path: "p.wasm".into(),
            found: v("0.3.0"),
            supported: v("1.2.0"),
        }
        .to_string();
        assert!(!older.contains("upgrade the agent"), "{older}");
    }
}
