//! A believable rAthena host without rAthena, for demos and tests.
//!
//! - rAthena's tables, in MariaDB, with their real column names (minimal
//!   definitions: only the columns the plugins and FluxCP read): `char` and
//!   `login` in the main database; `loginlog`, `atcommandlog`, `picklog` and
//!   `zenylog` in the logs database; and `p2pmon_map_status`, the table the
//!   shipped NPC script fills from map-server memory (users and mobs per map).
//! - [`Sim::tick`] does what a live server does between two collects: players
//!   move between maps, log in and out; items drop; zeny changes hands; the
//!   map-server logs routine lines.
//! - [`Sim::inject`] stages what the anti-cheat plugin must catch: a DDoS
//!   line, unsupported or malformed packets, hack attempts, a burst of failed
//!   logins, GM commands that create items or zeny, an economy spike.
//! - [`listen_map_port`] accepts TCP connections like a map-server, so the
//!   game plugin's liveness probe has something to reach.

pub mod cli;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mysql_async::prelude::*;
use mysql_async::{Opts, Pool};

/// Where the simulated host keeps its state.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// `mysql://user:password@host:port` (no database).
    pub url: String,
    /// rAthena's main database (`char`, `login`).
    pub main_db: String,
    /// rAthena's logs database (log_athena.conf).
    pub logs_db: String,
    /// The map-server console log (`log/map-msg_log.log` in rAthena).
    pub log_file: PathBuf,
}

/// Maps a fresh world is populated with, the way a small server spreads out.
pub const DEFAULT_MAPS: [&str; 8] = [
    "prontera",
    "prt_fild08",
    "geffen",
    "payon",
    "morocc",
    "izlude",
    "pay_dun00",
    "gef_fild10",
];

/// What [`Sim::inject`] can stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Incident {
    /// `connect_check: DDoS Attack detected from <ip>` in the console log.
    Ddos,
    /// `Received unsupported packet ... disconnecting` lines.
    UnsupportedPacket,
    /// A malformed packet line.
    MalformedPacket,
    /// `Hack on trade` and `Hack on NameRequest` lines.
    Hack,
    /// A burst of failed logins (loginlog rows, rcode 1) from one address.
    FailedLogins,
    /// GM commands that create items and zeny (atcommandlog rows).
    GmAbuse,
    /// Items and zeny created far above the usual rate (picklog, zenylog).
    EconomySpike,
}

const MAIN_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `login` (
        `account_id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
        `userid` VARCHAR(23) NOT NULL DEFAULT '',
        `user_pass` VARCHAR(32) NOT NULL DEFAULT '',
        `sex` ENUM('M','F','S') NOT NULL DEFAULT 'M',
        `email` VARCHAR(39) NOT NULL DEFAULT '',
        `group_id` TINYINT NOT NULL DEFAULT 0,
        `state` INT UNSIGNED NOT NULL DEFAULT 0,
        `lastlogin` DATETIME NULL,
        `last_ip` VARCHAR(100) NOT NULL DEFAULT '',
        PRIMARY KEY (`account_id`),
        KEY `name` (`userid`)
    ) AUTO_INCREMENT=2000000",
    "CREATE TABLE IF NOT EXISTS `char` (
        `char_id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
        `account_id` INT UNSIGNED NOT NULL DEFAULT 0,
        `char_num` TINYINT NOT NULL DEFAULT 0,
        `name` VARCHAR(30) NOT NULL DEFAULT '',
        `class` SMALLINT UNSIGNED NOT NULL DEFAULT 0,
        `base_level` SMALLINT UNSIGNED NOT NULL DEFAULT 1,
        `zeny` INT UNSIGNED NOT NULL DEFAULT 0,
        `last_map` VARCHAR(11) NOT NULL DEFAULT '',
        `last_x` SMALLINT UNSIGNED NOT NULL DEFAULT 53,
        `last_y` SMALLINT UNSIGNED NOT NULL DEFAULT 111,
        `online` TINYINT NOT NULL DEFAULT 0,
        PRIMARY KEY (`char_id`),
        UNIQUE KEY `name_key` (`name`),
        KEY `account_id` (`account_id`),
        KEY `online` (`online`)
    ) AUTO_INCREMENT=150000",
    // The table the shipped NPC script writes, from the same file.
    include_str!("../../plugins/game/rathena/p2pmon_map_status.sql"),
];

const LOG_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `loginlog` (
        `time` DATETIME NOT NULL,
        `ip` VARCHAR(15) NOT NULL DEFAULT '',
        `user` VARCHAR(23) NOT NULL DEFAULT '',
        `rcode` TINYINT NOT NULL DEFAULT 0,
        `log` VARCHAR(255) NOT NULL DEFAULT '',
        KEY `ip` (`ip`)
    )",
    "CREATE TABLE IF NOT EXISTS `atcommandlog` (
        `atcommand_id` MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
        `atcommand_date` DATETIME NOT NULL,
        `account_id` INT UNSIGNED NOT NULL DEFAULT 0,
        `char_id` INT UNSIGNED NOT NULL DEFAULT 0,
        `char_name` VARCHAR(25) NOT NULL DEFAULT '',
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        `command` VARCHAR(255) NOT NULL DEFAULT '',
        PRIMARY KEY (`atcommand_id`),
        KEY `account_id` (`account_id`),
        KEY `char_id` (`char_id`)
    )",
    "CREATE TABLE IF NOT EXISTS `picklog` (
        `id` INT NOT NULL AUTO_INCREMENT,
        `char_id` INT NOT NULL DEFAULT 0,
        `type` ENUM('M','P','L','T','V','S','N','C','A','R','G','E','B','O','I','X','D','U','$','F','Y','Z','Q','H') NOT NULL DEFAULT 'P',
        `nameid` INT UNSIGNED NOT NULL DEFAULT 0,
        `amount` INT NOT NULL DEFAULT 1,
        `refine` TINYINT UNSIGNED NOT NULL DEFAULT 0,
        `card0` INT UNSIGNED NOT NULL DEFAULT 0,
        `card1` INT UNSIGNED NOT NULL DEFAULT 0,
        `card2` INT UNSIGNED NOT NULL DEFAULT 0,
        `card3` INT UNSIGNED NOT NULL DEFAULT 0,
        `unique_id` BIGINT UNSIGNED NOT NULL DEFAULT 0,
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        `time` DATETIME NOT NULL,
        PRIMARY KEY (`id`),
        KEY `type` (`type`)
    )",
    "CREATE TABLE IF NOT EXISTS `zenylog` (
        `id` INT NOT NULL AUTO_INCREMENT,
        `time` DATETIME NOT NULL,
        `char_id` INT NOT NULL DEFAULT 0,
        `src_id` INT NOT NULL DEFAULT 0,
        `type` ENUM('T','V','P','M','S','N','D','C','A','E','I','B','K') NOT NULL DEFAULT 'S',
        `amount` INT NOT NULL DEFAULT 0,
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        PRIMARY KEY (`id`),
        KEY `type` (`type`)
    )",
];

/// Database names are interpolated into SQL: letters, digits and `_` only.
fn check_db_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        bail!("database name {name:?}: use 1 to 64 of a-z, A-Z, 0-9 and _");
    }
    Ok(())
}

/// A simulated host: a connection pool and where its log goes.
pub struct Sim {
    pub config: SimConfig,
    pool: Pool,
}

impl Sim {
    /// Connect (no tables are touched until [`Sim::setup`]).
    pub fn new(config: SimConfig) -> Result<Self> {
        check_db_name(&config.main_db)?;
        check_db_name(&config.logs_db)?;
        let opts = Opts::from_url(&config.url)
            .with_context(|| format!("{:?} is not a mysql:// URL", config.url))?;
        Ok(Self {
            config,
            pool: Pool::new(opts),
        })
    }

    async fn conn(&self) -> Result<mysql_async::Conn> {
        self.pool
            .get_conn()
            .await
            .with_context(|| format!("cannot connect to MariaDB at {}", self.config.url))
    }

    /// Create both databases and every table (idempotent).
    pub async fn setup(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        for (db, tables) in [
            (&self.config.main_db, MAIN_TABLES),
            (&self.config.logs_db, LOG_TABLES),
        ] {
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{db}`"))
                .await?;
            conn.query_drop(format!("USE `{db}`")).await?;
            for table in tables {
                conn.query_drop(*table).await?;
            }
        }
        Ok(())
    }

    /// Drop both databases.
    pub async fn drop_databases(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        for db in [&self.config.main_db, &self.config.logs_db] {
            conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .await?;
        }
        Ok(())
    }

    /// Empty every table: a server with no accounts and no history.
    pub async fn clear(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        let (main, logs) = (&self.config.main_db, &self.config.logs_db);
        for table in [
            format!("`{main}`.`char`"),
            format!("`{main}`.`login`"),
            format!("`{main}`.`p2pmon_map_status`"),
            format!("`{logs}`.`loginlog`"),
            format!("`{logs}`.`atcommandlog`"),
            format!("`{logs}`.`picklog`"),
            format!("`{logs}`.`zenylog`"),
        ] {
            conn.query_drop(format!("DELETE FROM {table}")).await?;
        }
        Ok(())
    }

    /// Make exactly `players` characters online on `map`, creating accounts
    /// and characters as needed, taking them from other maps first.
    pub async fn set_players(&self, map: &str, players: u32) -> Result<()> {
        check_map_name(map)?;
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        let online: u32 = conn
            .exec_first(
                format!("SELECT COUNT(*) FROM `{main}`.`char` WHERE online > 0 AND last_map = ?"),
                (map,),
            )
            .await?
            .unwrap_or(0);
        if online > players {
            conn.exec_drop(
                format!(
                    "UPDATE `{main}`.`char` SET online = 0 WHERE online > 0 AND last_map = ? LIMIT {}",
                    online - players
                ),
                (map,),
            )
            .await?;
            return Ok(());
        }
        let mut missing = players - online;
        // Offline characters log in there first.
        conn.exec_drop(
            format!("UPDATE `{main}`.`char` SET online = 1, last_map = ? WHERE online = 0 LIMIT {missing}"),
            (map,),
        )
        .await?;
        let woken = conn.affected_rows() as u32;
        missing -= woken;
        drop(conn);
        self.create_characters(map, missing, true).await
    }

    /// Create `count` accounts with one character each on `map`.
    async fn create_characters(&self, map: &str, count: u32, online: bool) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(Default::default()).await?;
        let first: u64 = tx
            .query_first(format!(
                "SELECT COALESCE(MAX(account_id), 1999999) + 1 FROM `{main}`.`login`"
            ))
            .await?
            .unwrap_or(2_000_000);
        let accounts: Vec<(u64, String, String)> = (0..u64::from(count))
            .map(|i| {
                let id = first + i;
                (
                    id,
                    format!("user{id}"),
                    format!("198.51.100.{}", id % 250 + 1),
                )
            })
            .collect();
        tx.exec_batch(
            format!(
                "INSERT INTO `{main}`.`login` (account_id, userid, user_pass, email, lastlogin, last_ip)
                 VALUES (?, ?, 'secret', 'a@b.c', NOW(), ?)"
            ),
            accounts.iter().map(|(id, user, ip)| (id, user, ip)),
        )
        .await?;
        tx.exec_batch(
            format!(
                "INSERT INTO `{main}`.`char` (account_id, name, class, base_level, zeny, last_map, online)
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            accounts.iter().map(|(id, _, _)| {
                (
                    id,
                    format!("Hero{id}"),
                    fastrand::u16(0..25),
                    fastrand::u16(1..99),
                    fastrand::u32(0..500_000),
                    map,
                    u8::from(online),
                )
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A server with `players` online spread over `maps` (more on the first
    /// maps, as towns draw crowds), and their map status rows.
    pub async fn populate(&self, players: u32, maps: &[String]) -> Result<()> {
        if maps.is_empty() {
            bail!("at least one map is needed");
        }
        for map in maps {
            check_map_name(map)?;
        }
        let weights: Vec<u32> = (0..maps.len() as u32)
            .map(|i| maps.len() as u32 - i)
            .collect();
        let total: u32 = weights.iter().sum();
        let mut left = players;
        for (index, (map, weight)) in maps.iter().zip(&weights).enumerate() {
            let share = if index + 1 == maps.len() {
                left
            } else {
                (players * weight / total).min(left)
            };
            left -= share;
            self.set_players(map, share).await?;
        }
        self.write_map_status().await
    }

    /// Players online per map, as FluxCP counts them.
    pub async fn players_per_map(&self) -> Result<Vec<(String, u32)>> {
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        Ok(conn
            .query(format!(
                "SELECT last_map, COUNT(*) FROM `{main}`.`char` WHERE online > 0 GROUP BY last_map ORDER BY last_map"
            ))
            .await?)
    }

    /// What the NPC script writes every interval: users and mobs per map.
    pub async fn write_map_status(&self) -> Result<()> {
        let per_map = self.players_per_map().await?;
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        conn.exec_batch(
            format!(
                "INSERT INTO `{main}`.`p2pmon_map_status` (map, users, mobs, updated) VALUES (?, ?, ?, NOW())
                 ON DUPLICATE KEY UPDATE users = VALUES(users), mobs = VALUES(mobs), updated = VALUES(updated)"
            ),
            per_map.iter().map(|(map, users)| (map, users, 40 + map.len() as u32 * 7)),
        )
        .await?;
        Ok(())
    }

    /// One interval of a live server: a few players move or log out and in,
    /// items drop, zeny changes hands, the map-server logs routine lines.
    pub async fn tick(&self) -> Result<()> {
        let (main, logs) = (&self.config.main_db, &self.config.logs_db);
        let maps: Vec<String> = self
            .players_per_map()
            .await?
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        let mut conn = self.conn().await?;
        if !maps.is_empty() {
            let online: u32 = conn
                .query_first(format!(
                    "SELECT COUNT(*) FROM `{main}`.`char` WHERE online > 0"
                ))
                .await?
                .unwrap_or(0);
            let movers = (online / 20).max(1);
            let to = &maps[fastrand::usize(..maps.len())];
            conn.exec_drop(
                format!(
                    "UPDATE `{main}`.`char` SET last_map = ?, last_x = ?, last_y = ? WHERE online > 0 ORDER BY RAND() LIMIT {movers}"
                ),
                (to, fastrand::u16(20..300), fastrand::u16(20..300)),
            )
            .await?;
            let char_id: Option<u32> = conn
                .query_first(format!(
                    "SELECT char_id FROM `{main}`.`char` WHERE online > 0 ORDER BY RAND() LIMIT 1"
                ))
                .await?;
            if let Some(char_id) = char_id {
                conn.exec_drop(
                    format!(
                        "INSERT INTO `{logs}`.`picklog` (char_id, type, nameid, amount, map, time) VALUES (?, 'M', ?, ?, ?, NOW())"
                    ),
                    (char_id, 501 + fastrand::u32(0..50), fastrand::i32(1..4), to),
                )
                .await?;
                conn.exec_drop(
                    format!(
                        "INSERT INTO `{logs}`.`zenylog` (time, char_id, src_id, type, amount, map) VALUES (NOW(), ?, 0, 'S', ?, ?)"
                    ),
                    (char_id, fastrand::i32(100..5000), to),
                )
                .await?;
                // rAthena logs a successful login with rcode 100.
                conn.exec_drop(
                    format!(
                        "INSERT INTO `{logs}`.`loginlog` (time, ip, user, rcode, log) VALUES (NOW(), ?, ?, 100, 'login ok')"
                    ),
                    (format!("198.51.100.{}", fastrand::u8(1..255)), format!("user{}", 2_000_000 + char_id % 1000)),
                )
                .await?;
            }
        }
        drop(conn);
        self.write_map_status().await?;
        self.log_lines(&[format!(
            "[Status]: Saving {} characters to the char-server.",
            fastrand::u32(1..50)
        )])
    }

    /// Stage `incident`; `count` scales it (lines, rows, or items).
    pub async fn inject(&self, incident: Incident, count: u32) -> Result<()> {
        let count = count.max(1);
        let logs = &self.config.logs_db;
        match incident {
            Incident::Ddos => self.log_lines(&[
                "[Warning]: connect_check: DDoS Attack detected from 203.0.113.66!".to_string(),
            ]),
            Incident::UnsupportedPacket => self.log_lines(
                &(0..count)
                    .map(|i| {
                        format!(
                            "[Warning]: Received unsupported packet (packet 0x{:04x}, 12 bytes received), disconnecting session #{}.",
                            0x0f00 + i,
                            40 + i
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Incident::MalformedPacket => self.log_lines(&[
                "[Error]: clif_parse: malformed packet 0x0072 from session #17 (length 2 < 19), disconnecting.".to_string(),
            ]),
            Incident::Hack => self.log_lines(&[
                "[Warning]: Hack on trade: character 'Hero2000001' (account: 2000001) try to trade more items that he has.".to_string(),
                "[Warning]: Hack on NameRequest: character 'Hero2000002' (account: 2000002) requested the name of an invisible target (id: 110000123).".to_string(),
            ]),
            Incident::FailedLogins => {
                let mut conn = self.conn().await?;
                conn.exec_batch(
                    format!(
                        "INSERT INTO `{logs}`.`loginlog` (time, ip, user, rcode, log) VALUES (NOW(), '192.0.2.99', ?, 1, 'login failed : Incorrect Password')"
                    ),
                    (0..count).map(|i| (format!("user{}", 2_000_000 + i % 3),)),
                )
                .await?;
                Ok(())
            }
            Incident::GmAbuse => {
                let mut conn = self.conn().await?;
                conn.exec_batch(
                    format!(
                        "INSERT INTO `{logs}`.`atcommandlog` (atcommand_date, account_id, char_id, char_name, map, command)
                         VALUES (NOW(), 2000005, 150005, 'Hero2000005', 'prontera', ?)"
                    ),
                    (0..count).map(|i| {
                        (if i % 2 == 0 {
                            "@item 607 100".to_string()
                        } else {
                            "@zeny 100000000".to_string()
                        },)
                    }),
                )
                .await?;
                Ok(())
            }
            Incident::EconomySpike => {
                let mut conn = self.conn().await?;
                conn.exec_batch(
                    format!(
                        "INSERT INTO `{logs}`.`picklog` (char_id, type, nameid, amount, map, time) VALUES (150007, 'P', 7227, ?, 'prontera', NOW())"
                    ),
                    (0..count).map(|_| (500,)),
                )
                .await?;
                conn.exec_drop(
                    format!(
                        "INSERT INTO `{logs}`.`zenylog` (time, char_id, src_id, type, amount, map) VALUES (NOW(), 150007, 150008, 'T', 1000000000, 'prontera')"
                    ),
                    (),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Append `lines` to the console log, stamped as rAthena does.
    pub fn log_lines(&self, lines: &[String]) -> Result<()> {
        let path = &self.config.log_file;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("console log {}", path.display()))?;
        let stamp = timestamp();
        let mut text = String::new();
        for line in lines {
            text.push_str(&format!("[{stamp}]{line}\n"));
        }
        file.write_all(text.as_bytes())?;
        Ok(())
    }

    pub async fn close(self) -> Result<()> {
        self.pool.disconnect().await?;
        Ok(())
    }
}

/// rAthena map names: at most 11 characters of a-z, 0-9, _ and -.
fn check_map_name(map: &str) -> Result<()> {
    if map.is_empty()
        || map.len() > 11
        || !map
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        bail!("map name {map:?}: use 1 to 11 of a-z, 0-9, _ and -");
    }
    Ok(())
}

/// `hh:mm:ss` in UTC (rAthena's console timestamp format is configurable;
/// the plugins match the message, not the stamp).
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 86_400)
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Accept connections on `addr` like a map-server (and close them): what
/// the game plugin's port probe connects to. Returns the bound address.
pub async fn listen_map_port(addr: &str) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (the simulated map-server port)"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_break_sql_are_refused() {
        assert!(check_db_name("ragnarok_sim").is_ok());
        assert!(check_db_name("rag`; DROP").is_err());
        assert!(check_map_name("prt_fild08").is_ok());
        assert!(check_map_name("prontera_toolong").is_err());
        assert!(check_map_name("a'b").is_err());
    }
}
