-- p2pmon: who changed each setting last (the FluxCP user who saved it).
ALTER TABLE `p2p_monitor_settings` ADD COLUMN `updated_by` VARCHAR(64) NULL DEFAULT NULL AFTER `setting_value`;
