//! The host simulator against the real MariaDB on 127.0.0.1:3306: the state
//! it stages reads back the way FluxCP and the plugins read it.

use anyhow::Result;
use mysql_async::prelude::*;
use p2pmon_hostsim::{Incident, Sim, SimConfig, listen_map_port};

const MARIADB: &str = "mysql://root@127.0.0.1:3306";

/// A simulator on databases of its own, dropped at the end.
struct Scratch {
    sim: Sim,
    _dir: tempfile::TempDir,
}

async fn scratch() -> Result<Scratch> {
    let dir = tempfile::tempdir()?;
    let tag = format!("{:08x}", fastrand::u32(..));
    let sim = Sim::new(SimConfig {
        url: MARIADB.to_string(),
        main_db: format!("p2pmon_t{tag}"),
        logs_db: format!("p2pmon_t{tag}_log"),
        log_file: dir.path().join("log/map-msg_log.log"),
    })?;
    sim.setup().await?;
    Ok(Scratch { sim, _dir: dir })
}

async fn query<T: FromRow + Send + 'static>(sql: String) -> Result<Vec<T>> {
    let pool = mysql_async::Pool::new(MARIADB);
    let mut conn = pool.get_conn().await?;
    let rows = conn.query(sql).await?;
    drop(conn);
    pool.disconnect().await?;
    Ok(rows)
}

impl Scratch {
    async fn finish(self) -> Result<()> {
        self.sim.drop_databases().await?;
        self.sim.close().await
    }

    fn main(&self) -> &str {
        &self.sim.config.main_db
    }

    fn logs(&self) -> &str {
        &self.sim.config.logs_db
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.sim.config.log_file).unwrap_or_default()
    }
}

#[tokio::test]
async fn a_staged_state_reads_back_as_fluxcp_counts_it() -> Result<()> {
    let s = scratch().await?;
    let maps: Vec<String> = ["prontera", "prt_fild08", "geffen", "payon"]
        .map(String::from)
        .into();
    s.sim.populate(120, &maps).await?;
    let total: u32 = s.sim.players_per_map().await?.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 120);

    s.sim.set_players("prt_fild08", 37).await?;
    s.sim.write_map_status().await?;
    // FluxCP's own query.
    let per_map: Vec<(String, u32)> = query(format!(
        "SELECT last_map, COUNT(*) FROM `{}`.`char` WHERE online > 0 GROUP BY last_map",
        s.main()
    ))
    .await?;
    assert!(
        per_map.contains(&("prt_fild08".to_string(), 37)),
        "{per_map:?}"
    );
    let status: Vec<(String, u32)> = query(format!(
        "SELECT map, users FROM `{}`.`p2pmon_map_status` WHERE map = 'prt_fild08'",
        s.main()
    ))
    .await?;
    assert_eq!(
        status,
        [("prt_fild08".to_string(), 37)],
        "the NPC-script table agrees"
    );

    s.sim.set_players("prt_fild08", 5).await?;
    let per_map = s.sim.players_per_map().await?;
    assert!(
        per_map.contains(&("prt_fild08".to_string(), 5)),
        "{per_map:?}"
    );
    s.finish().await
}

#[tokio::test]
async fn ticks_move_players_without_creating_or_losing_any() -> Result<()> {
    let s = scratch().await?;
    let maps: Vec<String> = ["izlude", "morocc", "pay_dun00"].map(String::from).into();
    s.sim.populate(200, &maps).await?;
    let before = s.sim.players_per_map().await?;
    for _ in 0..5 {
        s.sim.tick().await?;
    }
    let after = s.sim.players_per_map().await?;
    let total: u32 = after.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 200, "{after:?}");
    assert_ne!(before, after, "players moved");
    // One drop per tick, as rAthena logs it: the monster's side (its id,
    // negative) and the player's pick-up (positive), summing to zero.
    let drops: Vec<(String, u64, i64)> = query(format!(
        "SELECT type, COUNT(*), CAST(SUM(amount) AS SIGNED) FROM `{}`.`picklog` GROUP BY type ORDER BY type",
        s.logs()
    ))
    .await?;
    assert_eq!(drops.len(), 2, "{drops:?}");
    assert_eq!((drops[0].0.as_str(), drops[0].1), ("M", 5));
    assert_eq!((drops[1].0.as_str(), drops[1].1), ("P", 5));
    assert_eq!(drops[0].2 + drops[1].2, 0, "{drops:?}");
    assert!(drops[0].2 < 0);
    let monsters: Vec<u32> = query(format!(
        "SELECT DISTINCT char_id FROM `{}`.`picklog` WHERE type = 'M'",
        s.logs()
    ))
    .await?;
    assert_eq!(monsters, [1002], "the monster's id, not a character's");
    assert!(s.log_text().is_empty(), "Status lines never reach the file");
    s.finish().await
}

#[tokio::test]
async fn incidents_leave_the_traces_the_anti_cheat_plugin_reads() -> Result<()> {
    let s = scratch().await?;
    s.sim.populate(10, &["prontera".to_string()]).await?;
    assert!(
        s.log_text().is_empty(),
        "a clean state logs nothing alarming"
    );
    for incident in [
        Incident::Ddos,
        Incident::UnsupportedPacket,
        Incident::MalformedPacket,
        Incident::Hack,
        Incident::FailedLogins,
        Incident::GmAbuse,
        Incident::EconomySpike,
    ] {
        s.sim.inject(incident, 12).await?;
    }
    let log = s.log_text();
    assert!(
        log.contains("[ Warning ] : connect_check: DDoS Attack detected from 203.0.113.66!"),
        "{log}"
    );
    assert_eq!(
        log.matches("clif_parse: Received unsupported packet")
            .count(),
        12
    );
    assert!(log.contains("specifies invalid packet_len") && log.contains("bytes remaining"));
    assert!(log.contains("Received malformed packet from player 'Hero"));
    assert!(log.contains("[ Error ] : clif_parse_SearchStoreInfo: Malformed packet"));
    assert!(!log.contains("Hack on"), "never in rAthena's file");
    // showmsg.cpp's stamp: (MM/DD/YYYY HH:MM:SS) [ Level ] : message
    for line in log.lines() {
        let bytes = line.as_bytes();
        assert!(
            line.len() > 24
                && bytes[0] == b'('
                && bytes[3] == b'/'
                && bytes[6] == b'/'
                && &line[20..24] == ") [ ",
            "stamped as rAthena does: {line}"
        );
    }

    let failed: Vec<(String, u64)> = query(format!(
        "SELECT ip, COUNT(*) FROM `{}`.`loginlog` WHERE rcode = 1 AND log = 'Incorrect Password.' GROUP BY ip",
        s.logs()
    ))
    .await?;
    assert_eq!(failed, [("192.0.2.99".to_string(), 12)]);
    let commands: Vec<String> =
        query(format!("SELECT command FROM `{}`.`atcommandlog`", s.logs())).await?;
    assert_eq!(commands.len(), 12);
    assert!(
        commands.iter().any(|c| c.starts_with("@item"))
            && commands.iter().any(|c| c.starts_with("@zeny"))
    );
    // The GM's items land as `A +100` rows; the spike as `N +500` rows.
    let created: Vec<(String, i64)> = query(format!(
        "SELECT CAST(type AS CHAR), CAST(SUM(amount) AS SIGNED) FROM `{}`.`picklog` GROUP BY type ORDER BY 1",
        s.logs()
    ))
    .await?;
    assert_eq!(
        created,
        [("A".to_string(), 6 * 100), ("N".to_string(), 12 * 500)]
    );
    // rAthena's own engine and types.
    let engines: Vec<(String, String)> = query(format!(
        "SELECT table_name, engine FROM information_schema.tables WHERE table_schema = '{}' ORDER BY table_name",
        s.logs()
    ))
    .await?;
    assert!(engines.iter().all(|(_, e)| e == "MyISAM"), "{engines:?}");
    let amount: Vec<String> = query(format!(
        "SELECT column_type FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 'zenylog' AND column_name = 'type'",
        s.logs()
    ))
    .await?;
    assert_eq!(
        amount,
        ["enum('T','V','P','M','S','N','D','C','A','E','I','B','K','J','X','0','2')"]
    );
    s.finish().await
}

#[tokio::test]
async fn the_map_server_port_accepts_connections() -> Result<()> {
    let bound = listen_map_port("127.0.0.1:0").await?;
    let started = std::time::Instant::now();
    tokio::net::TcpStream::connect(bound).await?;
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let taken = listen_map_port(&bound.to_string())
        .await
        .expect_err("the port is taken");
    assert!(
        format!("{taken:#}").contains("map-server port"),
        "{taken:#}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() -> Result<()> {
    let sim = Sim::new(SimConfig {
        url: "mysql://root@127.0.0.1:9".to_string(),
        main_db: "p2pmon_nowhere".to_string(),
        logs_db: "p2pmon_nowhere_log".to_string(),
        log_file: "unused.log".into(),
    })?;
    let error = format!(
        "{:#}",
        sim.setup().await.expect_err("nothing listens on port 9")
    );
    assert!(
        error.contains("cannot connect to MariaDB at mysql://root@127.0.0.1:9"),
        "{error}"
    );
    Ok(())
}
