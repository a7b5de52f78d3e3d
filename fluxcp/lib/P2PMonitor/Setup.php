<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * What the setup page checks, in the order a new user meets it: the addon's
 * settings, FluxCP's record of the installed schema, the settings table, the
 * aggregator's API and token, and whether the live feed accepts this panel's
 * origin. Each check is array(name, ok, detail, fix), texts from lang/.
 */
class P2PMonitor_Setup
{
    private $p2p;
    private $config;

    public function __construct(P2PMonitor_Addon $p2p, array $config)
    {
        $this->p2p = $p2p;
        $this->config = $config;
    }

    /** One check's row. */
    private static function row($name, $ok, $detail, $fix = '')
    {
        return array('name' => $name, 'ok' => (bool) $ok, 'detail' => (string) $detail, 'fix' => $ok ? '' : (string) $fix);
    }

    /**
     * Every check. `$schemaDir`: the addon's schemas/logindb; `$markerDir`:
     * where FluxCP's installer records what it ran for this login server
     * (FLUX_DATA_DIR/logs/schemas/logindb/<server name>, one empty
     * <schema>.<version>.txt per file run); `$origin`: this panel's origin
     * as browsers send it.
     */
    public function run($schemaDir, $markerDir, P2PMonitor_Settings $settings, $origin)
    {
        $checks = array();
        foreach (array('coordinator_api', 'api_token', 'websocket_url') as $key) {
            $set = isset($this->config[$key]) && is_string($this->config[$key]) && trim($this->config[$key]) !== '';
            $checks[] = self::row(P2PMonitor_View::text('P2PCheckConfig', 'P2PMonitor.' . $key), $set,
                $set ? P2PMonitor_View::text('P2PCheckSet') : P2PMonitor_View::text('P2PCheckNotSet'),
                P2PMonitor_View::text('P2PFixConfig_' . $key));
        }

        $missing = array();
        $files = glob(rtrim($schemaDir, '/') . '/*.sql') ?: array();
        foreach ($files as $file) {
            $marker = rtrim($markerDir, '/') . '/' . basename($file, '.sql') . '.txt';
            if (!file_exists($marker)) {
                $missing[] = basename($file);
            }
        }
        $checks[] = self::row(P2PMonitor_View::text('P2PCheckSchema'), !$missing && $files,
            $missing ? P2PMonitor_View::text('P2PCheckSchemaMissing', implode(', ', $missing))
                : P2PMonitor_View::text('P2PCheckSchemaDone', count($files)),
            P2PMonitor_View::text('P2PFixSchema'));

        try {
            $rows = $settings->rows();
            $absent = array_diff(P2PMonitor_Settings::NAMES, array_keys($rows));
            $checks[] = self::row(P2PMonitor_View::text('P2PCheckTable'), !$absent,
                $absent ? P2PMonitor_View::text('P2PCheckTableRowsMissing', implode(', ', $absent))
                    : P2PMonitor_View::text('P2PCheckTableOk', count($rows)),
                P2PMonitor_View::text('P2PFixSchema'));
        } catch (P2PMonitor_Error $error) {
            $checks[] = self::row(P2PMonitor_View::text('P2PCheckTable'), false, $error->getMessage(),
                P2PMonitor_View::text('P2PFixSchema'));
        }

        list($realtime, $error) = $this->p2p->attempt(function ($client) {
            return $client->realtime();
        });
        $checks[] = self::row(P2PMonitor_View::text('P2PCheckApi'), $error === null,
            $error === null ? P2PMonitor_View::text('P2PCheckApiOk', (int) $realtime['hosts']['online'])
                : html_entity_decode(strip_tags(P2PMonitor_View::error($error)), ENT_QUOTES, 'UTF-8'),
            P2PMonitor_View::text($error !== null && $error->kind === P2PMonitor_Error::TOKEN ? 'P2PFixToken' : 'P2PFixApi'));

        $status = $this->probeOrigin($this->p2p->websocketUrl, $origin, $why);
        // The feed checks the origin before the ticket: 401 (no ticket sent) means the origin passed.
        $checks[] = self::row(P2PMonitor_View::text('P2PCheckOrigin', $origin), $status === 401 || $status === 101,
            $status === 403 ? P2PMonitor_View::text('P2PCheckOriginRefused', $origin)
                : ($status === null ? P2PMonitor_View::text('P2PCheckFeedUnreachable', $this->p2p->websocketUrl, $why)
                    : P2PMonitor_View::text('P2PCheckOriginOk', $status)),
            $status === 403 ? P2PMonitor_View::text('P2PFixOrigin', $origin)
                : P2PMonitor_View::text('P2PFixFeed'));
        return $checks;
    }

    /**
     * The HTTP status the feed answers a WebSocket handshake from `$origin`
     * with (no ticket sent), or null with `$why` when it cannot be reached.
     */
    public function probeOrigin($url, $origin, &$why = null)
    {
        $parts = parse_url((string) $url);
        $scheme = isset($parts['scheme']) ? strtolower($parts['scheme']) : '';
        if (!in_array($scheme, array('ws', 'wss'), true) || empty($parts['host'])) {
            $why = 'not a ws:// or wss:// URL';
            return null;
        }
        $port = isset($parts['port']) ? (int) $parts['port'] : ($scheme === 'wss' ? 443 : 80);
        $path = isset($parts['path']) && $parts['path'] !== '' ? $parts['path'] : '/';
        $socket = @stream_socket_client(($scheme === 'wss' ? 'ssl://' : 'tcp://') . $parts['host'] . ':' . $port,
            $errno, $errstr, 3);
        if (!$socket) {
            $why = $errstr;
            return null;
        }
        stream_set_timeout($socket, 3);
        fwrite($socket, "GET $path HTTP/1.1\r\nHost: {$parts['host']}:$port\r\nUpgrade: websocket\r\n"
            . "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
            . base64_encode(random_bytes(16)) . "\r\nOrigin: $origin\r\n\r\n");
        $line = (string) fgets($socket, 512);
        fclose($socket);
        if (!preg_match('#^HTTP/\S+ (\d{3})#', $line, $m)) {
            $why = 'no HTTP answer';
            return null;
        }
        return (int) $m[1];
    }

    /**
     * This panel's origin as a browser sends it: scheme, host and port (if
     * not the scheme's default). Behind a proxy that ends TLS the scheme is
     * the one it forwards (X-Forwarded-Proto); the pages themselves name
     * the browser's own origin.
     */
    public static function origin(array $server)
    {
        $https = (!empty($server['HTTPS']) && strtolower((string) $server['HTTPS']) !== 'off')
            || (isset($server['HTTP_X_FORWARDED_PROTO']) && strtolower((string) $server['HTTP_X_FORWARDED_PROTO']) === 'https');
        $host = isset($server['HTTP_HOST']) ? (string) $server['HTTP_HOST'] : 'localhost';
        return ($https ? 'https' : 'http') . '://' . preg_replace('/[^A-Za-z0-9.:\[\]-]/', '', $host);
    }
}
