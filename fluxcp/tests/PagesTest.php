<?php
use PHPUnit\Framework\TestCase;

/** Each controller with its view, as FluxCP runs them, against the running aggregator and MariaDB. */
class PagesTest extends TestCase
{
    protected function setUp(): void
    {
        p2p_configure();
        p2p_reset_settings();
        $_SESSION = array();
    }

    public function testEveryPageShowsRealDataAndKeepsTheTokenOut()
    {
        $pages = array(
            'monitoring' => array(array(), 'fluxcp-b'),
            'hosts' => array(array(), 'fluxcp-a'),
            'host' => array(array('id' => 'fluxcp-b'), 'cpu_usage'),
            'maps' => array(array(), 'prt_fild08'),
            'network' => array(array(), 'fluxcp-c'),
            'alerts' => array(array(), 'Rules in force'),
            'settings' => array(array(), 'monitoring_interval'),
        );
        foreach ($pages as $action => list($get, $expected)) {
            $html = p2p_page($action, $get);
            $this->assertStringContainsString($expected, $html, $action);
            $this->assertStringNotContainsString(p2p_env('P2PMON_TOKEN'), $html, "$action must not show the API token");
            $this->assertStringNotContainsString('could not be reached', $html, $action);
        }
    }

    public function testLivePagesCarryATicketForTheFeed()
    {
        $html = p2p_page('hosts');
        $this->assertMatchesRegularExpression('/"ticket":"p2pw_[0-9a-f]{64}"/', $html);
        $this->assertStringContainsString('data-p2p-host="fluxcp-b"', $html);
        $this->assertStringContainsString('data-p2p-metric="cpu_usage"', $html);
    }

    public function testAHostileMapNameIsEscapedEverywhere()
    {
        $hostile = p2p_env('P2PMON_HOSTILE');
        foreach (array('monitoring' => array(), 'hosts' => array(), 'maps' => array(), 'host' => array('id' => 'fluxcp-a')) as $action => $get) {
            $html = p2p_page($action, $get);
            $this->assertStringNotContainsString($hostile, $html, $action);
            $this->assertStringContainsString(htmlspecialchars($hostile, ENT_QUOTES), $html, $action);
        }
    }

    public function testSearchAndPagingAreValidated()
    {
        $html = p2p_page('hosts', array('search' => 'fluxcp-c', 'sort' => 'evil', 'status' => 'bogus', 'p' => '-3'));
        $this->assertStringContainsString('(1 hosts)', $html);
        $this->assertStringContainsString('Page 1 of 1', $html);
    }

    public function testAcknowledgingNeedsTheFormsToken()
    {
        $client = new P2PMonitor_Client(p2p_env('P2PMON_API'), p2p_env('P2PMON_TOKEN'));
        $alert = $client->activeAlerts()['alerts'][0];
        $html = p2p_page('alerts', array(), array('do' => 'acknowledge', 'id' => $alert['id'], 'csrf' => 'forged'));
        $this->assertStringContainsString(Flux::message('P2PBadCsrf'), $html);
        $this->assertSame('firing', $client->activeAlerts()['alerts'][0]['status']);

        $csrf = P2PMonitor_Csrf::token();
        $html = p2p_page('alerts', array(), array('do' => 'acknowledge', 'id' => $alert['id'], 'csrf' => $csrf));
        $this->assertStringContainsString('Done.', $html);
        $this->assertSame('acknowledged', $client->activeAlerts()['alerts'][0]['status']);
    }

    public function testTheSettingsPageSavesOnlyValidValuesWithItsToken()
    {
        $settings = new P2PMonitor_Settings(new StubConnection(p2p_pdo()));
        $form = array('alert_thresholds' => '{"cpu":88}', 'notification_emails' => '["ops@example.org"]',
            'discord_webhook' => 'https://discord.example/hook', 'monitoring_interval' => '4000');
        $before = $settings->all();
        $html = p2p_page('settings', array(), $form + array('csrf' => 'forged'));
        $this->assertStringContainsString(Flux::message('P2PBadCsrf'), $html);
        $this->assertSame($before, $settings->all());

        $csrf = P2PMonitor_Csrf::token();
        $html = p2p_page('settings', array(), array('monitoring_interval' => '7') + $form + array('csrf' => $csrf));
        $this->assertStringContainsString('data-p2p-error="monitoring_interval"', $html);
        $this->assertSame($before, $settings->all());

        $html = p2p_page('settings', array(), $form + array('csrf' => $csrf));
        $this->assertStringContainsString(Flux::message('P2PSaved'), $html);
        $this->assertSame('4000', $settings->all()['monitoring_interval']);
        $this->assertSame('{"cpu":88}', $settings->all()['alert_thresholds']);
    }

    public function testAnUnreachableAggregatorShowsWhy()
    {
        p2p_configure('http://127.0.0.1:1');
        $html = p2p_page('monitoring');
        $this->assertStringContainsString('could not be reached', $html);
        $this->assertStringContainsString(Flux::message('P2PNoLive'), $html);
    }
}
