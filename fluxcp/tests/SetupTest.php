<?php
use PHPUnit\Framework\TestCase;

/** The setup check, and FluxCP's installer markers as the installer leaves them. */
class SetupTest extends TestCase
{
    protected function setUp(): void
    {
        p2p_configure();
        p2p_reset_settings();
        $_SERVER['HTTP_HOST'] = 'cp.example.org';
        unset($_SERVER['HTTPS']);
    }

    /** check name => row, from the setup page's controller. */
    private function checks()
    {
        $html = p2p_page('setup');
        preg_match_all('#<tr data-p2p-check="(ok|failed)">\s*<td>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>\s*<td>([^<]*)</td>#', $html, $m, PREG_SET_ORDER);
        $checks = array();
        foreach ($m as $row) {
            $checks[html_entity_decode($row[2], ENT_QUOTES)] = array('ok' => $row[1] === 'ok',
                'detail' => html_entity_decode($row[3], ENT_QUOTES), 'fix' => html_entity_decode($row[4], ENT_QUOTES));
        }
        $this->assertCount(7, $checks, $html);
        return $checks;
    }

    public function testAnInstalledAddonPassesAllButTheOriginNotAllowed()
    {
        $checks = $this->checks();
        foreach ($checks as $name => $check) {
            if (strpos($name, 'origin') === false) {
                $this->assertTrue($check['ok'], "$name: {$check['detail']}");
            }
        }
        // The test aggregator allows only its own dashboard's origins.
        $origin = $checks["Live feed accepts this panel's origin (http://cp.example.org)"];
        $this->assertFalse($origin['ok']);
        $this->assertStringContainsString('websocket.allowed_origins', $origin['fix']);
        $this->assertStringContainsString('http://cp.example.org', $origin['fix']);
    }

    public function testAnAllowedOriginPasses()
    {
        $_SERVER['HTTP_HOST'] = '127.0.0.1:5121'; // in the aggregator's default allowed_origins
        $checks = $this->checks();
        $this->assertTrue($checks["Live feed accepts this panel's origin (http://127.0.0.1:5121)"]['ok']);
        $_SERVER['HTTP_HOST'] = 'localhost:5122'; // same host, another port: not the same origin
        $this->assertFalse($this->checks()["Live feed accepts this panel's origin (http://localhost:5122)"]['ok']);
    }

    public function testTheOriginIsSchemeHostAndPort()
    {
        $this->assertSame('http://cp.example.org', P2PMonitor_Setup::origin(array('HTTP_HOST' => 'cp.example.org')));
        $this->assertSame('https://cp.example.org:8443', P2PMonitor_Setup::origin(array('HTTP_HOST' => 'cp.example.org:8443', 'HTTPS' => 'on')));
        $this->assertSame('https://cp.example.org', P2PMonitor_Setup::origin(array('HTTP_HOST' => 'cp.example.org', 'HTTP_X_FORWARDED_PROTO' => 'https')));
        $hostile = P2PMonitor_Setup::origin(array('HTTP_HOST' => 'cp.example.org"><script>', 'HTTPS' => 'off'));
        $this->assertStringStartsWith('http://cp.example.org', $hostile);
        $this->assertDoesNotMatchRegularExpression('/["<>]/', $hostile);
    }

    public function testSqlRunByHandWithoutMarkersIsReported()
    {
        // What a user who runs the .sql by hand gets: the table, but FluxCP does not know it is installed.
        p2p_clear_markers();
        $this->assertTrue(p2p_installer()->updateNeeded(), 'FluxCP would show only its installer');
        $checks = $this->checks();
        $schema = $checks["Schema installed by FluxCP's installer"];
        $this->assertFalse($schema['ok']);
        $this->assertStringContainsString('p2p_monitor_settings.20261126.sql', $schema['detail']);
        $this->assertStringContainsString('Install or Update Everything', $schema['fix']);
        $this->assertTrue($checks['Table p2p_monitor_settings']['ok']);
    }

    public function testTheInstallerRunsEverySchemaOnceAndRecordsIt()
    {
        p2p_pdo()->exec('DROP TABLE p2p_monitor_settings');
        p2p_clear_markers();
        $checks = $this->checks();
        $this->assertFalse($checks['Table p2p_monitor_settings']['ok']);
        $installer = p2p_installer();
        $installer->updateAll(new StubConnection(p2p_pdo()), p2p_env('P2PMON_MYSQL_DB'));
        $this->assertFalse($installer->updateNeeded());
        foreach (p2p_schema_files() as $file) {
            $this->assertFileExists(p2p_marker_dir() . '/' . basename($file, '.sql') . '.txt');
        }
        $checks = $this->checks();
        $this->assertTrue($checks["Schema installed by FluxCP's installer"]['ok']);
        $this->assertTrue($checks['Table p2p_monitor_settings']['ok']);
    }

    public function testMissingConfigurationAndAWrongTokenAreNamed()
    {
        p2p_configure(null, 'p2pa_wrong');
        Flux::config('P2PMonitor.websocket_url', '');
        $checks = $this->checks();
        $this->assertFalse($checks['Setting P2PMonitor.websocket_url']['ok']);
        $api = $checks['Monitoring service API and token'];
        $this->assertFalse($api['ok']);
        $this->assertStringContainsString('token create --api', $api['fix']);
    }
}
