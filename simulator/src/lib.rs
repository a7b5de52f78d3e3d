//! A believable rAthena host without rAthena, for demos and tests.
//!
//! - rAthena's tables, in MariaDB, shaped like its own DDL (column types,
//!   MyISAM; sql-files/main.sql and logs.sql): `char` and `login` in the
//!   main database (only the columns the plugins and FluxCP read);
//!   `loginlog`, `atcommandlog`, `picklog` and `zenylog` whole in the logs
//!   database; and `p2pmon_map_status`, the table the shipped NPC script
//!   fills from map-server memory (users and mobs per map).
//! - Rows are written the way rAthena writes them: every item or zeny move
//!   on both sides (giver `-n`, taker `+n`), monster drops, steals and MVP
//!   prizes from the monster's side (`char_id` = the monster's id, `-n`)
//!   with the player's `P +n`, loginlog with rAthena's rcodes and texts, GM
//!   commands as typed ([`Sim::monster_drop`], [`Sim::trade`],
//!   [`Sim::login_attempt`], [`Sim::gm_command`]...).
//! - [`Sim::tick`] does what a live server does between two collects:
//!   players move between maps, log in and out; monsters drop items that
//!   players pick up; zeny changes hands; the map-server saves characters.
//! - [`Sim::inject`] stages what the anti-cheat plugin must catch: a DDoS
//!   line, bad packets, a hacked client's malformed packets, a burst of
//!   failed logins, GM commands that create items or zeny, an economy spike.
//! - [`Sim::log_lines`] writes the map-server's console log file as
//!   showmsg.cpp does with `console_msg_log` on:
//!   `(%m/%d/%Y %H:%M:%S) [ Warning ] : message`.
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
    /// `clif_parse: Received unsupported packet ... disconnecting` lines.
    UnsupportedPacket,
    /// `clif_parse` lines for a packet whose length does not add up.
    MalformedPacket,
    /// A hacked client: malformed-packet lines naming a player and an
    /// account.
    Hack,
    /// A burst of wrong passwords (loginlog rcode 1) from one address.
    FailedLogins,
    /// GM commands that create items and zeny (atcommandlog and their rows).
    GmAbuse,
    /// An NPC script handing out items and zeny far above the usual rate.
    EconomySpike,
}

// The column types and engines below are rAthena's (sql-files/main.sql,
// sql-files/logs.sql); `login` and `char` keep only the columns read here.
const MAIN_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `login` (
        `account_id` INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,
        `userid` VARCHAR(23) NOT NULL DEFAULT '',
        `user_pass` VARCHAR(32) NOT NULL DEFAULT '',
        `sex` ENUM('M','F','S') NOT NULL DEFAULT 'M',
        `email` VARCHAR(39) NOT NULL DEFAULT '',
        `group_id` TINYINT(3) NOT NULL DEFAULT 0,
        `state` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `unban_time` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `lastlogin` DATETIME,
        `last_ip` VARCHAR(100) NOT NULL DEFAULT '',
        `pincode` VARCHAR(4) NOT NULL DEFAULT '',
        PRIMARY KEY (`account_id`),
        KEY `name` (`userid`)
    ) ENGINE=MyISAM AUTO_INCREMENT=2000000",
    "CREATE TABLE IF NOT EXISTS `char` (
        `char_id` INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,
        `account_id` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `char_num` TINYINT(1) NOT NULL DEFAULT 0,
        `name` VARCHAR(30) NOT NULL DEFAULT '',
        `class` SMALLINT(6) UNSIGNED NOT NULL DEFAULT 0,
        `base_level` SMALLINT(6) UNSIGNED NOT NULL DEFAULT 1,
        `zeny` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `last_map` VARCHAR(11) NOT NULL DEFAULT '',
        `last_x` SMALLINT(4) UNSIGNED NOT NULL DEFAULT 53,
        `last_y` SMALLINT(4) UNSIGNED NOT NULL DEFAULT 111,
        `online` TINYINT(2) NOT NULL DEFAULT 0,
        PRIMARY KEY (`char_id`),
        UNIQUE KEY `name_key` (`name`),
        KEY `account_id` (`account_id`),
        KEY `online` (`online`)
    ) ENGINE=MyISAM AUTO_INCREMENT=150000",
    // The table the shipped NPC script writes, from the same file.
    include_str!("../../plugins/game/rathena/p2pmon_map_status.sql"),
];

const LOG_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `loginlog` (
        `time` DATETIME NOT NULL,
        `ip` VARCHAR(15) NOT NULL DEFAULT '',
        `user` VARCHAR(23) NOT NULL DEFAULT '',
        `rcode` TINYINT(4) NOT NULL DEFAULT 0,
        `log` VARCHAR(255) NOT NULL DEFAULT '',
        INDEX (`ip`)
    ) ENGINE=MyISAM",
    "CREATE TABLE IF NOT EXISTS `atcommandlog` (
        `atcommand_id` MEDIUMINT(9) UNSIGNED NOT NULL AUTO_INCREMENT,
        `atcommand_date` DATETIME NOT NULL,
        `account_id` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `char_id` INT(11) UNSIGNED NOT NULL DEFAULT 0,
        `char_name` VARCHAR(25) NOT NULL DEFAULT '',
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        `command` VARCHAR(255) NOT NULL DEFAULT '',
        PRIMARY KEY (`atcommand_id`),
        INDEX (`account_id`),
        INDEX (`char_id`)
    ) ENGINE=MyISAM AUTO_INCREMENT=1",
    "CREATE TABLE IF NOT EXISTS `picklog` (
        `id` INT(11) NOT NULL AUTO_INCREMENT,
        `time` DATETIME NOT NULL,
        `char_id` INT(11) NOT NULL DEFAULT 0,
        `type` ENUM('M','P','L','T','V','S','N','C','A','R','G','E','B','O','I','X','D','U','$','F','Y','Z','Q','H','J','W','0','1','2','3') NOT NULL DEFAULT 'P',
        `nameid` INT(10) UNSIGNED NOT NULL DEFAULT 0,
        `amount` INT(11) NOT NULL DEFAULT 1,
        `refine` TINYINT(3) UNSIGNED NOT NULL DEFAULT 0,
        `card0` INT(10) UNSIGNED NOT NULL DEFAULT 0,
        `card1` INT(10) UNSIGNED NOT NULL DEFAULT 0,
        `card2` INT(10) UNSIGNED NOT NULL DEFAULT 0,
        `card3` INT(10) UNSIGNED NOT NULL DEFAULT 0,
        `option_id0` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_val0` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_parm0` TINYINT(3) NOT NULL DEFAULT 0,
        `option_id1` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_val1` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_parm1` TINYINT(3) NOT NULL DEFAULT 0,
        `option_id2` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_val2` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_parm2` TINYINT(3) NOT NULL DEFAULT 0,
        `option_id3` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_val3` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_parm3` TINYINT(3) NOT NULL DEFAULT 0,
        `option_id4` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_val4` SMALLINT(5) NOT NULL DEFAULT 0,
        `option_parm4` TINYINT(3) NOT NULL DEFAULT 0,
        `unique_id` BIGINT(20) UNSIGNED NOT NULL DEFAULT 0,
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        `bound` TINYINT(1) UNSIGNED NOT NULL DEFAULT 0,
        `enchantgrade` TINYINT UNSIGNED NOT NULL DEFAULT 0,
        PRIMARY KEY (`id`),
        INDEX (`type`)
    ) ENGINE=MyISAM AUTO_INCREMENT=1",
    "CREATE TABLE IF NOT EXISTS `zenylog` (
        `id` INT(11) NOT NULL AUTO_INCREMENT,
        `time` DATETIME NOT NULL,
        `char_id` INT(11) NOT NULL DEFAULT 0,
        `src_id` INT(11) NOT NULL DEFAULT 0,
        `type` ENUM('T','V','P','M','S','N','D','C','A','E','I','B','K','J','X','0','2') NOT NULL DEFAULT 'S',
        `amount` INT(11) NOT NULL DEFAULT 0,
        `map` VARCHAR(11) NOT NULL DEFAULT '',
        PRIMARY KEY (`id`),
        INDEX (`type`)
    ) ENGINE=MyISAM AUTO_INCREMENT=1",
];

/// A character as the log rows name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Character {
    pub char_id: u32,
    pub account_id: u32,
    pub name: String,
    pub userid: String,
    pub map: String,
    pub last_ip: String,
}

/// The text rAthena's login-server writes for a refusal code
/// (conf/msg_conf/login_msg.conf; codes 99-104 are offset by 83 there).
pub fn login_message(rcode: i32) -> &'static str {
    match rcode {
        0 => "Unregistered ID.",
        1 => "Incorrect Password.",
        2 => "Account Expired.",
        3 => "Rejected from server.",
        4 => "Blocked by GM.",
        5 => "Not latest game EXE.",
        6 => "Banned.",
        7 => "Server Over-population.",
        8 => "Account limit from company",
        9 => "Ban by DBA",
        10 => "Email not confirmed",
        11 => "Ban by GM",
        12 => "Working in DB",
        13 => "Self Lock",
        14 | 15 => "Not Permitted Group",
        99 => "Account gone.",
        100 => "Login info remains.",
        101 => "Hacking investigation.",
        102 => "Bug investigation.",
        103 => "Deleting char.",
        104 => "Deleting spouse char.",
        _ => "Unknown Error.",
    }
}

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

    /// The character `char_id`, as the rows name it.
    pub async fn character(&self, char_id: u32) -> Result<Character> {
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        let row: Option<(u32, u32, String, String, String, String)> = conn
            .exec_first(
                format!(
                    "SELECT c.char_id, c.account_id, c.name, l.userid, c.last_map, l.last_ip \
                     FROM `{main}`.`char` c JOIN `{main}`.`login` l USING (account_id) WHERE c.char_id = ?"
                ),
                (char_id,),
            )
            .await?;
        let (char_id, account_id, name, userid, map, last_ip) =
            row.with_context(|| format!("no character {char_id}"))?;
        Ok(Character {
            char_id,
            account_id,
            name,
            userid,
            map,
            last_ip,
        })
    }

    /// Online characters, lowest id first.
    pub async fn online(&self) -> Result<Vec<Character>> {
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        let ids: Vec<u32> = conn
            .query(format!(
                "SELECT char_id FROM `{main}`.`char` WHERE online > 0 ORDER BY char_id"
            ))
            .await?;
        drop(conn);
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(self.character(id).await?);
        }
        Ok(found)
    }

    /// picklog rows `(char_id, type, nameid, amount, map)`, as log.cpp
    /// `log_pick` writes them.
    async fn pick_rows(&self, rows: &[(u32, char, u32, i32, &str)]) -> Result<()> {
        let logs = &self.config.logs_db;
        let mut conn = self.conn().await?;
        conn.exec_batch(
            format!(
                "INSERT INTO `{logs}`.`picklog` (`time`, char_id, `type`, nameid, amount, map) VALUES (NOW(), ?, ?, ?, ?, ?)"
            ),
            rows.iter()
                .map(|(id, kind, nameid, amount, map)| (id, kind.to_string(), nameid, amount, map)),
        )
        .await?;
        Ok(())
    }

    /// zenylog rows `(char_id, src_id, type, amount, map)`, as log.cpp
    /// `log_zeny` writes them (pc.cpp: paying is `-zeny`, receiving `+zeny`).
    async fn zeny_rows(&self, rows: &[(u32, u32, char, i32, &str)]) -> Result<()> {
        let logs = &self.config.logs_db;
        let mut conn = self.conn().await?;
        conn.exec_batch(
            format!(
                "INSERT INTO `{logs}`.`zenylog` (`time`, char_id, src_id, `type`, amount, map) VALUES (NOW(), ?, ?, ?, ?, ?)"
            ),
            rows.iter()
                .map(|(id, src, kind, amount, map)| (id, src, kind.to_string(), amount, map)),
        )
        .await?;
        Ok(())
    }

    /// A monster `mob_id` drops `amount` of `nameid` and `who` picks it up:
    /// `M -amount` from the monster's side (mob.cpp `mob_item_drop`), then
    /// the pick-up `P +amount` (party.cpp `party_share_loot`).
    pub async fn monster_drop(
        &self,
        mob_id: u32,
        who: &Character,
        nameid: u32,
        amount: i32,
    ) -> Result<()> {
        self.pick_rows(&[
            (mob_id, 'M', nameid, -amount, &who.map),
            (who.char_id, 'P', nameid, amount, &who.map),
        ])
        .await
    }

    /// `who` steals one `nameid` from `mob_id`: `P +1` on the thief, `D -1`
    /// on the monster (pc.cpp `pc_steal_item`).
    pub async fn steal(&self, mob_id: u32, who: &Character, nameid: u32) -> Result<()> {
        self.pick_rows(&[
            (who.char_id, 'P', nameid, 1, &who.map),
            (mob_id, 'D', nameid, -1, &who.map),
        ])
        .await
    }

    /// `who` wins an MVP prize: `P +1` on the player, `U -1` on the
    /// monster (mob.cpp `mob_dead`).
    pub async fn mvp_prize(&self, mob_id: u32, who: &Character, nameid: u32) -> Result<()> {
        self.pick_rows(&[
            (who.char_id, 'P', nameid, 1, &who.map),
            (mob_id, 'U', nameid, -1, &who.map),
        ])
        .await
    }

    /// A trade (`T`) or a vending sale (`V`): `amount` of `nameid` from
    /// `from` to `to`, who pays `zeny`; one row per side of each.
    pub async fn exchange(
        &self,
        kind: char,
        from: &Character,
        to: &Character,
        nameid: u32,
        amount: i32,
        zeny: i32,
    ) -> Result<()> {
        if kind != 'T' && kind != 'V' {
            bail!("an exchange is a trade (T) or a vending sale (V), not {kind:?}");
        }
        self.pick_rows(&[
            (from.char_id, kind, nameid, -amount, &from.map),
            (to.char_id, kind, nameid, amount, &to.map),
        ])
        .await?;
        if zeny != 0 {
            self.zeny_rows(&[
                (to.char_id, from.char_id, kind, -zeny, &to.map),
                (from.char_id, to.char_id, kind, zeny, &from.map),
            ])
            .await?;
        }
        Ok(())
    }

    /// Storage (`R`) or guild storage (`G`): `amount` > 0 withdraws into the
    /// inventory (`+amount`), < 0 deposits (storage.cpp via `pc_additem` /
    /// `pc_delitem`).
    pub async fn storage(
        &self,
        kind: char,
        who: &Character,
        nameid: u32,
        amount: i32,
    ) -> Result<()> {
        if kind != 'R' && kind != 'G' {
            bail!("storage is R or G, not {kind:?}");
        }
        self.pick_rows(&[(who.char_id, kind, nameid, amount, &who.map)])
            .await
    }

    /// The bank (`K`): `zeny` > 0 withdraws into the purse, < 0 deposits
    /// (pc.cpp `pc_bank_withdraw` / `pc_bank_deposit`).
    pub async fn bank(&self, who: &Character, zeny: i32) -> Result<()> {
        self.zeny_rows(&[(who.char_id, who.char_id, 'K', zeny, &who.map)])
            .await
    }

    /// `who` buys `amount` of `nameid` from an NPC shop for `zeny`: the item
    /// `S +amount`, the purse `S -zeny` (npc.cpp `npc_buylist`).
    pub async fn shop_buy(
        &self,
        who: &Character,
        nameid: u32,
        amount: i32,
        zeny: i32,
    ) -> Result<()> {
        self.pick_rows(&[(who.char_id, 'S', nameid, amount, &who.map)])
            .await?;
        self.zeny_rows(&[(who.char_id, 0, 'S', -zeny, &who.map)])
            .await
    }

    /// Zeny a monster gave `who` (`M +zeny`, mob.cpp `mob_dead`).
    pub async fn monster_zeny(&self, who: &Character, zeny: i32) -> Result<()> {
        self.zeny_rows(&[(who.char_id, 0, 'M', zeny, &who.map)])
            .await
    }

    /// A GM command as typed by `gm` and what it did: atcommandlog names
    /// the GM (atcommand.cpp `is_atcommand`), the effect rows name whoever
    /// received (`A +n` items per id, `A ±zeny`).
    pub async fn gm_command(
        &self,
        gm: &Character,
        command: &str,
        target: &Character,
        items: &[(u32, i32)],
        zeny: i32,
    ) -> Result<()> {
        let logs = &self.config.logs_db;
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "INSERT INTO `{logs}`.`atcommandlog` (atcommand_date, account_id, char_id, char_name, map, command) VALUES (NOW(), ?, ?, ?, ?, ?)"
            ),
            (gm.account_id, gm.char_id, &gm.name, &gm.map, command),
        )
        .await?;
        drop(conn);
        let rows: Vec<(u32, char, u32, i32, &str)> = items
            .iter()
            .map(|(nameid, amount)| (target.char_id, 'A', *nameid, *amount, target.map.as_str()))
            .collect();
        if !rows.is_empty() {
            self.pick_rows(&rows).await?;
        }
        if zeny != 0 {
            self.zeny_rows(&[(target.char_id, 0, 'A', zeny, &target.map)])
                .await?;
        }
        Ok(())
    }

    /// A loginlog row as loginclif.cpp writes it: `rcode` with its text
    /// ([`login_message`]), `login ok` for 100.
    pub async fn login_attempt(&self, ip: &str, user: &str, rcode: i32) -> Result<()> {
        let text = if rcode == 100 {
            "login ok"
        } else {
            login_message(rcode)
        };
        self.loginlog(ip, user, rcode, text).await
    }

    /// A failed PIN check: rcode 100 at the account's last address
    /// (loginchrif.cpp `logchrif_parse_pincode_authfail`).
    pub async fn pin_failed(&self, who: &Character) -> Result<()> {
        self.loginlog(&who.last_ip, &who.userid, 100, "PIN Code check failed")
            .await
    }

    /// An address on the ip-ban list tried to connect (loginclif.cpp).
    pub async fn ip_banned(&self, ip: &str) -> Result<()> {
        self.loginlog(ip, "unknown", -3, "ip banned").await
    }

    /// A char-server connecting to the login-server (loginclif.cpp).
    pub async fn char_server_connected(&self) -> Result<()> {
        self.loginlog(
            "127.0.0.1",
            "s1",
            100,
            "charserver - rAthena@127.0.0.1:6121",
        )
        .await
    }

    async fn loginlog(&self, ip: &str, user: &str, rcode: i32, text: &str) -> Result<()> {
        let logs = &self.config.logs_db;
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "INSERT INTO `{logs}`.`loginlog` (`time`, ip, user, rcode, log) VALUES (NOW(), ?, ?, ?, ?)"
            ),
            (ip, user, rcode, text),
        )
        .await?;
        Ok(())
    }

    /// Players warp within the map-server without being saved: the NPC
    /// script's `users` follow at once, `char.last_map` does not (it is
    /// written only on a save, every 300 s by default).
    pub async fn warp_unsaved(&self, from: &str, to: &str, players: u32) -> Result<()> {
        check_map_name(from)?;
        check_map_name(to)?;
        let main = &self.config.main_db;
        let mut conn = self.conn().await?;
        for (map, delta) in [(from, -i64::from(players)), (to, i64::from(players))] {
            conn.exec_drop(
                format!(
                    "INSERT INTO `{main}`.`p2pmon_map_status` (map, users, mobs, updated) VALUES (?, GREATEST(?, 0), 0, NOW())
                     ON DUPLICATE KEY UPDATE users = GREATEST(CAST(users AS SIGNED) + ?, 0), updated = NOW()"
                ),
                (map, delta, delta),
            )
            .await?;
        }
        Ok(())
    }

    /// One interval of a live server: a few players move or log out and in,
    /// items drop, zeny changes hands, the map-server logs routine lines.
    pub async fn tick(&self) -> Result<()> {
        let main = &self.config.main_db;
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
            drop(conn);
            if let Some(char_id) = char_id {
                let who = self.character(char_id).await?;
                // A Poring (1002) drops a few of an item, the player picks
                // it up; the monster's zeny; a successful login.
                self.monster_drop(1002, &who, 501 + fastrand::u32(0..50), fastrand::i32(1..4))
                    .await?;
                self.monster_zeny(&who, fastrand::i32(100..5000)).await?;
                self.login_attempt(&who.last_ip, &who.userid, 100).await?;
            }
        } else {
            drop(conn);
        }
        // Saving characters is a Status line: it never reaches the
        // console log file (showmsg.cpp), so a quiet tick writes nothing.
        self.write_map_status().await
    }

    /// Stage `incident`; `count` scales it (lines, rows, or items).
    pub async fn inject(&self, incident: Incident, count: u32) -> Result<()> {
        let count = count.max(1);
        match incident {
            // socket.cpp `connect_check`.
            Incident::Ddos => self.log_lines(&[
                "[ Warning ] : connect_check: DDoS Attack detected from 203.0.113.66!".to_string(),
            ]),
            // clif.cpp `clif_parse`.
            Incident::UnsupportedPacket => self.log_lines(
                &(0..count)
                    .map(|i| {
                        format!(
                            "[ Warning ] : clif_parse: Received unsupported packet (packet 0x{:04x}, 12 bytes received), disconnecting session #{}.",
                            0x0f00 + i,
                            40 + i
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            // clif.cpp `clif_parse`: lengths that do not add up.
            Incident::MalformedPacket => self.log_lines(&[
                "[ Warning ] : clif_parse: Received packet 0x0072 specifies invalid packet_len (9000), disconnecting session #17.".to_string(),
                "[ Warning ] : clif_parse: Received packet 0x0437 with expected packet length 7, but only 3 bytes remaining, disconnecting session #18.".to_string(),
            ]),
            // What a hacked client leaves: clif.cpp's malformed-packet lines
            // naming the player or the account.
            Incident::Hack => {
                let players = self.online().await?;
                // Not the first character online: that one is the GM of GmAbuse.
                let (Some(first), Some(second)) = (players.get(1), players.get(2)) else {
                    bail!("a hack needs three characters online (populate first)");
                };
                self.log_lines(&[
                    format!(
                        "[ Warning ] : clif_process_message: Received malformed packet from player '{}' (no message data)!",
                        first.name
                    ),
                    format!(
                        "[ Error ] : clif_parse_SearchStoreInfo: Malformed packet (expected length=12, length=9, account_id={}).",
                        second.account_id
                    ),
                ])
            }
            // loginclif.cpp: rcode 1 with the client's text.
            Incident::FailedLogins => {
                for i in 0..count {
                    self.login_attempt("192.0.2.99", &format!("user{}", 2_000_000 + i % 3), 1)
                        .await?;
                }
                Ok(())
            }
            // GM commands as typed, with the rows they leave.
            Incident::GmAbuse => {
                let players = self.online().await?;
                let Some(gm) = players.first() else {
                    bail!("GM commands need a character online (populate first)");
                };
                for i in 0..count {
                    if i % 2 == 0 {
                        self.gm_command(gm, "@item 607 100", gm, &[(607, 100)], 0).await?;
                    } else {
                        self.gm_command(gm, "@zeny 100000000", gm, &[], 100_000_000).await?;
                    }
                }
                Ok(())
            }
            // A script handing out items and zeny (picklog and zenylog `N`).
            Incident::EconomySpike => {
                let players = self.online().await?;
                let Some(who) = players.last() else {
                    bail!("an economy spike needs a character online (populate first)");
                };
                let rows: Vec<(u32, char, u32, i32, &str)> = (0..count)
                    .map(|_| (who.char_id, 'N', 7227, 500, who.map.as_str()))
                    .collect();
                self.pick_rows(&rows).await?;
                self.zeny_rows(&[(who.char_id, 0, 'N', 1_000_000_000, &who.map)]).await
            }
        }
    }

    /// Append `lines` (`[ Warning ] : message`, `[ Error ] : ...`) to the
    /// console log file, each stamped `(%m/%d/%Y %H:%M:%S) ` as showmsg.cpp
    /// does (in UTC here; rAthena uses the server's local time).
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
        let stamp = timestamp(unix_now());
        let mut text = String::new();
        for line in lines {
            text.push_str(&format!("({stamp}) {line}\n"));
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `MM/DD/YYYY HH:MM:SS` of a Unix time, in UTC: showmsg.cpp's
/// `%m/%d/%Y %H:%M:%S`.
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let of_day = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{month:02}/{day:02}/{year} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
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

    #[test]
    fn console_stamps_are_rathenas_format() {
        assert_eq!(timestamp(0), "01/01/1970 00:00:00");
        // 2026-12-01 21:41:45 UTC.
        assert_eq!(timestamp(1_796_161_305), "12/01/2026 21:41:45");
        assert_eq!(timestamp(951_782_400), "02/29/2000 00:00:00");
    }
}
