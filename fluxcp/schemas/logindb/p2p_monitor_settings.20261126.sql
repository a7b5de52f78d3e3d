-- p2pmon: monitoring settings edited from FluxCP and read by the aggregator
-- (settings.url in aggregator.yml). Table and default rows as the original
-- design gives them.
CREATE TABLE IF NOT EXISTS `p2p_monitor_settings` (
    `setting_id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
    `setting_name` VARCHAR(64) NOT NULL,
    `setting_value` TEXT NOT NULL,
    `updated_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (`setting_id`),
    UNIQUE KEY `uk_setting_name` (`setting_name`)
) ENGINE=InnoDB;

INSERT IGNORE INTO `p2p_monitor_settings` (`setting_name`, `setting_value`) VALUES
    ('alert_thresholds', '{"cpu":90,"memory":85,"latency":200}'),
    ('notification_emails', '["admin@yourserver.com"]'),
    ('discord_webhook', 'https://discord.com/api/webhooks/your-webhook-url'),
    ('monitoring_interval', '5000');
