<?php
use PHPUnit\Framework\TestCase;

/** The p2p_monitor_settings table in the real MariaDB, created from schemas/. */
class SettingsTest extends TestCase
{
    protected function setUp(): void
    {
        p2p_reset_settings();
    }

    private function settings()
    {
        return new P2PMonitor_Settings(new StubConnection(p2p_pdo()));
    }

    public function testTheSeedsDefaultRowsAreThere()
    {
        $values = $this->settings()->all();
        foreach (P2PMonitor_Settings::NAMES as $name) {
            $this->assertArrayHasKey($name, $values);
        }
        $this->assertSame('5000', $values['monitoring_interval']);
    }

    public function testGoodValuesAreStoredNormalized()
    {
        $settings = $this->settings();
        $errors = $settings->save(array(
            'alert_thresholds' => '{"cpu": 95, "memory": {"warning": 70, "critical": 90}}',
            'notification_emails' => '["ops@example.org", "gm@example.org"]',
            'monitoring_interval' => ' 2000 ',
        ));
        $this->assertSame(array(), $errors);
        $values = $settings->all();
        $this->assertSame('{"cpu":95,"memory":{"warning":70,"critical":90}}', $values['alert_thresholds']);
        $this->assertSame('["ops@example.org","gm@example.org"]', $values['notification_emails']);
        $this->assertSame('2000', $values['monitoring_interval']);
    }

    public function testOneBadValueStoresNothing()
    {
        $settings = $this->settings();
        $before = $settings->all();
        $errors = $settings->save(array(
            'alert_thresholds' => '{"cpu": 99}',
            'discord_webhook' => 'javascript:alert(1)',
            'monitoring_interval' => '50',
        ));
        $this->assertSame(array('discord_webhook', 'monitoring_interval'), array_keys($errors));
        $this->assertSame($before, $settings->all());
    }

    /** @dataProvider cases */
    public function testEachSettingIsCheckedLikeTheAggregatorDoes($name, $value, $ok)
    {
        $error = P2PMonitor_Settings::check($name, $value);
        $this->assertSame($ok, $error === null, (string) $error);
    }

    public function cases()
    {
        return array(
            array('alert_thresholds', '{"cpu":90,"latency":200}', true),
            array('alert_thresholds', '[90]', false),
            array('alert_thresholds', '{"cpu":"ninety"}', false),
            array('alert_thresholds', '{"Bad Name":1}', false),
            array('alert_thresholds', '{"cpu":{"warning":80,"loud":1}}', false),
            array('notification_emails', '["a@b.example"]', true),
            array('notification_emails', '["not an address"]', false),
            array('notification_emails', '{"a":"a@b.example"}', false),
            array('discord_webhook', 'https://discord.com/api/webhooks/1/x', true),
            array('discord_webhook', 'ftp://example.org/x', false),
            array('monitoring_interval', '100', true),
            array('monitoring_interval', '3600001', false),
            array('monitoring_interval', '5s', false),
        );
    }
}
