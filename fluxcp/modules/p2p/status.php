<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Server status for players (access: anyone, config/access.php): the aggregator's public status page
// (/api/v1/status) in the panel's theme: each listed server's state now and a bar per day of its uptime, the
// incidents and maintenance windows the admins published. Only what the aggregator's status_page lists is there;
// a page that is off or does not answer says so without the admins' details.
$title = Flux::message('P2PStatusTitle');
$p2p = P2PMonitor_Addon::fromFlux();
list($status, $statusError) = $p2p->attempt(function ($client) {
    return $client->status();
});
