//! The plugin run natively against the SDK's mock host.

use p2pmon_plugin_sdk::Severity;
use p2pmon_plugin_sdk::testing::Harness;

use super::AntiCheatPlugin;

const LOG: &str = "/opt/rathena/log/map-msg_log.log";

#[test]
fn a_ddos_line_appended_to_the_console_log_is_an_event() {
    let mut plugin = Harness::<AntiCheatPlugin>::new();
    plugin
        .host()
        .config("log_file", LOG)
        .config("logs", "")
        .file(
            LOG,
            "(12/01/2026 21:00:00) [ Status ] : old line before the agent started\n",
        );
    // The first tail starts at the end: old lines are not reported.
    let out = plugin.collect().expect("collect");
    assert!(out.first_event("ddos_detected").is_none());

    plugin.host().append(
        LOG,
        "(12/01/2026 21:41:45) [ Warning ] : connect_check: DDoS Attack detected from 203.0.113.66!\n",
    );
    let out = plugin.collect().expect("collect");
    let event = out.first_event("ddos_detected").expect("event");
    assert_eq!(event.severity(), Severity::Critical);
    let count = out
        .metrics_named("security_events")
        .find(|m| m.tag_value("kind") == Some("ddos_detected"))
        .map(|m| m.value());
    assert_eq!(count, Some(1.0));
    assert!(plugin.host().calls().contains(&"file.tail"));
}

#[test]
fn a_console_log_that_appears_later_is_read_from_its_first_line() {
    let mut plugin = Harness::<AntiCheatPlugin>::new();
    plugin
        .host()
        .config("log_file", LOG)
        .config("logs", "")
        .missing_file(LOG);
    let out = plugin.collect().expect("collect");
    assert!(out.first_event("log_unavailable").is_some());
    // rAthena creates the file with its first warning line: that line is new.
    plugin.host().append(
        LOG,
        "(12/01/2026 21:41:45) [ Warning ] : connect_check: DDoS Attack detected from 203.0.113.66!\n",
    );
    let out = plugin.collect().expect("collect");
    assert!(
        out.first_event("ddos_detected").is_some(),
        "the first line counts"
    );
}
