<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// Network: the latency matrix (first 40 hosts), lossy links, traffic; the last two in the dashboard's columns
// (lib/P2PMonitor/tables.json).
$title = Flux::message('P2PNetworkTitle');
$p2p = P2PMonitor_Addon::fromFlux();
list($matrix, $error) = $p2p->attempt(function ($client) {
    return $client->matrix();
});
$shown = array();
$links = array();
$lossy = array();
$busiest = array();
if ($matrix) {
    $shown = array_slice($matrix['hosts'], 0, 40);
    foreach ($matrix['links'] as $link) {
        $links[$link['from'] . "\0" . $link['to']] = $link;
        if (!empty($link['packet_loss_percent'])) {
            $lossy[] = $link;
        }
    }
    usort($lossy, function ($a, $b) {
        return $b['packet_loss_percent'] <=> $a['packet_loss_percent'];
    });
    $busiest = $matrix['traffic'];
    usort($busiest, function ($a, $b) {
        return (float) $b['bandwidth_bytes_per_second'] <=> (float) $a['bandwidth_bytes_per_second'];
    });
    $busiest = array_slice($busiest, 0, (int) P2PMonitor_Tables::table('traffic')['busiest']);
}
$live = $error === null ? $p2p->live() : null;
