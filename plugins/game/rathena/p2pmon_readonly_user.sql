-- p2pmon: a read-only database user for the agent (recommended). The agent
-- also opens every session READ ONLY and accepts only single SELECTs, but
-- the database's own grants are the first line.
-- Replace the password and the database names (rAthena's default is
-- `ragnarok` for both the main and the log tables: log_db_db in
-- conf/inter_athena.conf).
-- 'p2pmon'@'localhost' is used over the Unix socket, 'p2pmon'@'127.0.0.1'
-- over TCP (a mysql://...@127.0.0.1:3306 URL): they are two accounts.
CREATE USER IF NOT EXISTS 'p2pmon'@'localhost' IDENTIFIED BY 'change-me';
CREATE USER IF NOT EXISTS 'p2pmon'@'127.0.0.1' IDENTIFIED BY 'change-me';
GRANT SELECT ON `ragnarok`.`char` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
GRANT SELECT ON `ragnarok`.`p2pmon_map_status` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
GRANT SELECT ON `ragnarok`.`loginlog` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
GRANT SELECT ON `ragnarok`.`atcommandlog` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
GRANT SELECT ON `ragnarok`.`picklog` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
GRANT SELECT ON `ragnarok`.`zenylog` TO 'p2pmon'@'localhost', 'p2pmon'@'127.0.0.1';
-- The anti-cheat plugin looks at the last few minutes of loginlog; rAthena
-- indexes it by ip only, so a busy server wants an index on time too.
-- ALTER TABLE `ragnarok`.`loginlog` ADD INDEX `time` (`time`);
