<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * A small JSON client of the p2pmon aggregator's query API (cURL). Every
 * call sends the addon's API token; every failure becomes a P2PMonitor_Error
 * of one kind (the service does not answer, it refused the request, what
 * was asked for does not exist, it answered something unexpected) with the
 * detail it gave, never the token. The pages say which (lang/: P2PError*).
 */
class P2PMonitor_Error extends Exception
{
    const UNREACHABLE = 'unreachable';
    const TOKEN = 'token';
    const REFUSED = 'refused';
    const NOT_FOUND = 'not_found';
    const INVALID = 'invalid';
    const CONFIG = 'config';
    const DATABASE = 'database';

    /** @var string one of the constants above */
    public $kind;

    public function __construct($kind, $detail = '')
    {
        parent::__construct((string) $detail);
        $this->kind = $kind;
    }
}

class P2PMonitor_Client
{
    private $base;
    private $token;
    private $timeout;

    public function __construct($baseUrl, $token, $timeoutSeconds = 5)
    {
        $this->base = rtrim((string) $baseUrl, '/');
        $this->token = (string) $token;
        $this->timeout = max(1, (int) $timeoutSeconds);
    }

    public function get($path, array $query = array())
    {
        $query = array_filter($query, function ($value) {
            return $value !== null && $value !== '';
        });
        if ($query) {
            $path .= '?' . http_build_query($query);
        }
        return $this->request('GET', $path);
    }

    public function post($path, $body = null)
    {
        return $this->request('POST', $path, $body);
    }

    public function patch($path, $body)
    {
        return $this->request('PATCH', $path, $body);
    }

    public function delete($path)
    {
        return $this->request('DELETE', $path);
    }

    public function realtime()
    {
        return $this->get('/api/v1/metrics/realtime');
    }

    public function hosts(array $query)
    {
        return $this->get('/api/v1/hosts', $query);
    }

    public function host($id)
    {
        return $this->get('/api/v1/hosts/' . rawurlencode($id));
    }

    public function maps()
    {
        return $this->get('/api/v1/maps');
    }

    public function matrix()
    {
        return $this->get('/api/v1/network/matrix');
    }

    public function activeAlerts()
    {
        return $this->get('/api/v1/alerts/active');
    }

    public function alerts(array $query)
    {
        return $this->get('/api/v1/alerts', $query);
    }

    /** Acknowledge or resolve an alert; $author is kept as acknowledged_by or resolved_by. */
    public function updateAlert($id, $status, $notes = null, $author = null)
    {
        $body = array('status' => $status);
        if ($notes !== null && $notes !== '') {
            $body['resolution_notes'] = $notes;
        }
        if ($author !== null && $author !== '') {
            $body['author'] = $author;
        }
        return $this->patch('/api/v1/alerts/' . (int) $id, $body);
    }

    public function silences()
    {
        return $this->get('/api/v1/silences');
    }

    public function createSilence(array $silence)
    {
        return $this->post('/api/v1/silences', $silence);
    }

    public function endSilence($id)
    {
        return $this->delete('/api/v1/silences/' . (int) $id);
    }

    /** Players per host and per map, each day's peak and average, over the last $days days. */
    public function playerHistory($days)
    {
        return $this->get('/api/v1/players/history', array('days' => (int) $days));
    }

    /** The public status page's figures (404 when the aggregator's status_page is off). */
    public function status()
    {
        return $this->get('/api/v1/status');
    }

    /** Publish an incident or maintenance window on the status page. */
    public function createStatusPost(array $post)
    {
        return $this->post('/api/v1/status/posts', $post);
    }

    /** The status page's posts with the alert each came from. */
    public function statusPosts()
    {
        return $this->get('/api/v1/status/posts');
    }

    /** An update to status post $id; "resolved" ends an incident. */
    public function addStatusUpdate($id, array $update)
    {
        return $this->post('/api/v1/status/posts/' . (int) $id . '/updates', $update);
    }

    /** The alert rules and notification channels in force (no secrets). */
    public function rules()
    {
        return $this->get('/api/v1/rules');
    }

    public function coordinator()
    {
        return $this->get('/api/v1/coordinator');
    }

    public function events(array $query)
    {
        return $this->get('/api/v1/events', $query);
    }

    /** A single-use ticket that opens the WebSocket feed once, within a minute. */
    public function wsTicket()
    {
        $answer = $this->post('/api/v1/ws-ticket');
        if (!isset($answer['ticket']) || !is_string($answer['ticket'])) {
            throw new P2PMonitor_Error(P2PMonitor_Error::INVALID, 'no WebSocket ticket in the answer');
        }
        return $answer['ticket'];
    }

    private function request($method, $path, $body = null)
    {
        if ($this->base === '') {
            throw new P2PMonitor_Error(P2PMonitor_Error::CONFIG, 'P2PMonitor.coordinator_api');
        }
        $curl = curl_init($this->base . $path);
        $headers = array('Accept: application/json', 'Authorization: Bearer ' . $this->token);
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
        } elseif ($method === 'POST') {
            curl_setopt($curl, CURLOPT_POSTFIELDS, '');
        }
        curl_setopt_array($curl, array(
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CONNECTTIMEOUT => $this->timeout,
            CURLOPT_TIMEOUT => $this->timeout,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ));
        $raw = curl_exec($curl);
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        $error = curl_error($curl);
        curl_close($curl);
        if ($raw === false) {
            throw new P2PMonitor_Error(P2PMonitor_Error::UNREACHABLE, $this->base . ': ' . $error);
        }
        $data = json_decode($raw, true);
        if ($status < 200 || $status >= 300) {
            $why = is_array($data) && isset($data['message']) && is_string($data['message'])
                ? $data['message'] : 'HTTP ' . $status;
            if ($status === 401) {
                throw new P2PMonitor_Error(P2PMonitor_Error::TOKEN, 'P2PMonitor.api_token');
            }
            if ($status === 404) {
                throw new P2PMonitor_Error(P2PMonitor_Error::NOT_FOUND, $why);
            }
            if ($status >= 500 || $status < 200) {
                throw new P2PMonitor_Error(P2PMonitor_Error::INVALID, $why);
            }
            throw new P2PMonitor_Error(P2PMonitor_Error::REFUSED, $why);
        }
        if (!is_array($data)) {
            throw new P2PMonitor_Error(P2PMonitor_Error::INVALID, 'HTTP ' . $status . ', not JSON');
        }
        return $data;
    }
}
