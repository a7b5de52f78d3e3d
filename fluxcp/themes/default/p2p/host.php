<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PHostTitle') ?>: <?php echo P2PMonitor_View::h($id) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($detail): $host = $detail['host']['host']; $sync = $detail['host']['db_sync']; ?>
<table class="vertical-table" data-p2p-host="<?php echo P2PMonitor_View::h($host['id']) ?>">
  <tr><th><?php echo P2PMonitor_View::t('P2PColStatus') ?></th><td><?php echo P2PMonitor_View::t('P2PHostStatusLine', $host['status'], strtoupper($host['host_type']), $host['agent_version']) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColQuality') ?></th><td><?php echo (int) $host['quality_score'] ?> / 100</td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColCpu') ?></th><td data-p2p-metric="cpu_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['cpu_usage']) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColMemory') ?></th><td data-p2p-metric="memory_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['memory_usage']) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColPlayers') ?></th><td><?php echo P2PMonitor_View::number($host['players'], 0) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PMapsServed') ?></th><td><?php echo P2PMonitor_View::h(implode(', ', $host['maps'])) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PAssigned') ?></th><td><?php
      $assigned = array();
      foreach ($detail['host']['assigned_maps'] as $a) {
          $assigned[] = $a['served'] === false ? P2PMonitor_View::text('P2PNotServed', $a['map']) : $a['map'];
      }
      echo $assigned ? P2PMonitor_View::h(implode(', ', $assigned)) : P2PMonitor_View::t('P2PNone') ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PDbSync') ?></th><td><?php echo $sync === null ? P2PMonitor_View::t('P2PNoSyncEvents') : P2PMonitor_View::t(
      'P2PSyncLine', P2PMonitor_View::ago($sync['last_success_ms']), P2PMonitor_View::number($sync['lag_s']),
      $sync['failures'], $sync['checksum_mismatches']) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColLastReport') ?></th><td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($host['last_seen_ms'])) ?></td></tr>
</table>
<h3><?php echo P2PMonitor_View::t('P2PAlertHistory') ?></h3>
<table class="horizontal-table p2p-host-alerts">
  <tr><?php echo P2PMonitor_Tables::headers('host_alerts') ?></tr>
  <?php foreach ($detail['alerts']['alerts'] as $alert): ?>
  <tr><?php echo P2PMonitor_Tables::cells('host_alerts', $alert) ?></tr>
  <?php endforeach ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PRecentEvents') ?></h3>
<table class="horizontal-table p2p-host-events">
  <tr><?php echo P2PMonitor_Tables::headers('host_events') ?></tr>
  <?php foreach ($detail['events']['events'] as $event): ?>
  <tr><?php echo P2PMonitor_Tables::cells('host_events', $event) ?></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
