//! The plugin run natively against the SDK's mock host.

use p2pmon_plugin_sdk::sql::Value;
use p2pmon_plugin_sdk::testing::{Harness, rows};

use super::GamePlugin;

#[test]
fn counts_players_per_map_from_the_char_table() {
    let mut plugin = Harness::<GamePlugin>::new();
    plugin.host().config("logs", "").sql_matching(
        "main",
        "FROM `char`",
        rows(
            &["last_map", "COUNT(*)"],
            vec![
                vec![Value::Text("prontera".to_string()), Value::Int(12)],
                vec![Value::Text("geffen".to_string()), Value::Int(3)],
            ],
        ),
    );
    let out = plugin.collect().expect("collect");
    let players: Vec<(Option<&str>, f64)> = out
        .metrics_named("player_count")
        .map(|m| (m.tag_value("map"), m.value()))
        .collect();
    assert!(players.contains(&(None, 15.0)), "{players:?}");
    assert!(players.contains(&(Some("prontera"), 12.0)), "{players:?}");
    let queries = plugin.host().queries();
    assert!(
        queries
            .iter()
            .any(|(connection, statement, _)| connection == "main"
                && statement.contains("FROM `char` WHERE online > 0")),
        "{queries:?}"
    );
}
