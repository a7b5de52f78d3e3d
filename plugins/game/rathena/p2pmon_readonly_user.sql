-- p2pmon: a read-only database user for the agent (recommended). The agent
-- also opens every session READ ONLY and accepts only single SELECTs, but
-- the database's own grants are the first line.
-- Replace the password and the database names (rAthena's defaults:
-- `ragnarok` for the main database, `ragnarok` or `log` for the logs).
CREATE USER IF NOT EXISTS 'p2pmon'@'localhost' IDENTIFIED BY 'change-me';
GRANT SELECT ON `ragnarok`.`char` TO 'p2pmon'@'localhost';
GRANT SELECT ON `ragnarok`.`p2pmon_map_status` TO 'p2pmon'@'localhost';
GRANT SELECT ON `log`.`loginlog` TO 'p2pmon'@'localhost';
GRANT SELECT ON `log`.`atcommandlog` TO 'p2pmon'@'localhost';
GRANT SELECT ON `log`.`picklog` TO 'p2pmon'@'localhost';
GRANT SELECT ON `log`.`zenylog` TO 'p2pmon'@'localhost';
-- The anti-cheat plugin looks at the last few minutes of loginlog; rAthena
-- indexes it by ip only, so a busy server wants an index on time too.
-- ALTER TABLE `log`.`loginlog` ADD INDEX `time` (`time`);
