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

    let npc = |map| [("map", map), ("source", "npc_table")];
    let first = round(&mut agent).await?;
    assert_eq!(
        value(&first, "player_count", &npc("prt_fild08")),
        Some(37.0)
    );
    assert_eq!(value(&first, "player_count", &npc("prontera")), Some(12.0));
    assert_eq!(value(&first, "player_count", &[]), Some(54.0));
    assert_eq!(
        value(&first, "server_up", &[("server", "map")]),
        Some(1.0),
        "map-server port is listening"
    );
    assert_eq!(value(&first, "map_status", &[]), Some(1.0));
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

    // Players leave a map and the NPC script sees it; a map whose row went
    // stale is down and its players come from char.last_map.
    world.sim.set_players("prt_fild08", 30).await?;
    world.sim.write_map_status().await?;
    let mut main = mysql_async::Conn::from_url(format!(
        "{}/{}",
        p2pmon_tests::world::MARIADB,
        world.config.main_db
    ))
    .await?;
    use mysql_async::prelude::Queryable;
    main.query_drop(
        "UPDATE p2pmon_map_status SET updated = NOW() - INTERVAL 1 HOUR WHERE map = 'geffen'",
    )
    .await?;

    let second = round(&mut agent).await?;
    assert_eq!(
        value(&second, "player_count", &npc("prt_fild08")),
        Some(30.0)
    );
    assert_eq!(
        value(
            &second,
            "player_count",
            &[("map", "geffen"), ("source", "last_map")]
        ),
        Some(5.0)
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

    // Every row stale while the port answers: the map-server is not
    // serving, said once.
    main.query_drop("UPDATE p2pmon_map_status SET updated = NOW() - INTERVAL 1 HOUR")
        .await?;
    let third = round(&mut agent).await?;
    assert_eq!(value(&third, "server_up", &[("server", "map")]), Some(1.0));
    assert_eq!(value(&third, "map_status", &[]), Some(0.0));
    assert_eq!(events(&third, Some("map_server_stalled")).len(), 1);
    let fourth = round(&mut agent).await?;
    assert!(
        events(&fourth, Some("map_server_stalled")).is_empty(),
        "not repeated"
    );

    agent.close().await;
    drop(main);
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
    assert_eq!(
        value(&records, "server_up", &[("server", "map")]),
        Some(0.0)
    );
    assert_eq!(value(&records, "map_status", &[]), Some(0.0));
    assert_eq!(
        value(&records, "map_status", &[("map", "payon")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &records,
            "player_count",
            &[("map", "payon"), ("source", "npc_table")]
        ),
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
    let online = world.sim.online().await?;
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
            value(&records, "security_events", &[("kind", "malformed_packet")]),
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
    assert_eq!(one("invalid_packet_length").fields["packet"], "0x0072");
    assert_eq!(one("truncated_packet").fields["session"], "18");
    // The hacked client's lines: one names the player, one the account;
    // the other half comes from `char`.
    let malformed = events(&records, Some("malformed_packet"));
    assert_eq!(malformed.len(), 2, "{malformed:?}");
    for who in &online[1..3] {
        let found = malformed
            .iter()
            .find(|e| e.fields["account_id"] == who.account_id.to_string())
            .unwrap_or_else(|| panic!("{} in {malformed:?}", who.account_id));
        assert_eq!(found.severity, Severity::Warning);
        if found.fields.contains_key("character") {
            assert_eq!(found.fields["character"], who.name);
        }
    }
    assert!(
        malformed
            .iter()
            .any(|e| e.fields.get("character") == Some(&online[1].name))
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
    let gm_account = online[0].account_id.to_string();
    assert!(
        gm.iter()
            .all(|e| e.fields["account_id"] == gm_account && e.severity == Severity::Critical)
    );
    assert_eq!(value(&records, "gm_item_commands", &[]), Some(4.0));

    // 1,500 items from a script plus the GM's 200; 1,000,000,000 zeny from
    // the script plus the GM's 200,000,000.
    let economy = events(&records, Some("economy_anomaly"));
    assert_eq!(economy.len(), 2, "items and zeny: {economy:?}");
    let spiker = online.last().expect("characters online");
    let items = economy
        .iter()
        .find(|e| e.fields["resource"] == "items")
        .expect("items anomaly");
    assert_eq!(items.fields["amount"], "1700");
    assert_eq!(items.fields["char_id"], spiker.char_id.to_string());
    assert_eq!(items.fields["account_id"], spiker.account_id.to_string());
    let zeny = economy
        .iter()
        .find(|e| e.fields["resource"] == "zeny")
        .expect("zeny anomaly");
    assert_eq!(zeny.fields["amount"], "1200000000");

    // Scores: 4 GM creations (10 each), one malformed packet (20), two
    // anomalies (40 each) for the character that gained; only the last
    // crossed the configured alert level of 45.
    assert_eq!(
        value(&records, "suspicion_score", &[("account_id", &gm_account)]),
        Some(40.0)
    );
    assert_eq!(
        value(
            &records,
            "suspicion_score",
            &[("account_id", &online[1].account_id.to_string())]
        ),
        Some(20.0)
    );
    let suspicious = events(&records, Some("suspicious_account"));
    assert_eq!(suspicious.len(), 1, "{suspicious:?}");
    assert_eq!(
        suspicious[0].fields["account_id"],
        spiker.account_id.to_string()
    );
    assert_eq!(suspicious[0].fields["score"], "80");

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
        value(
            &first,
            "player_count",
            &[("map", "izlude"), ("source", "last_map")]
        ),
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

/// An hour on a small server, written as rAthena writes it: every figure
/// and event below is worked out by hand from rAthena's rules.
#[tokio::test]
async fn a_scripted_hour_gives_rathenas_figures_and_events() -> anyhow::Result<()> {
    use mysql_async::prelude::Queryable;
    let world = World::new("hour").await?;
    world.sim.set_players("prontera", 6).await?;
    world.sim.set_players("payon", 3).await?;
    world.sim.write_map_status().await?;
    let online = world.sim.online().await?;
    // A name with a space, for the quoted `#item` form.
    let mut main = mysql_async::Conn::from_url(format!(
        "{}/{}",
        p2pmon_tests::world::MARIADB,
        world.config.main_db
    ))
    .await?;
    main.exec_drop(
        "UPDATE `char` SET name = 'Char Name' WHERE char_id = ?",
        (online[1].char_id,),
    )
    .await?;
    let (a, b, c, gm) = (
        world.sim.character(online[0].char_id).await?,
        world.sim.character(online[1].char_id).await?,
        world.sim.character(online[2].char_id).await?,
        world.sim.character(online[3].char_id).await?,
    );
    let plugins = format!(
        "{}{}",
        world.game_plugin(),
        world.anticheat_plugin("failed_login_window_s: 3600,")
    );
    let mut agent = world.agent("", &plugins).await?;
    let first = round(&mut agent).await?;
    assert!(
        events(&first, None).is_empty(),
        "{:?}",
        events(&first, None)
    );

    let sim = &world.sim;
    // Monster drops (M -n from the monster, P +n on the player), a steal,
    // an MVP prize: 16 + 1 + 1 items entered the world.
    sim.monster_drop(1002, &a, 501, 4).await?;
    sim.monster_drop(1063, &b, 705, 2).await?;
    sim.monster_drop(1031, &c, 909, 10).await?;
    sim.steal(1002, &a, 909).await?;
    sim.mvp_prize(1039, &b, 607).await?;
    // Moves: a trade, a vending sale, storage and guild storage (a large
    // withdrawal), the bank (a large withdrawal): nothing created.
    sim.exchange('T', &a, &b, 501, 2, 5_000).await?;
    sim.exchange('V', &c, &a, 909, 5, 10_000).await?;
    sim.storage('R', &a, 501, -2).await?;
    sim.storage('R', &b, 7227, 1_500).await?;
    sim.storage('G', &c, 7227, 300).await?;
    sim.bank(&c, -200_000_000).await?;
    sim.bank(&c, 300_000_000).await?;
    // An NPC shop purchase (S +10 items, S -500 zeny), monster zeny.
    sim.shop_buy(&a, 501, 10, 500).await?;
    sim.monster_zeny(&b, 700).await?;
    // GM commands in every form, with the rows they leave.
    sim.gm_command(&gm, "@item \"Red Potion\" 10", &gm, &[(501, 10)], 0)
        .await?;
    sim.gm_command(&gm, "@item 501:502 10", &gm, &[(501, 10), (502, 10)], 0)
        .await?;
    sim.gm_command(&gm, "#item \"Char Name\" 607 10", &b, &[(607, 10)], 0)
        .await?;
    sim.gm_command(&gm, "@zeny -1000000", &gm, &[], -1_000_000)
        .await?;
    sim.gm_command(&gm, "@zeny 5000", &gm, &[], 5_000).await?;
    sim.gm_command(&gm, "@warp prontera 150 150", &gm, &[], 0)
        .await?;
    // Logins: one of every refusal code from one address, a password
    // attack on c, a banned player retrying, an ip-banned address, PIN
    // failures on b, successes and a char-server connecting.
    for rcode in (0..=15).chain(99..=104).filter(|r| *r != 100) {
        sim.login_attempt("198.51.100.200", "probe", rcode).await?;
    }
    for _ in 0..12 {
        sim.login_attempt("192.0.2.50", &c.userid, 1).await?;
    }
    for _ in 0..8 {
        sim.login_attempt(&a.last_ip, &a.userid, 6).await?;
    }
    for _ in 0..15 {
        sim.ip_banned("192.0.2.77").await?;
    }
    for _ in 0..5 {
        sim.pin_failed(&b).await?;
    }
    for who in [&a, &b, &c] {
        sim.login_attempt(&who.last_ip, &who.userid, 100).await?;
    }
    sim.char_server_connected().await?;
    // Two players warp from prontera to geffen: the NPC table knows, last_map
    // does not until the next save. payon's row goes stale.
    sim.warp_unsaved("prontera", "geffen", 2).await?;
    main.query_drop(
        "UPDATE p2pmon_map_status SET updated = NOW() - INTERVAL 1 HOUR WHERE map = 'payon'",
    )
    .await?;

    let records = round(&mut agent).await?;
    // Items: M 16, D 1, U 1, A 40 (10 + 10 of two ids + 10 on the target),
    // S 10; the 1,800 withdrawn from storage and every move count nothing.
    for (kind, expected) in [
        ("M", 16.0),
        ("D", 1.0),
        ("U", 1.0),
        ("A", 40.0),
        ("S", 10.0),
        ("N", 0.0),
    ] {
        assert_eq!(
            value(&records, "item_count", &[("type", kind)]),
            Some(expected),
            "{kind}"
        );
    }
    assert_eq!(value(&records, "item_count", &[]), Some(68.0));
    assert_eq!(value(&records, "item_count", &[("type", "R")]), None);
    // Zeny: volume counts both sides, net what the purses gained.
    for (kind, flow, net) in [
        ("T", 10_000.0, 0.0),
        ("V", 20_000.0, 0.0),
        ("K", 500_000_000.0, 100_000_000.0),
        ("S", 500.0, -500.0),
        ("M", 700.0, 700.0),
        ("A", 1_005_000.0, -995_000.0),
    ] {
        assert_eq!(
            value(&records, "zeny_flow", &[("type", kind)]),
            Some(flow),
            "{kind}"
        );
        assert_eq!(
            value(&records, "zeny_net", &[("type", kind)]),
            Some(net),
            "{kind}"
        );
    }
    assert_eq!(value(&records, "zeny_flow", &[]), Some(501_036_200.0));
    assert_eq!(value(&records, "zeny_net", &[]), Some(99_005_200.0));
    // Players: the NPC table's exact users, last_map for the stale map.
    let npc = |map| [("map", map), ("source", "npc_table")];
    assert_eq!(value(&records, "player_count", &npc("prontera")), Some(4.0));
    assert_eq!(value(&records, "player_count", &npc("geffen")), Some(2.0));
    assert_eq!(
        value(
            &records,
            "player_count",
            &[("map", "payon"), ("source", "last_map")]
        ),
        Some(3.0)
    );
    assert_eq!(value(&records, "player_count", &[]), Some(9.0));

    // Logins by reason. Sweep: 0, 1, 11 ban codes, 8 other refusals.
    for (reason, expected) in [
        ("wrong_password", 13.0),
        ("unknown_account", 1.0),
        ("banned", 19.0),
        ("ip_banned", 15.0),
        ("pin_failure", 5.0),
        ("refused", 8.0),
    ] {
        assert_eq!(
            value(&records, "failed_logins", &[("reason", reason)]),
            Some(expected),
            "{reason}"
        );
    }
    assert_eq!(value(&records, "failed_logins", &[]), Some(61.0));
    let burst = events(&records, Some("failed_login_burst"));
    assert_eq!(
        burst.len(),
        1,
        "not the banned or ip-banned retries: {burst:?}"
    );
    assert_eq!(burst[0].fields["ip"], "192.0.2.50");
    assert_eq!(burst[0].fields["failures"], "12");
    let accounts = events(&records, Some("failed_login_account"));
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    let on = |user: &str| {
        accounts
            .iter()
            .find(|e| e.fields["user"] == user)
            .unwrap_or_else(|| panic!("{user} in {accounts:?}"))
    };
    assert_eq!(on(&c.userid).fields["failures"], "12");
    assert_eq!(on(&b.userid).fields["pin_failures"], "5");

    // GM commands: four creations naming the GM and the target, one removal.
    let created = events(&records, Some("gm_item_creation"));
    assert_eq!(created.len(), 4, "{created:?}");
    assert!(
        created
            .iter()
            .all(|e| e.fields["account_id"] == gm.account_id.to_string()
                && e.fields["character"] == gm.name)
    );
    let by_command = |command: &str| {
        created
            .iter()
            .find(|e| e.fields["command"] == command)
            .unwrap_or_else(|| panic!("{command} in {created:?}"))
    };
    assert_eq!(
        by_command("@item \"Red Potion\" 10").fields["items"],
        "Red Potion"
    );
    assert_eq!(by_command("@item 501:502 10").fields["amount"], "20");
    let hash = by_command("#item \"Char Name\" 607 10");
    assert_eq!(
        (
            hash.fields["target"].as_str(),
            hash.fields["amount"].as_str()
        ),
        ("Char Name", "10")
    );
    assert_eq!(by_command("@zeny 5000").fields["target"], gm.name);
    let removal = events(&records, Some("gm_zeny_removal"));
    assert_eq!(removal.len(), 1);
    assert_eq!(removal[0].fields["zeny"], "-1000000");
    assert_eq!(value(&records, "gm_item_commands", &[]), Some(5.0));

    // No economy anomaly: 68 items and 5,700 zeny entered the world, far
    // under the floors, whatever storage and the bank handed back.
    assert!(events(&records, Some("economy_anomaly")).is_empty());
    let expected: std::collections::BTreeSet<&str> = [
        "failed_login_burst",
        "failed_login_account",
        "gm_item_creation",
        "gm_zeny_removal",
    ]
    .into();
    let seen: std::collections::BTreeSet<&str> = events(&records, None)
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(seen, expected);

    agent.close().await;
    drop(main);
    world.close().await
}

/// Lines exactly as rAthena's showmsg.cpp writes the console log file with
/// `console_msg_log: 3`, colour codes and all: every detector fires once,
/// with the player and account.
#[tokio::test]
async fn console_lines_in_rathenas_file_format_name_the_player_and_account() -> anyhow::Result<()> {
    use std::io::Write;
    let world = World::new("console").await?;
    world.sim.set_players("prontera", 3).await?;
    let online = world.sim.online().await?;
    let mut agent = world.agent("", &world.anticheat_plugin("")).await?;
    round(&mut agent).await?;

    let stamp = "(12/01/2026 21:41:45)";
    let lines = [
        format!(
            "{stamp} [ Warning ] : connect_check: DDoS Attack detected from \u{1b}[1;37m203.0.113.66\u{1b}[0m!"
        ),
        format!(
            "{stamp} [ Warning ] : clif_parse: Received unsupported packet (packet 0x0f00, 12 bytes received), disconnecting session #40."
        ),
        format!(
            "{stamp} [ Warning ] : clif_parse: Received packet 0x0072 specifies invalid packet_len (9000), disconnecting session #17."
        ),
        format!(
            "{stamp} [ Warning ] : clif_parse: Received packet 0x0437 with expected packet length 7, but only 3 bytes remaining, disconnecting session #18."
        ),
        format!(
            "{stamp} [ Warning ] : clif_process_message: Received malformed packet from player '{}' (no message data)!",
            online[0].name
        ),
        format!(
            "{stamp} [ Error ] : clif_parse_SearchStoreInfo: Malformed packet (expected length=12, length=9, account_id={}).",
            online[1].account_id
        ),
        format!(
            "{stamp} [ Warning ] : Player {} sent incorrect cash shop buy packet (len 10:14)!",
            online[2].char_id
        ),
        format!("{stamp} [ Warning ] : Connection to Char Server lost.\n"),
        // Neither reaches a real file; a line here is still not an event.
        format!(
            "{stamp} [ Warning ] : Hack on trade: character 'X' (account: 1) try to trade more items that he has."
        ),
        format!("{stamp} [ Warning ] : Using the default user/password s1/p1 is NOT RECOMMENDED."),
    ];
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&world.config.log_file)?;
    for line in &lines {
        writeln!(file, "{line}")?;
    }
    drop(file);

    let records = round(&mut agent).await?;
    let one = |kind: &str| {
        let found = events(&records, Some(kind));
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        found[0].clone()
    };
    assert_eq!(one("ddos_detected").fields["ip"], "203.0.113.66");
    assert!(
        !one("ddos_detected").fields["sample"].contains('\u{1b}'),
        "colours stripped"
    );
    let unsupported = one("unsupported_packet");
    assert_eq!(
        (
            unsupported.fields["packet"].as_str(),
            unsupported.fields["session"].as_str()
        ),
        ("0x0f00", "40")
    );
    assert_eq!(one("invalid_packet_length").fields["session"], "17");
    assert_eq!(one("truncated_packet").fields["packet"], "0x0437");
    let malformed = events(&records, Some("malformed_packet"));
    assert_eq!(malformed.len(), 3, "{malformed:?}");
    let of = |account: u32| {
        malformed
            .iter()
            .find(|e| e.fields["account_id"] == account.to_string())
            .unwrap_or_else(|| panic!("{account} in {malformed:?}"))
    };
    // By name: the account from `char`. By account id. By char id: both.
    assert_eq!(of(online[0].account_id).fields["character"], online[0].name);
    assert!(
        of(online[1].account_id).fields["sample"]
            .contains("[ Error ] : clif_parse_SearchStoreInfo")
    );
    let cash = of(online[2].account_id);
    assert_eq!(cash.fields["character"], online[2].name);
    assert_eq!(cash.fields["char_id"], online[2].char_id.to_string());
    assert_eq!(
        one("char_server_lost").severity,
        Severity::Critical,
        "the port answers, nobody can log in"
    );
    for kind in [
        "char_server_lost",
        "ddos_detected",
        "unsupported_packet",
        "invalid_packet_length",
        "truncated_packet",
        "malformed_packet",
    ] {
        let expected = if kind == "malformed_packet" { 3.0 } else { 1.0 };
        assert_eq!(
            value(&records, "security_events", &[("kind", kind)]),
            Some(expected),
            "{kind}"
        );
    }
    assert_eq!(
        events(&records, None).len(),
        8,
        "{:?}",
        events(&records, None)
    );
    agent.close().await;
    world.close().await
}

/// A type letter that is not rAthena's, or one counted twice, is refused
/// with the key and the letters rAthena has; nothing is reported wrong.
#[tokio::test]
async fn type_lists_that_are_not_rathenas_are_refused() -> anyhow::Result<()> {
    let world = World::new("badtypes").await?;
    let game = world.game_plugin().replace(
        "login_server: \"\"",
        "login_server: \"\", created_item_types: \"A,Monster\"",
    );
    let mut agent = world.agent("", &game).await?;
    let error = round(&mut agent).await.expect_err("refused").to_string();
    assert!(
        error.contains("created_item_types")
            && error.contains("\"Monster\"")
            && error.contains("MPLTV"),
        "{error}"
    );
    agent.close().await;

    let anticheat =
        world.anticheat_plugin("monster_item_types: \"M,D,U\", created_item_types: \"A,U\",");
    let mut agent = world.agent("", &anticheat).await?;
    let error = round(&mut agent).await.expect_err("refused").to_string();
    assert!(error.contains("'U'") && error.contains("both"), "{error}");
    agent.close().await;
    world.close().await
}
