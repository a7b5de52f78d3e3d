<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// One host: figures, maps, database sync, plugins, alert history, events.
$title = Flux::message('P2PHostTitle');
$p2p = P2PMonitor_Addon::fromFlux();
// Host ids are lowercase (common/src/rules.rs); one typed in capitals is
// the same host.
$id = strtolower(trim((string) $params->get('id')));
if (!preg_match('/^[a-z0-9][a-z0-9_.-]{0,63}$/', $id)) {
    $detail = null;
    $error = new P2PMonitor_Error(P2PMonitor_Error::NOT_FOUND, P2PMonitor_View::text('P2PNotAHostId', $id));
} else {
    list($detail, $error) = $p2p->attempt(function ($client) use ($id) {
        return array(
            'host'   => $client->host($id),
            'alerts' => $client->alerts(array('host' => $id, 'limit' => 50)),
            'events' => $client->events(array('host' => $id, 'limit' => 50)),
        );
    });
}
$live = $error === null ? $p2p->live() : null;
