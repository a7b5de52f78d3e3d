//! Files that are not loadable plugins each give a one-line error naming the
//! file: not WASM, truncated, a core module without the contract, a component
//! for another contract version, a component importing what the agent lacks.

use std::path::Path;

use p2pmon_agent::runtime::{LoadError, Runtime, RuntimeOptions};
use p2pmon_tests::build_wasm;

fn runtime() -> Runtime {
    Runtime::new(&RuntimeOptions::default()).expect("runtime")
}

fn load_error(runtime: &Runtime, dir: &Path, name: &str, bytes: &[u8]) -> (LoadError, String) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    let error = match runtime.load(&path) {
        Ok(_) => panic!("{name} loaded but should not"),
        Err(error) => error,
    };
    let text = error.to_string();
    assert!(!text.contains('\n'), "{name}: error spans lines: {text}");
    assert!(
        text.starts_with(&path.display().to_string()),
        "{name}: error does not start with the file: {text}"
    );
    (error, text)
}

/// A component that exports the guest interface at `version`, with no functions.
fn component_for_contract(version: &str) -> Vec<u8> {
    let wat = format!(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $g (export "collect" (func $f)))
            (export "p2pmon:plugin/guest@{version}" (instance $g)))"#
    );
    wat::parse_str(wat).expect("fixture WAT")
}

#[test]
fn non_wasm_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (error, _) = load_error(
        &runtime(),
        dir.path(),
        "readme.wasm",
        b"# not wasm at all\n",
    );
    assert!(matches!(error, LoadError::NotWasm { .. }), "{error}");
}

#[test]
fn empty_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (error, _) = load_error(&runtime(), dir.path(), "empty.wasm", b"");
    assert!(matches!(error, LoadError::NotWasm { .. }), "{error}");
}

#[test]
fn truncated_plugin_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let real = std::fs::read(build_wasm("p2pmon-plugin-system")?)?;
    let (error, text) = load_error(
        &runtime(),
        dir.path(),
        "truncated.wasm",
        &real[..real.len() / 2],
    );
    assert!(matches!(error, LoadError::Invalid { .. }), "{text}");
    Ok(())
}

#[test]
fn truncated_component_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = component_for_contract("1.0.0");
    let (error, text) = load_error(&runtime(), dir.path(), "cut.wasm", &full[..full.len() - 7]);
    assert!(matches!(error, LoadError::Invalid { .. }), "{text}");
}

#[test]
fn plugin_for_another_contract_version_names_both_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (error, text) = load_error(
        &runtime(),
        dir.path(),
        "future.wasm",
        &component_for_contract("2.0.0"),
    );
    assert!(
        matches!(error, LoadError::IncompatibleContract { .. }),
        "{text}"
    );
    let supported = p2pmon_agent::runtime::contract_version().to_string();
    assert!(
        text.contains("2.0.0") && text.contains(&supported),
        "{text}"
    );
}

#[test]
fn plugin_for_a_newer_minor_contract_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = p2pmon_agent::runtime::contract_version();
    let newer = format!("{}.{}.0", agent.major, agent.minor + 1);
    let (error, text) = load_error(
        &runtime(),
        dir.path(),
        "newer.wasm",
        &component_for_contract(&newer),
    );
    assert!(
        matches!(error, LoadError::IncompatibleContract { .. }),
        "{text}"
    );
}

#[test]
fn core_module_without_contract_is_not_a_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = wat::parse_str(r#"(module (func (export "collect")))"#).expect("WAT");
    let (error, text) = load_error(&runtime(), dir.path(), "bare.wasm", &module);
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{text}");
}

#[test]
fn component_importing_what_the_agent_lacks_is_refused() {
    // WASI 0.2's cli, io, clocks, random, filesystem and sockets are
    // provided (reaching nothing, for Python and JavaScript plugins);
    // wasi:http is not.
    let dir = tempfile::tempdir().expect("tempdir");
    let wat = r#"(component
        (import "wasi:http/outgoing-handler@0.2.0" (instance))
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func $f (canon lift (core func $i "f")))
        (instance $g (export "collect" (func $f)))
        (export "p2pmon:plugin/guest@1.0.0" (instance $g)))"#;
    let bytes = wat::parse_str(wat).expect("WAT");
    let (error, text) = load_error(&runtime(), dir.path(), "wasi.wasm", &bytes);
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{text}");
    assert!(
        text.contains("it imports wasi:http/outgoing-handler@0.2.0"),
        "{text}"
    );
}

#[test]
fn component_missing_guest_functions_fails_to_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (error, text) = load_error(
        &runtime(),
        dir.path(),
        "hollow.wasm",
        &component_for_contract("1.0.0"),
    );
    assert!(matches!(error, LoadError::Link { .. }), "{text}");
}

#[test]
fn the_same_file_is_compiled_once() -> anyhow::Result<()> {
    let runtime = runtime();
    let wasm = build_wasm("p2pmon-plugin-system")?;
    let first = runtime.load(&wasm)?;
    let second = runtime.load(&wasm)?;
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    Ok(())
}
