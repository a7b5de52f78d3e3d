<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Hosts: searchable, sortable, paged (the aggregator pages), with the dashboard's sorts, statuses, page size and
// columns (lib/P2PMonitor/tables.json).
$title = Flux::message('P2PHostsTitle');
$p2p = P2PMonitor_Addon::fromFlux();
$table = P2PMonitor_Tables::table('hosts');
$sorts = array_column($table['sorts'], 'key');
$statuses = $table['statuses'];
$query = array(
    'search'   => substr(trim((string) $params->get('search')), 0, 64),
    'status'   => in_array($params->get('status'), $statuses, true) ? $params->get('status') : '',
    'sort'     => in_array($params->get('sort'), $sorts, true) ? $params->get('sort') : $sorts[0],
    'page'     => max(1, (int) $params->get('p')),
    'per_page' => (int) $table['per_page'],
);
list($hosts, $error) = $p2p->attempt(function ($client) use ($query) {
    return $client->hosts($query);
});
$pages = $hosts ? max(1, (int) ceil($hosts['total'] / $query['per_page'])) : 1;
$live = $error === null ? $p2p->live() : null;
