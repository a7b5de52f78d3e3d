<?php
use PHPUnit\Framework\TestCase;

/** The p2p_monitor_settings table in the real MariaDB, installed from schemas/ as FluxCP's installer does. */
class SettingsTest extends TestCase
{
    protected function setUp(): void
    {
        p2p_configure();
        p2p_reset_settings();
    }

    private function settings()
    {
        return new P2PMonitor_Settings(new StubConnection(p2p_pdo()), p2p_env('P2PMON_MYSQL_DB'));
    }

    public function testRowsComeAsFluxcpDataObjectsAndAreReadByProperty()
    {
        $statement = (new StubConnection(p2p_pdo()))->getStatement('SELECT setting_name FROM p2p_monitor_settings');
        $statement->execute();
        $row = $statement->fetch();
        $this->assertInstanceOf(StubDataObject::class, $row);
        $this->assertFalse(isset($row->setting_name), 'FluxCP rows have no __isset');
        $this->assertNotNull($row->setting_name);
        $this->assertArrayNotHasKey('setting_name', (array) $row, 'FluxCP rows are not arrays');
    }

    public function testTheSchemasDefaultRowsAreThere()
    {
        $values = $this->settings()->all();
        $this->assertSame(array(
            'alert_thresholds' => '{"cpu":90,"memory":85,"latency":200}',
            'notification_emails' => '["admin@yourserver.com"]',
            'discord_webhook' => 'https://discord.com/api/webhooks/your-webhook-url',
            'monitoring_interval' => '5000',
        ), $values);
    }

    public function testGoodValuesAreStoredNormalizedWithTheirAuthor()
    {
        $settings = $this->settings();
        $errors = $settings->save(array(
            'alert_thresholds' => '{"cpu": 95, "memory": {"warning": 70, "critical": 90}}',
            'notification_emails' => '["ops@example.org", "gm@example.org"]',
            'monitoring_interval' => ' 2000 ',
        ), 'gm_alice');
        $this->assertSame(array(), $errors);
        $rows = $settings->rows();
        $this->assertSame('{"cpu":95,"memory":{"warning":70,"critical":90}}', $rows['alert_thresholds']['value']);
        $this->assertSame('["ops@example.org","gm@example.org"]', $rows['notification_emails']['value']);
        $this->assertSame('2000', $rows['monitoring_interval']['value']);
        $this->assertSame('gm_alice', $rows['monitoring_interval']['updated_by']);
        $this->assertNull($rows['discord_webhook']['updated_by'], 'not saved, not touched');
    }

    public function testOnlyChangedValuesCountAsChanged()
    {
        $settings = $this->settings();
        $stored = $settings->all();
        $posted = $stored;
        $posted['alert_thresholds'] = '{"cpu":75,"memory":85,"latency":200}';
        $posted['monitoring_interval'] = ' 5000 ';
        $this->assertSame(array('alert_thresholds' => '{"cpu":75,"memory":85,"latency":200}'), $settings->changed($posted));
        $this->assertSame(array(), $settings->changed(array('discord_webhook' => null)));
    }

    public function testOneBadValueStoresNothing()
    {
        $settings = $this->settings();
        $before = $settings->all();
        $errors = $settings->save(array(
            'alert_thresholds' => '{"cpu": 99}',
            'discord_webhook' => 'javascript:alert(1)',
            'monitoring_interval' => '50',
        ), 'admin');
        $this->assertSame(array('discord_webhook', 'monitoring_interval'), array_keys($errors));
        $this->assertSame($before, $settings->all());
    }

    public function testAMissingTableIsADatabaseErrorNamingIt()
    {
        p2p_pdo()->exec('DROP TABLE p2p_monitor_settings');
        try {
            $this->settings()->all();
            $this->fail('a missing table must fail');
        } catch (P2PMonitor_Error $error) {
            $this->assertSame(P2PMonitor_Error::DATABASE, $error->kind);
            $this->assertStringContainsString('p2p_monitor_settings', $error->getMessage());
        }
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
