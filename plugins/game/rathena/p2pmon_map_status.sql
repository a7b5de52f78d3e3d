-- p2pmon: per-map status written by npc/custom/p2pmon_status.txt and read by
-- the agent's game plugin. Create it in rAthena's main database.
CREATE TABLE IF NOT EXISTS `p2pmon_map_status` (
  `map` VARCHAR(11) NOT NULL,
  `users` INT UNSIGNED NOT NULL DEFAULT 0,
  `mobs` INT UNSIGNED NOT NULL DEFAULT 0,
  `updated` DATETIME NOT NULL,
  PRIMARY KEY (`map`)
) ENGINE=InnoDB
