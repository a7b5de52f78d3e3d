<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Alerts: active (acknowledge, resolve, publish on the status page as an incident), history, silences (create, end).
$title = Flux::message('P2PAlertsTitle');
$p2p = P2PMonitor_Addon::fromFlux();
$do = null;
$csrf = P2PMonitor_Csrf::token();
$notice = null;
$error = null;
$incidentOffer = null;
if (count($_POST) > 0) {
    if (!P2PMonitor_Csrf::valid($params->get('csrf'))) {
        $error = Flux::message('P2PBadCsrf');
    } else {
        $do = (string) $params->get('do');
        list($done, $error) = $p2p->attempt(function ($client) use ($do, $params, $session) {
            $who = P2PMonitor_Addon::currentUser($session);
            switch ($do) {
                case 'acknowledge':
                    return $client->updateAlert((int) $params->get('id'), 'acknowledged', null, $who);
                case 'resolve':
                    return $client->updateAlert((int) $params->get('id'), 'resolved', (string) $params->get('notes'), $who);
                case 'silence':
                    $minutes = max(1, min(30 * 24 * 60, (int) $params->get('minutes')));
                    $host = trim((string) $params->get('host'));
                    $rule = trim((string) $params->get('rule'));
                    return $client->createSilence(array(
                        'host'    => $host !== '' ? $host : null,
                        'rule'    => $rule !== '' ? $rule : null,
                        'ends_ms' => (int) round(microtime(true) * 1000) + $minutes * 60000,
                        'author'  => $who,
                        'comment' => substr((string) $params->get('comment'), 0, 500),
                    ));
                case 'unsilence':
                    return $client->endSilence((int) $params->get('id'));
                case 'resolve_incident':
                    return $client->addStatusUpdate((int) $params->get('post'), array(
                        'state'  => 'resolved',
                        'body'   => substr((string) $params->get('body'), 0, 5000),
                        'author' => $who,
                    ));
                case 'publish':
                    // The alert's text stays private: players see only this title.
                    return $client->createStatusPost(array(
                        'kind'     => 'incident',
                        'title'    => substr(trim((string) $params->get('title')), 0, 200),
                        'body'     => substr((string) $params->get('body'), 0, 5000),
                        'alert_id' => (int) $params->get('id'),
                        'author'   => $who,
                    ));
            }
            throw new P2PMonitor_Error(P2PMonitor_Error::REFUSED, P2PMonitor_View::text('P2PUnknownAction'));
        });
        if ($error === null) {
            $notice = Flux::message('P2PDone_' . $do);
        }
        // A resolved alert published as an incident: offer to resolve the incident too.
        if ($error === null && $do === 'resolve') {
            list($posts) = $p2p->attempt(function ($client) {
                return $client->statusPosts();
            });
            foreach ($posts ? $posts['posts'] : array() as $post) {
                if ($post['kind'] === 'incident' && $post['ends_ms'] === null && $post['alert_id'] === (int) $params->get('id')) {
                    $incidentOffer = $post;
                }
            }
        }
    }
}
list($lists, $listError) = $p2p->attempt(function ($client) {
    return array(
        'active'   => $client->activeAlerts(),
        'history'  => $client->alerts(array('status' => 'resolved', 'limit' => 50)),
        'silences' => $client->silences(),
        'rules'    => $client->rules(),
    );
});
$error = $error !== null ? $error : $listError;
$live = $listError === null ? $p2p->live() : null;
