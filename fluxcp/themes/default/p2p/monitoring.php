<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PMonitoringTitle')) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($overview): $now = $overview['realtime']; $maps = $overview['maps']; ?>
<table class="vertical-table" data-p2p-summary="1">
  <tr><th>Hosts online</th><td><?php echo (int) $now['hosts']['online'] ?> (<?php echo (int) $now['hosts']['degraded'] ?> degraded, <?php echo (int) $now['hosts']['offline'] ?> offline)</td></tr>
  <tr><th>Players</th><td><?php echo P2PMonitor_View::number($now['total_players'], 0) ?></td></tr>
  <tr><th>Network health</th><td><?php echo P2PMonitor_View::number($now['network_health']['score'], 0) ?> / 100 (<?php echo P2PMonitor_View::h($now['network_health']['status']) ?>)</td></tr>
  <tr><th>Average latency</th><td><?php echo $now['average_latency_ms'] === null ? '–' : P2PMonitor_View::number($now['average_latency_ms']) . ' ms' ?></td></tr>
  <tr><th>Maps on P2P hosts / VPS</th><td><?php echo (int) $now['maps']['p2p'] ?> / <?php echo (int) $now['maps']['vps'] ?></td></tr>
  <tr><th>Assigned but not served</th><td><?php echo count($maps['coordinator']['not_served']) ?></td></tr>
</table>
<h3>Active alerts</h3>
<?php $activeAlerts = $overview['alerts']['alerts']; include __DIR__ . '/_alerts.php' ?>
<h3>Map distribution</h3>
<table class="horizontal-table">
  <tr><th>Map</th><th>Host</th><th>Type</th><th>Players</th></tr>
  <?php foreach (array_slice($maps['maps'], 0, 20) as $row): ?>
  <tr><td><?php echo P2PMonitor_View::h($row['map']) ?></td><td><?php echo P2PMonitor_View::h($row['host']) ?></td>
      <td><?php echo P2PMonitor_View::h(strtoupper($row['host_type'])) ?></td><td><?php echo P2PMonitor_View::number($row['players'], 0) ?></td></tr>
  <?php endforeach ?>
</table>
<p><a href="<?php echo $this->url('p2p', 'maps') ?>">All maps</a></p>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
