<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Maps: which host serves which map (P2P or VPS), players, the coordinator's
// assignments and what is assigned but not served, player history per map, in the dashboard's columns
// (lib/P2PMonitor/tables.json).
$title = Flux::message('P2PMapsTitle');
$p2p = P2PMonitor_Addon::fromFlux();
list($maps, $error) = $p2p->attempt(function ($client) {
    return $client->maps();
});
// Player history per map: the last 30 days and the last year, from the aggregator's hour rollups.
list($playerHistory, $historyError) = $p2p->attempt(function ($client) {
    return P2PMonitor_Tables::playerHistory($client->playerHistory(30), $client->playerHistory(365));
});
$error = $error !== null ? $error : $historyError;
$distribution = array();
if ($maps) {
    foreach ($maps['maps'] as $row) {
        $name = $row['map'];
        if (!isset($distribution[$name])) {
            $distribution[$name] = array('map' => $name, 'hosts' => array(), 'players' => 0, 'p2p' => 0, 'vps' => 0,
                'down' => 0, 'assigned' => 0);
        }
        $distribution[$name]['hosts'][] = $row['host'];
        $distribution[$name]['players'] += (float) $row['players'];
        $distribution[$name][$row['host_type'] === 'vps' ? 'vps' : 'p2p'] += 1;
        if ($row['up'] === false || $row['host_status'] === 'offline') {
            $distribution[$name]['down'] += 1;
        }
        if (!empty($row['assigned'])) {
            $distribution[$name]['assigned'] += 1;
        }
    }
    uasort($distribution, function ($a, $b) {
        return $b['players'] <=> $a['players'];
    });
}
$live = $error === null ? $p2p->live() : null;
