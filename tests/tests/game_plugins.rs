//! The game, network and anti-cheat plugins, built from plugins/ and run by
//! an in-process agent against a simulated rAthena host in the real MariaDB.

use std::time::Duration;

use p2pmon_common::wire::Severity;
use p2pmon_hostsim::Incident;
use p2pmon_tests::world::{World, events, metrics, round, value};

#[tokio::test]
async fn game_plugin_reports_the_simulated_world() -> anyhow::Result<()> {
    let world = World::new("game").await?;
    world.sim.set_players("prt_fild08", 37).await?;
    world.sim.set_players("prontera", 12).await?;
    world.sim.set_players("geffen", 5).await?;
    world.sim.write_map_status().await?;
    let mut agent = world.agent("", &world.game_plugin()).await?;

    let first = round(&mut agent).await?;
    assert_eq!(
        value(&first, "player_count", &[("map", "prt_fild08")]),
        Some(37.0)
    );
    assert_eq!(
        value(&first, "player_count", &[("map", "prontera")]),
        Some(12.0)
    );
    assert_eq!(value(&first, "player_count", &[]), Some(54.0));
    assert_eq!(
        value(&first, "map_status", &[]),
        Some(1.0),
        "map-server port is listening"
    );
    assert_eq!(
        value(&first, "map_status", &[("map", "prt_fild08")]),
        Some(1.0)
    );
    // The simulator's NPC-script stand-in writes 40 + 7 per letter of the name.
    assert_eq!(
        value(&first, "mob_count", &[("map", "prt_fild08")]),
        Some(110.0)
    );
    assert_eq!(
        value(&first, "item_count", &[]),
        Some(0.0),
        "history is not counted"
    );
    assert!(
        events(&first, None).is_empty(),
        "{:?}",
        events(&first, None)
    );

    // Items: monster drops count, a player picking up 1,500 items does not
    // (it only moves items). Zeny: per type and in total.
    let mut conn = mysql_async::Conn::from_url(format!(
        "{}/{}",
        p2pmon_tests::world::MARIADB,
        world.config.logs_db
    ))
    .await?;
    use mysql_async::prelude::Queryable;
    conn.query_drop(
        "INSERT INTO picklog (char_id, type, nameid, amount, map, time) VALUES
         (150000, 'M', 501, 4, 'prt_fild08', NOW()), (150001, 'M', 502, 3, 'prt_fild08', NOW()),
         (150002, 'A', 607, 10, 'prontera', NOW()), (150003, 'P', 7227, 1500, 'prontera', NOW()),
         (150004, 'C', 501, -1, 'geffen', NOW());
         INSERT INTO zenylog (time, char_id, src_id, type, amount, map) VALUES
         (NOW(), 150000, 0, 'M', 700, 'prt_fild08'), (NOW(), 150001, 0, 'S', 300, 'prontera'),
         (NOW(), 150002, 150003, 'T', 5000, 'prontera');",
    )
    .await?;
    // A map whose NPC-script row went stale is down; players leave a map.
    let mut main = mysql_async::Conn::from_url(format!(
        "{}/{}",
        p2pmon_tests::world::MARIADB,
        world.config.main_db
    ))
    .await?;
    main.query_drop(
        "UPDATE p2pmon_map_status SET updated = NOW() - INTERVAL 1 HOUR WHERE map = 'geffen'",
    )
    .await?;
    world.sim.set_players("prt_fild08", 30).await?;

    let second = round(&mut agent).await?;
    assert_eq!(value(&second, "item_count", &[]), Some(17.0));
    assert_eq!(value(&second, "zeny_flow", &[("type", "T")]), Some(5000.0));
    assert_eq!(value(&second, "zeny_flow", &[]), Some(6000.0));
    assert_eq!(
        value(&second, "player_count", &[("map", "prt_fild08")]),
        Some(30.0)
    );
    assert_eq!(
        value(&second, "map_status", &[("map", "geffen")]),
        Some(0.0)
    );
    assert_eq!(
        value(&second, "mob_count", &[("map", "geffen")]),
        None,
        "stale mobs are not reported"
    );
    assert_eq!(
        value(&second, "map_status", &[("map", "prontera")]),
        Some(1.0)
    );

    agent.close().await;
    drop((conn, main));
    world.close().await
}

#[tokio::test]
async fn a_stopped_map_server_takes_every_map_down() -> anyhow::Result<()> {
    let world = World::new("mapdown").await?;
    world.sim.set_players("payon", 3).await?;
    world.sim.write_map_status().await?;
    let closed = p2pmon_tests::aggregator::free_port()?;
    let plugin = world.game_plugin().replace(
        &world.map_server.to_string(),
        &format!("127.0.0.1:{closed}"),
    );
    let mut agent = world.agent("", &plugin).await?;
    let records = round(&mut agent).await?;
    assert_eq!(value(&records, "map_status", &[]), Some(0.0));
    assert_eq!(
        value(&records, "map_status", &[("map", "payon")]),
        Some(0.0)
    );
    assert_eq!(
        value(&records, "player_count", &[("map", "payon")]),
        Some(3.0)
    );
    agent.close().await;
    world.close().await
}

#[tokio::test]
async fn anticheat_is_quiet_on_a_clean_host_and_reports_each_incident() -> anyhow::Result<()> {
    let world = World::new("anticheat").await?;
    world
        .sim
        .populate(60, &p2pmon_hostsim::DEFAULT_MAPS.map(String::from))
        .await?;
    let plugin = world.anticheat_plugin("score_alert: 45,");
    let mut agent = world.agent("", &plugin).await?;

    // A clean, busy host: rounds of normal play raise nothing.
    for _ in 0..4 {
        world.sim.tick().await?;
        let records = round(&mut agent).await?;
        assert!(
            events(&records, None).is_empty(),
            "clean host: {:?}",
            events(&records, None)
        );
        assert_eq!(
            value(&records, "security_events", &[("kind", "hack_trade")]),
            Some(0.0)
        );
    }

    for (incident, count) in [
        (Incident::Ddos, 1),
        (Incident::UnsupportedPacket, 25),
        (Incident::MalformedPacket, 1),
        (Incident::Hack, 1),
        (Incident::FailedLogins, 30),
        (Incident::GmAbuse, 4),
        (Incident::EconomySpike, 3),
    ] {
        world.sim.inject(incident, count).await?;
    }
    let records = round(&mut agent).await?;
    let one = |kind: &str| {
        let found = events(&records, Some(kind));
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        found[0].clone()
    };
    let ddos = one("ddos_detected");
    assert_eq!(ddos.severity, Severity::Critical);
    assert_eq!(ddos.fields["ip"], "203.0.113.66");
    let unsupported = one("unsupported_packet");
    assert_eq!(unsupported.fields["count"], "25");
    assert_eq!(
        unsupported.severity,
        Severity::Critical,
        "25 is a burst (>= 20)"
    );
    assert_eq!(one("malformed_packet").severity, Severity::Warning);
    let trade = one("hack_trade");
    assert_eq!(trade.fields["account_id"], "2000001");
    assert_eq!(trade.fields["character"], "Hero2000001");
    assert_eq!(one("hack_name_request").fields["account_id"], "2000002");
    assert_eq!(
        value(
            &records,
            "security_events",
            &[("kind", "unsupported_packet")]
        ),
        Some(25.0)
    );

    let burst = one("failed_login_burst");
    assert_eq!(burst.fields["ip"], "192.0.2.99");
    assert_eq!(burst.fields["failures"], "30");
    assert_eq!(burst.fields["accounts"], "3");
    assert_eq!(
        events(&records, Some("failed_login_account")).len(),
        3,
        "10 failures each on 3 accounts"
    );
    assert_eq!(value(&records, "failed_logins", &[]), Some(30.0));

    let gm = events(&records, Some("gm_item_creation"));
    assert_eq!(gm.len(), 4);
    assert!(
        gm.iter()
            .all(|e| e.fields["account_id"] == "2000005" && e.severity == Severity::Critical)
    );
    assert_eq!(value(&records, "gm_item_commands", &[]), Some(4.0));

    let economy = events(&records, Some("economy_anomaly"));
    assert_eq!(economy.len(), 2, "items and zeny: {economy:?}");
    let items = economy
        .iter()
        .find(|e| e.fields["resource"] == "items")
        .expect("items anomaly");
    assert_eq!(items.fields["amount"], "1500");
    assert_eq!(items.fields["char_id"], "150007");
    assert!(items.fields.contains_key("account_id"), "{items:?}");

    // Hack on trade (50) crossed the configured alert level of 45.
    let suspicious = events(&records, Some("suspicious_account"));
    assert!(
        suspicious
            .iter()
            .any(|e| e.fields["account_id"] == "2000001"),
        "{suspicious:?}"
    );
    assert_eq!(
        value(&records, "suspicion_score", &[("account_id", "2000001")]),
        Some(50.0)
    );

    // The same burst is not reported again, and the log was read once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = round(&mut agent).await?;
    assert!(
        events(&again, None).is_empty(),
        "{:?}",
        events(&again, None)
    );

    agent.close().await;
    world.close().await
}

#[tokio::test]
async fn network_plugin_measures_peers_targets_and_map_server_connections() -> anyhow::Result<()> {
    use p2pmon_agent::access::net::{bind_echo_responder, run_echo_responder};

    let world = World::new("network").await?;
    // A peer agent's echo responder, and a peer that does not answer.
    let echo = bind_echo_responder("127.0.0.1:0").await?;
    let echo_addr = echo.local_addr()?;
    tokio::spawn(run_echo_responder(echo, 1000));
    let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let silent_addr = silent.local_addr()?;
    // A map-server that keeps its clients: five connections from one address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let map_port = listener.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            kept.push(stream);
        }
    });
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(tokio::net::TcpStream::connect(("127.0.0.1", map_port)).await?);
    }

    let plugin = format!(
        r#"  - name: network
    file: p2pmon_plugin_network.wasm
    capabilities: [net, system, config, clock]
    grants: {{ net: ["127.0.0.1:*"] }}
    config:
      aggregator: "127.0.0.1:{map_port}"
      peers: "host-b={echo_addr}, host-c={silent_addr}"
      echo_count: 4
      echo_spacing_ms: 5
      timeout_ms: 300
      map_server_port: {map_port}
      flood_connections: 5
"#
    );
    let mut agent = world.agent("", &plugin).await?;
    let first = round(&mut agent).await?;
    assert_eq!(
        value(&first, "packet_loss", &[("target", "host-b")]),
        Some(0.0)
    );
    assert_eq!(
        value(&first, "packet_loss", &[("target", "host-c")]),
        Some(100.0)
    );
    let rtt = value(&first, "network_latency", &[("target", "host-b")]).expect("rtt to host-b");
    assert!(rtt > 0.0 && rtt < 300.0, "{rtt}");
    assert!(value(&first, "network_jitter", &[("target", "host-b")]).is_some());
    assert_eq!(
        value(&first, "network_latency", &[("target", "host-c")]),
        None
    );
    assert_eq!(
        value(&first, "target_up", &[("target", "aggregator")]),
        Some(1.0)
    );
    assert!(value(&first, "network_latency", &[("target", "aggregator")]).is_some());
    let port = map_port.to_string();
    // Five clients, both ends on this machine: the server side counts.
    let established = value(&first, "connection_count", &[("port", &port)]).expect("connections");
    assert!(established >= 5.0, "{established}");
    let flood = events(&first, Some("connection_flood"));
    assert_eq!(flood.len(), 1, "{flood:?}");
    assert_eq!(flood[0].fields["ip"], "127.0.0.1");
    assert!(metrics(&first, "bandwidth_usage").all(|m| m.tags["interface"] != "lo"));

    // Rates need two rounds.
    assert_eq!(value(&first, "new_connection_rate", &[]), None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = round(&mut agent).await?;
    assert!(value(&second, "new_connection_rate", &[]).is_some_and(|r| r >= 0.0));
    assert!(value(&second, "network_error_rate", &[]).is_some());

    agent.close().await;
    held.abort();
    drop(clients);
    world.close().await
}

#[tokio::test]
async fn an_ungranted_probe_is_reported_once_and_the_rest_still_collected() -> anyhow::Result<()> {
    let world = World::new("noprobe").await?;
    world.sim.set_players("izlude", 4).await?;
    let plugin = world
        .game_plugin()
        .replace(
            "capabilities: [sql, net, config]",
            "capabilities: [sql, config]",
        )
        .replace(&format!(", net: [\"{}\"]", world.map_server), "");
    let mut agent = world.agent("", &plugin).await?;
    let first = round(&mut agent).await?;
    let failed = events(&first, Some("probe_failed"));
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].fields["error"].contains("`net` not granted"),
        "{failed:?}"
    );
    assert_eq!(
        value(&first, "player_count", &[("map", "izlude")]),
        Some(4.0)
    );
    let second = round(&mut agent).await?;
    assert!(
        events(&second, Some("probe_failed")).is_empty(),
        "not repeated"
    );
    agent.close().await;
    world.close().await
}
