<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Hosts: searchable, sortable, paged (the aggregator pages, 50 at a time).
$title = Flux::message('P2PHostsTitle');
$p2p = P2PMonitor_Addon::fromFlux();
$sorts = array('id', 'status', 'quality', 'players', 'cpu', 'last_seen');
$statuses = array('online', 'degraded', 'offline');
$query = array(
    'search'   => substr(trim((string) $params->get('search')), 0, 64),
    'status'   => in_array($params->get('status'), $statuses, true) ? $params->get('status') : '',
    'sort'     => in_array($params->get('sort'), $sorts, true) ? $params->get('sort') : 'id',
    'page'     => max(1, (int) $params->get('p')),
    'per_page' => 50,
);
list($hosts, $error) = $p2p->attempt(function ($client) use ($query) {
    return $client->hosts($query);
});
$pages = $hosts ? max(1, (int) ceil($hosts['total'] / $query['per_page'])) : 1;
$live = $error === null ? $p2p->live() : null;
