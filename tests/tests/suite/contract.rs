//! The two sides of the contract agree: the SDK and the agent name the same
//! capabilities and the same contract version.

use std::collections::BTreeSet;

#[test]
fn sdk_and_agent_know_the_same_capabilities() {
    let sdk: BTreeSet<&str> = p2pmon_plugin_sdk::Capability::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let agent: BTreeSet<&str> = p2pmon_agent::capability::Capability::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(sdk, agent);
}

#[test]
fn sdk_and_agent_implement_the_same_contract_version() {
    assert_eq!(
        p2pmon_plugin_sdk::CONTRACT_VERSION,
        p2pmon_agent::runtime::contract_version().to_string()
    );
}
