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
        $_COOKIE = array();
    }

    private function settings()
    {
        return new P2PMonitor_Settings(new StubConnection(p2p_pdo()), p2p_env('P2PMON_MYSQL_DB'));
    }

    /** The value attribute of input `$name` in `$html`. */
    private function inputValue($html, $name)
    {
        $this->assertSame(1, preg_match('/<input id="p2p-' . $name . '" name="' . $name . '" size="60"\s+value="([^"]*)"/', $html, $m), $name);
        return html_entity_decode($m[1], ENT_QUOTES);
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
            'settings' => array(array(), 'Notification e-mails'),
            'setup' => array(array(), 'Table p2p_monitor_settings'),
        );
        foreach ($pages as $action => list($get, $expected)) {
            $html = p2p_page($action, $get);
            $this->assertStringContainsString($expected, $html, $action);
            $this->assertStringNotContainsString(p2p_env('P2PMON_TOKEN'), $html, "$action must not show the API token");
            $this->assertStringNotContainsString('data-p2p-error-kind', $html, $action);
            $this->assertDoesNotMatchRegularExpression('/>\s*P2P[A-Z]\w*/', $html, "$action shows a lang key for want of its text");
        }
    }

    public function testPlayersSeeTheServerStatusAndNoHostOrAccount()
    {
        foreach (array(array('player_one', AccountLevel::NORMAL), array(null, AccountLevel::ANYONE)) as list($user, $level)) {
            $html = p2p_page('status', array(), null, $user, $level);
            $this->assertStringContainsString('<th>Prontera map</th>', $html, 'a listed server by its page name');
            $this->assertStringContainsString(P2PMonitor_View::h(p2p_env('P2PMON_HOSTILE')), $html, 'a hostile name as text');
            $this->assertStringNotContainsString(p2p_env('P2PMON_HOSTILE'), $html);
            $this->assertSame(2, substr_count($html, '<div class="p2p-bar">'), 'one bar per listed server');
            $this->assertSame(180, substr_count($html, '<span class="'), '90 days each');
            foreach (array('fluxcp-a', 'fluxcp-b', 'fluxcp-c', p2p_env('P2PMON_TOKEN')) as $hidden) {
                $this->assertStringNotContainsString($hidden, $html, "the players' page shows $hidden");
            }
            $this->assertDoesNotMatchRegularExpression('/>\s*P2P[A-Z]\w*/', $html, 'a lang key for want of its text');
        }
        $this->assertStringContainsString('<td class="p2p-state-up">Up</td>', p2p_page('status'), 'fluxcp-b reports its map-server up');
    }

    public function testALinkAtFullLossSaysNoAnswerNotItsLastLatency()
    {
        $html = p2p_page('network');
        $this->assertSame(1, preg_match_all('/<td data-p2p-no-answer title="last answer [^"]+">no answer<\/td>/', $html), $html);
        $this->assertStringContainsString('no answer (last answer', $html, 'the lossy list too');
    }

    public function testSettingsShowsTheFourStoredValues()
    {
        $stored = array(
            'alert_thresholds' => '{"cpu":81,"memory":82,"latency":183}',
            'notification_emails' => '["ops@example.org"]',
            'discord_webhook' => 'https://discord.example/api/webhooks/9/abc',
            'monitoring_interval' => '4321',
        );
        $pdo = p2p_pdo();
        foreach ($stored as $name => $value) {
            $pdo->prepare('UPDATE p2p_monitor_settings SET setting_value = ? WHERE setting_name = ?')->execute(array($value, $name));
        }
        $html = p2p_page('settings');
        foreach ($stored as $name => $value) {
            $this->assertSame($value, $this->inputValue($html, $name));
        }
        $this->assertStringNotContainsString('Undefined', $html);
    }

    public function testChangingOnlyTheCpuThresholdSavesItAndKeepsTheOtherThree()
    {
        $before = $this->settings()->all();
        $form = $before;
        $form['alert_thresholds'] = '{"cpu":70,"memory":85,"latency":200}';
        $html = p2p_page('settings', array(), $form + array('csrf' => P2PMonitor_Csrf::token()), 'gm_alice');
        $this->assertStringContainsString(P2PMonitor_View::text('P2PSaved', 'alert_thresholds'), $html);
        $this->assertStringNotContainsString('data-p2p-error=', $html);
        $rows = $this->settings()->rows();
        $this->assertSame('{"cpu":70,"memory":85,"latency":200}', $rows['alert_thresholds']['value']);
        $this->assertSame('gm_alice', $rows['alert_thresholds']['updated_by']);
        foreach (array('notification_emails', 'discord_webhook', 'monitoring_interval') as $name) {
            $this->assertSame($before[$name], $rows[$name]['value'], $name);
            $this->assertNull($rows[$name]['updated_by'], "$name was not written");
        }
        $this->assertSame('{"cpu":70,"memory":85,"latency":200}', $this->inputValue($html, 'alert_thresholds'));
        $this->assertStringContainsString('Last changed by gm_alice', $html);
    }

    public function testTheSettingsPageRefusesAForgedFormAndBadValues()
    {
        $before = $this->settings()->all();
        $form = array('monitoring_interval' => '4000') + $before;
        $html = p2p_page('settings', array(), $form + array('csrf' => 'forged'));
        $this->assertStringContainsString(Flux::message('P2PBadCsrf'), $html);
        $this->assertSame($before, $this->settings()->all());

        $csrf = P2PMonitor_Csrf::token();
        $html = p2p_page('settings', array(), array('monitoring_interval' => '7', 'discord_webhook' => 'https://ok.example/x') + $before + array('csrf' => $csrf));
        $this->assertStringContainsString('data-p2p-error="monitoring_interval"', $html);
        $this->assertSame('7', $this->inputValue($html, 'monitoring_interval'), 'the bad value stays in the form');
        $this->assertSame($before, $this->settings()->all(), 'the good change is not stored either');

        $html = p2p_page('settings', array(), $before + array('csrf' => $csrf));
        $this->assertStringContainsString(Flux::message('P2PNothingChanged'), $html);
    }

    public function testASilenceCarriesTheLoggedInAdminsName()
    {
        $csrf = P2PMonitor_Csrf::token();
        $html = p2p_page('alerts', array(), array('do' => 'silence', 'host' => 'fluxcp-c', 'minutes' => '30',
            'comment' => 'disk swap', 'csrf' => $csrf), 'gm_alice');
        $this->assertStringContainsString(Flux::message('P2PDone_silence'), $html);
        $client = new P2PMonitor_Client(p2p_env('P2PMON_API'), p2p_env('P2PMON_TOKEN'));
        $mine = array_values(array_filter($client->silences()['silences'], function ($s) {
            return $s['comment'] === 'disk swap';
        }));
        $this->assertCount(1, $mine);
        $this->assertSame('gm_alice', $mine[0]['author']);
        $this->assertStringContainsString('<td class="p2p-by">gm_alice</td>', $html);
        $client->endSilence($mine[0]['id']);
    }

    public function testNobodyLoggedInChangesNothing()
    {
        // FluxCP refuses the page first; were it reached, the controller still refuses to act without a user.
        $this->assertSame('permission denied', p2p_page('alerts', array(), array('do' => 'silence'), null));
        $session = new StubSession(null, AccountLevel::UNAUTH, null);
        $this->expectException(P2PMonitor_Error::class);
        P2PMonitor_Addon::currentUser($session);
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
        $this->assertStringContainsString(Flux::message('P2PDone_acknowledge'), $html);
        $acked = $client->activeAlerts()['alerts'][0];
        $this->assertSame('acknowledged', $acked['status']);
        $this->assertSame('admin', $acked['acknowledged_by'], 'the logged-in admin is the author');
        $this->assertStringContainsString('<span data-p2p-by>by admin</span>', p2p_page('alerts'));
    }

    public function testOneAdminMenuEntryAndASubMenuBetweenThePages()
    {
        foreach (array_keys(P2PMonitor_Addon::PAGES) as $action) {
            $html = p2p_page($action, array(), null, 'admin', AccountLevel::ADMIN, true);
            $this->assertSame(1, preg_match_all('/class="admin-menu-item"[^>]*>P2P Monitoring</', $html), $action);
            preg_match_all('/class="menu-category">([^<]*)</', $html, $categories);
            $this->assertSame(array('Game'), $categories[1], "$action: admin pages leave the main menu; the players' status stays");
            foreach (P2PMonitor_Addon::PAGES as $other => $label) {
                $this->assertStringContainsString(sprintf('href="%s" class="sub-menu-item%s">%s</a>',
                    htmlspecialchars('?module=p2p&action=' . $other), $other === $action ? ' current-sub-menu' : '',
                    Flux::message($label)), $html, "$action links to $other");
            }
        }
    }

    public function testAHighGmSeesThePagesButNotSettings()
    {
        $html = p2p_page('hosts', array(), null, 'gm_bob', AccountLevel::HIGHGM, true);
        $this->assertStringContainsString('action=alerts" class="sub-menu-item"', $html);
        $this->assertStringNotContainsString('action=settings"', $html);
        $this->assertSame('permission denied', p2p_page('settings', array(), null, 'gm_bob', AccountLevel::HIGHGM));
    }

    public function testBelowTheAdminMenuLevelTheEntryStaysInItsGroup()
    {
        p2p_configure();
        Flux::config('AdminMenuGroupLevel', AccountLevel::ADMIN);
        $html = p2p_page('monitoring', array(), null, 'admin', AccountLevel::ADMIN, true);
        $this->assertStringContainsString('<strong class="menu-category">P2P Monitoring</strong>', $html);
        $this->assertStringNotContainsString('class="admin-menu-item"', $html);
    }

    public function testSwitchingTheLanguageChangesThePagesText()
    {
        $english = p2p_page('hosts', array(), null, 'admin', AccountLevel::ADMIN, true);
        $_COOKIE['language'] = 'es_es';
        $spanish = p2p_page('hosts', array(), null, 'admin', AccountLevel::ADMIN, true);
        $this->assertStringContainsString('<h2>P2P Hosts</h2>', $english);
        $this->assertStringContainsString('<h2>Hosts P2P</h2>', $spanish);
        $this->assertStringContainsString('>Monitorización P2P</a>', $spanish, 'the admin menu entry');
        $this->assertStringContainsString('class="sub-menu-item">Alertas</a>', $spanish, 'the sub-menu');
        $this->assertStringContainsString('Último informe', $spanish);
        $_COOKIE['language'] = 'xx_xx';
        $this->assertStringContainsString('<h2>P2P Hosts</h2>', p2p_page('hosts'), 'a language FluxCP lacks falls back to English');
    }

    public function testEveryTextKeyUsedIsInEveryLanguage()
    {
        $source = '';
        foreach (array('modules/p2p', 'themes/default/p2p', 'lib/P2PMonitor') as $dir) {
            foreach (glob(FLUX_ROOT . "/$dir/*.php") as $file) {
                $source .= file_get_contents($file);
            }
        }
        preg_match_all("/'(P2P[A-Z][A-Za-z0-9]*(?:_[a-z_]+)?)'/", $source, $m);
        $used = array_unique($m[1]);
        $this->assertGreaterThan(150, count($used));
        $english = require FLUX_ROOT . '/lang/en_us.php';
        $spanish = require FLUX_ROOT . '/lang/es_es.php';
        $this->assertSame(array_keys($english), array_keys($english + $spanish), 'es_es has no key en_us lacks');
        foreach ($used as $key) {
            if (substr($key, -1) === '_' || $key === 'P2PCol') {
                continue; // a prefix completed at run time; its keys are checked below
            }
            $this->assertArrayHasKey($key, $english, $key);
            $this->assertArrayHasKey($key, $spanish, $key);
        }
        $dynamic = array('P2PDone_' => array('acknowledge', 'resolve', 'silence', 'unsilence', 'publish', 'resolve_incident'),
            'P2PStatusOverall_' => array('operational', 'degraded', 'outage', 'maintenance'),
            'P2PServerState_' => array('up', 'down', 'unknown', 'maintenance'),
            'P2PSetting_' => P2PMonitor_Settings::NAMES, 'P2PSettingHelp_' => P2PMonitor_Settings::NAMES,
            'P2PFixConfig_' => array('coordinator_api', 'api_token', 'websocket_url'),
            'P2PStatus_' => array('online', 'degraded', 'offline'),
            'P2PSort_' => array_column(P2PMonitor_Tables::table('hosts')['sorts'], 'key'));
        foreach (P2PMonitor_Tables::all() as $name => $table) {
            foreach (is_array($table) ? $table['columns'] : array() as $column) {
                if ($column['label'] !== '') {
                    $this->assertArrayHasKey(P2PMonitor_Tables::labelKey($column), $spanish, "$name: {$column['key']}");
                }
            }
        }
        foreach ($dynamic as $prefix => $names) {
            foreach ($names as $name) {
                $this->assertArrayHasKey($prefix . $name, $english);
                $this->assertArrayHasKey($prefix . $name, $spanish);
            }
        }
        foreach ($english as $key => $text) {
            $this->assertSame(substr_count($text, '%') , substr_count($spanish[$key], '%'), "$key: same placeholders");
        }
    }

    public function testLivePagesCarryATicketAndRefreshInPlace()
    {
        $html = p2p_page('hosts');
        $this->assertMatchesRegularExpression('/data-p2p-live="\{&quot;url&quot;:[^"]*&quot;ticket&quot;:&quot;p2pw_[0-9a-f]{64}&quot;/', $html);
        $this->assertStringContainsString('<div id="p2p-page">', $html);
        $this->assertStringContainsString('data-p2p-host="fluxcp-b"', $html);
        $this->assertStringContainsString('data-p2p-metric="cpu_usage"', $html);
        $this->assertStringContainsString('websocket.allowed_origins', html_entity_decode($html));
        $this->assertStringNotContainsString('location.reload', $html, 'never a whole reload');
    }

    public function testTheSharedTablesHaveTheDashboardsColumnsInOrder()
    {
        $pages = array('hosts' => p2p_page('hosts'), 'alerts' => p2p_page('alerts'), 'maps' => p2p_page('maps'),
            'network' => p2p_page('network'), 'host' => p2p_page('host', array('id' => 'fluxcp-b')));
        $tables = array('hosts' => array('hosts', 'p2p-hosts'), 'active_alerts' => array('alerts', 'p2p-alerts'),
            'map_distribution' => array('maps', 'p2p-maps'), 'assignments' => array('maps', 'p2p-assignments'),
            'player_history' => array('maps', 'p2p-player-history'),
            'lossy_links' => array('network', 'p2p-lossy'), 'traffic' => array('network', 'p2p-traffic'),
            'alert_history' => array('alerts', 'p2p-history'), 'silences' => array('alerts', 'p2p-silences'),
            'metric_rules' => array('alerts', 'p2p-rules'), 'channels' => array('alerts', 'p2p-channels'),
            'host_alerts' => array('host', 'p2p-host-alerts'), 'host_events' => array('host', 'p2p-host-events'));
        $this->assertSame(array_keys($tables), array_values(array_diff(array_keys(P2PMonitor_Tables::all()), array('about'))),
            'every shared table is checked here');
        foreach ($tables as $name => list($page, $class)) {
            $html = $pages[$page];
            $this->assertSame(1, preg_match('/<table class="horizontal-table ' . $class . '">\s*<tr>(.*?)<\/tr>/s', $html, $m), $name);
            preg_match_all('/<th>(.*?)<\/th>/', $m[1], $headers);
            $labels = array_column(P2PMonitor_Tables::columns($name), 'label');
            $this->assertSame($labels, $headers[1], "$name: the headers of tables.json, in its order");
        }
        $this->assertContains('Last report', $labels = array_column(P2PMonitor_Tables::columns('hosts'), 'label'));
        // One cell per column in each row, and the cells the feed updates marked with their metric.
        $this->assertSame(1, preg_match('/<tr data-p2p-host="fluxcp-b">(.*?)<\/tr>/s', $pages['hosts'], $row));
        $this->assertSame(count($labels), substr_count($row[1], '<td'));
        $this->assertStringContainsString('<td class="p2p-cpu" data-p2p-metric="cpu_usage" data-p2p-unit=" %">91.0 %</td>', $row[1]);

        $this->assertStringContainsString('<td class="p2p-loss">100.0 %</td>', $pages['network'], 'fluxcp-b loses every echo');
        $this->assertMatchesRegularExpression('/<td class="p2p-rule">cpu_usage<\/td>.*<td class="p2p-for">0 s<\/td>/s', $pages['alerts'],
            'the rule in force, its duration in the seconds format');
        $this->assertMatchesRegularExpression('/<td class="p2p-map">prt_fild08<\/td><td class="p2p-hosts"><a href="[^"]*fluxcp-b">fluxcp-b<\/a><\/td>/', $pages['maps']);
        $this->assertStringContainsString('<td class="p2p-map">prt_fild08</td><td class="p2p-peak_30d">12</td><td class="p2p-average_30d">12.00</td>',
            $pages['maps'], "the map's player history from the hour rollups");

        $_COOKIE['language'] = 'es_es';
        $this->assertStringContainsString('<th>Último informe</th>', p2p_page('hosts'), 'headers translated');
        $this->assertStringContainsString('orden: CPU', p2p_page('hosts'), 'sort names translated');
    }

    public function testTheTicketActionGivesAFreshTicketEachTimeToItsOwnPageOnly()
    {
        $html = p2p_page('hosts');
        $this->assertSame(1, preg_match('/data-p2p-csrf="([0-9a-f]{64})"/', $html, $m), 'the page carries its CSRF token');
        $this->assertStringContainsString('data-p2p-renew="?module=p2p&amp;action=ticket"', $html);
        $p2p = P2PMonitor_Addon::fromFlux();
        list($status, $first) = $p2p->ticketAnswer('POST', $m[1]);
        list($again, $second) = $p2p->ticketAnswer('POST', $m[1]);
        $this->assertSame(array(200, 200), array($status, $again));
        $this->assertMatchesRegularExpression('/^p2pw_[0-9a-f]{64}$/', $first['ticket']);
        $this->assertNotSame($first['ticket'], $second['ticket'], 'single-use: a new one each time');
        $this->assertSame(p2p_env('P2PMON_WS'), $first['url']);
        $this->assertStringNotContainsString(p2p_env('P2PMON_TOKEN'), json_encode($first));

        $this->assertSame(403, $p2p->ticketAnswer('POST', 'forged')[0], 'another page\'s request');
        $this->assertSame(403, $p2p->ticketAnswer('POST', null)[0]);
        $this->assertSame(405, $p2p->ticketAnswer('GET', $m[1])[0]);
        p2p_configure(null, 'p2pa_wrong-token');
        $this->assertSame(503, P2PMonitor_Addon::fromFlux()->ticketAnswer('POST', $m[1])[0], 'the aggregator refused');
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

    public function testNotFoundUnreachableAndRefusedAreToldApart()
    {
        $html = p2p_page('host', array('id' => 'no-such-host'));
        $this->assertStringContainsString('data-p2p-error-kind="not_found"', $html);
        $this->assertStringContainsString('Not found:', $html);
        $this->assertStringNotContainsString('does not answer', $html);

        $html = p2p_page('host', array('id' => 'FLUXCP-B'));
        $this->assertStringNotContainsString('data-p2p-error-kind', $html, 'an id in capitals is the same host');
        $this->assertStringContainsString('data-p2p-host="fluxcp-b"', $html);

        $html = p2p_page('host', array('id' => 'bad id!'));
        $this->assertStringContainsString('data-p2p-error-kind="not_found"', $html);
        $this->assertStringContainsString('is not a host id', $html);

        p2p_configure('http://127.0.0.1:1');
        $html = p2p_page('monitoring');
        $this->assertStringContainsString('data-p2p-error-kind="unreachable"', $html);
        $this->assertStringContainsString('does not answer', $html);
        $this->assertStringContainsString('data-state="off"', $html, 'no ticket: the page refreshes itself');

        p2p_configure(null, 'p2pa_wrong-token');
        $html = p2p_page('monitoring');
        $this->assertStringContainsString('data-p2p-error-kind="token"', $html);
        $this->assertStringContainsString('P2PMonitor.api_token', $html);
        $this->assertStringNotContainsString('p2pa_wrong-token', $html);
    }

    /** Last: it resolves the one alert the other tests read. */
    public function testAnAlertIsPublishedAsAnIncidentThePlayersSee()
    {
        $alerts = (new P2PMonitor_Client(p2p_env('P2PMON_API'), p2p_env('P2PMON_TOKEN')))->activeAlerts()['alerts'];
        $this->assertNotEmpty($alerts, 'fluxcp-b\'s cpu_usage alert');
        $form = array('csrf' => P2PMonitor_Csrf::token(), 'do' => 'publish', 'id' => $alerts[0]['id'],
            'title' => 'Lag in Prontera <b>now</b>', 'body' => 'We are looking into it');
        $html = p2p_page('alerts', array(), $form, 'gm_alice');
        $this->assertStringContainsString(P2PMonitor_View::text('P2PDone_publish'), $html);
        $this->assertStringContainsString('class="p2p-publish"', p2p_page('alerts'), 'each active alert has the form');
        // The aggregator rebuilds its page when a post arrives.
        $deadline = microtime(true) + 10;
        do {
            $status = p2p_page('status', array(), null, null, AccountLevel::ANYONE);
            $shown = strpos($status, 'Lag in Prontera &lt;b&gt;now&lt;/b&gt;') !== false;
        } while (!$shown && microtime(true) < $deadline && usleep(100000) === null);
        $this->assertTrue($shown, $status);
        $this->assertStringContainsString('We are looking into it', $status);
        $this->assertStringNotContainsString('gm_alice', $status, 'the author stays private');
        $this->assertStringNotContainsString('cpu_usage', $status, "the alert's text stays private");

        // Resolving the alert offers to resolve the incident; taking the offer ends it.
        $html = p2p_page('alerts', array(), array('csrf' => P2PMonitor_Csrf::token(), 'do' => 'resolve', 'id' => $alerts[0]['id']), 'gm_alice');
        $this->assertSame(1, preg_match('/class="p2p-resolve-incident">.*?name="post" value="(\d+)"/s', $html, $m), $html);
        $this->assertStringContainsString('the incident &quot;Lag in Prontera &lt;b&gt;now&lt;/b&gt;&quot;', $html);
        $html = p2p_page('alerts', array(), array('csrf' => P2PMonitor_Csrf::token(), 'do' => 'resolve_incident', 'post' => $m[1],
            'body' => 'Fixed'), 'gm_alice');
        $this->assertStringContainsString(P2PMonitor_View::text('P2PDone_resolve_incident'), $html);
        $posts = (new P2PMonitor_Client(p2p_env('P2PMON_API'), p2p_env('P2PMON_TOKEN')))->statusPosts()['posts'];
        $this->assertNotNull($posts[0]['ends_ms'], 'the incident ended');
        $this->assertSame('gm_alice', $posts[0]['author']);
    }
}
