<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Overview: system health, active alerts, performance, map distribution.
$title = Flux::message('P2PMonitoringTitle');
$p2p = P2PMonitor_Addon::fromFlux();
list($overview, $error) = $p2p->attempt(function ($client) {
    return array(
        'realtime' => $client->realtime(),
        'alerts'   => $client->activeAlerts(),
        'maps'     => $client->maps(),
    );
});
$csrf = P2PMonitor_Csrf::token();
$live = $error === null ? $p2p->live() : null;
