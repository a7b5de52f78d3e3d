<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * What every controller of the addon starts from: the settings of
 * config/addon.php (P2PMonitor.*), a client of the aggregator, and the
 * live-update parameters for the page.
 */
class P2PMonitor_Addon
{
    /** @var P2PMonitor_Client */
    public $client;
    public $websocketUrl;
    public $refreshInterval;
    public $alertChannels;
    public $metricsRetention;

    public function __construct(array $config)
    {
        $get = function ($key, $default) use ($config) {
            return isset($config[$key]) && $config[$key] !== '' ? $config[$key] : $default;
        };
        $this->client = new P2PMonitor_Client(
            $get('coordinator_api', 'http://localhost:5121'),
            $get('api_token', ''),
            (int) $get('timeout', 5)
        );
        $this->websocketUrl = $get('websocket_url', 'ws://localhost:5122/monitor');
        $this->refreshInterval = max(1000, (int) $get('refresh_interval', 5000));
        $this->alertChannels = (array) $get('alert_channels', array());
        $this->metricsRetention = (int) $get('metrics_retention', 30);
    }

    /** The pages of module p2p in sub-menu order, with their lang/ label keys. */
    const PAGES = array(
        'monitoring' => 'P2PMenuOverview',
        'hosts'      => 'P2PMenuHosts',
        'maps'       => 'P2PMenuMaps',
        'network'    => 'P2PMenuNetwork',
        'alerts'     => 'P2PMenuAlerts',
        'settings'   => 'P2PMenuSettings',
        'setup'      => 'P2PMenuSetup',
    );

    /**
     * From FluxCP's configuration. Also puts the sub-menu's labels in the
     * user's language: FluxCP's theme prints SubMenuItems names as they are
     * (themes/default/main/submenu.php), and config/addon.php is read before
     * the addon's lang files, so the controller sets them before the header
     * is drawn (Flux_Template runs the controller first).
     */
    public static function fromFlux()
    {
        $labels = array();
        foreach (self::PAGES as $action => $key) {
            $labels[$action] = P2PMonitor_View::text($key);
        }
        Flux::config('SubMenuItems.p2p', $labels);

        $config = array();
        foreach (array('coordinator_api', 'websocket_url', 'refresh_interval', 'alert_channels',
                     'metrics_retention', 'api_token', 'timeout') as $key) {
            $value = Flux::config('P2PMonitor.' . $key);
            if (is_object($value) && method_exists($value, 'toArray')) {
                $value = $value->toArray();
            }
            $config[$key] = $value;
        }
        return new self($config);
    }

    /**
     * Run `$call` with the client: array(result, null), or array(null, the
     * P2PMonitor_Error for the page's _error.php).
     */
    public function attempt($call)
    {
        try {
            return array($call($this->client), null);
        } catch (P2PMonitor_Error $error) {
            return array(null, $error);
        }
    }

    /**
     * The logged-in user's name, recorded with every change. FluxCP's
     * session account is a Flux_DataObject: __get, but no __isset, so
     * isset($session->account->userid) is always false; read it instead.
     */
    public static function currentUser($session)
    {
        $account = is_object($session) ? $session->account : null;
        $userid = is_object($account) ? $account->userid : null;
        if (!is_string($userid) || trim($userid) === '') {
            throw new P2PMonitor_Error(P2PMonitor_Error::REFUSED, P2PMonitor_View::text('P2PNotLoggedIn'));
        }
        return $userid;
    }

    /**
     * What the page's script needs to follow the feed: its address and a
     * single-use ticket (the browser never sees the API token); null when
     * no ticket could be had (the page still works, without live updates).
     */
    public function live()
    {
        list($ticket, $error) = $this->attempt(function ($client) {
            return $client->wsTicket();
        });
        if ($error !== null) {
            return null;
        }
        return array('url' => $this->websocketUrl, 'ticket' => $ticket, 'refresh' => $this->refreshInterval);
    }

    /**
     * The ticket action's answer, array(HTTP status, body): a fresh live()
     * for a POST carrying the session's CSRF token; 405 for another method,
     * 403 without the token, 503 when the aggregator gave no ticket.
     */
    public function ticketAnswer($method, $csrf)
    {
        if ($method !== 'POST') {
            return array(405, array('error' => 'method', 'message' => 'POST with the csrf field'));
        }
        if (!P2PMonitor_Csrf::valid($csrf)) {
            return array(403, array('error' => 'csrf', 'message' => P2PMonitor_View::text('P2PBadCsrf')));
        }
        $live = $this->live();
        if ($live === null) {
            return array(503, array('error' => 'no_ticket', 'message' => P2PMonitor_View::text('P2PNoLive', $this->refreshInterval / 1000)));
        }
        return array(200, $live);
    }
}
