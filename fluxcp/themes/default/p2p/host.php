<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PHostTitle')) ?>: <?php echo P2PMonitor_View::h($id) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($detail): $host = $detail['host']['host']; $sync = $detail['host']['db_sync']; ?>
<table class="vertical-table" data-p2p-host="<?php echo P2PMonitor_View::h($host['id']) ?>">
  <tr><th>Status</th><td><?php echo P2PMonitor_View::h($host['status']) ?> (<?php echo P2PMonitor_View::h(strtoupper($host['host_type'])) ?>, agent <?php echo P2PMonitor_View::h($host['agent_version']) ?>)</td></tr>
  <tr><th>Quality</th><td><?php echo (int) $host['quality_score'] ?> / 100</td></tr>
  <tr><th>CPU</th><td data-p2p-metric="cpu_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['cpu_usage']) ?></td></tr>
  <tr><th>Memory</th><td data-p2p-metric="memory_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['memory_usage']) ?></td></tr>
  <tr><th>Players</th><td><?php echo P2PMonitor_View::number($host['players'], 0) ?></td></tr>
  <tr><th>Maps served</th><td><?php echo P2PMonitor_View::h(implode(', ', $host['maps'])) ?></td></tr>
  <tr><th>Assigned by the coordinator</th><td><?php
      $assigned = array();
      foreach ($detail['host']['assigned_maps'] as $a) {
          $assigned[] = $a['map'] . ($a['served'] === false ? ' (not served)' : '');
      }
      echo P2PMonitor_View::h($assigned ? implode(', ', $assigned) : 'none') ?></td></tr>
  <tr><th>Database sync</th><td><?php echo $sync === null ? 'no sync events' : P2PMonitor_View::h(sprintf(
      'last success %s, lag %s s, %d failures, %d checksum mismatches',
      P2PMonitor_View::ago($sync['last_success_ms']), P2PMonitor_View::number($sync['lag_s']),
      $sync['failures'], $sync['checksum_mismatches'])) ?></td></tr>
  <tr><th>Last report</th><td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($host['last_seen_ms'])) ?></td></tr>
</table>
<h3>Alert history</h3>
<table class="horizontal-table">
  <tr><th>Severity</th><th>Rule</th><th>Status</th><th>Value</th><th>Started</th></tr>
  <?php foreach ($detail['alerts']['alerts'] as $alert): ?>
  <tr><td><?php echo P2PMonitor_View::h($alert['severity']) ?></td><td><?php echo P2PMonitor_View::h($alert['rule']) ?></td>
      <td><?php echo P2PMonitor_View::h($alert['status']) ?></td><td><?php echo P2PMonitor_View::number($alert['value'], 2) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($alert['started_ms'])) ?></td></tr>
  <?php endforeach ?>
</table>
<h3>Recent events</h3>
<table class="horizontal-table">
  <tr><th>When</th><th>Severity</th><th>Kind</th><th>Message</th></tr>
  <?php foreach ($detail['events']['events'] as $event): ?>
  <tr><td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($event['timestamp_ms'])) ?></td><td><?php echo P2PMonitor_View::h($event['severity']) ?></td>
      <td><?php echo P2PMonitor_View::h($event['kind']) ?></td><td><?php echo P2PMonitor_View::h($event['message']) ?></td></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
