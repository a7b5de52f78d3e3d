<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PMonitoringTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($overview): $now = $overview['realtime']; $maps = $overview['maps']; ?>
<table class="vertical-table" data-p2p-summary="1">
  <tr><th><?php echo P2PMonitor_View::t('P2PHostsOnline') ?></th><td><?php echo P2PMonitor_View::t('P2PHostsOnlineLine', (int) $now['hosts']['online'], (int) $now['hosts']['degraded'], (int) $now['hosts']['offline']) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PColPlayers') ?></th><td><?php echo P2PMonitor_View::number($now['total_players'], 0) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PNetworkHealth') ?></th><td><?php echo P2PMonitor_View::number($now['network_health']['score'], 0) ?> / 100 (<?php echo P2PMonitor_View::h($now['network_health']['status']) ?>)</td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PAverageLatency') ?></th><td><?php echo $now['average_latency_ms'] === null ? '–' : P2PMonitor_View::number($now['average_latency_ms']) . ' ms' ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PMapsP2PVps') ?></th><td><?php echo (int) $now['maps']['p2p'] ?> / <?php echo (int) $now['maps']['vps'] ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PNotServedCount') ?></th><td><?php echo count($maps['coordinator']['not_served']) ?></td></tr>
</table>
<h3><?php echo P2PMonitor_View::t('P2PActiveAlerts') ?></h3>
<?php $activeAlerts = $overview['alerts']['alerts']; include __DIR__ . '/_alerts.php' ?>
<h3><?php echo P2PMonitor_View::t('P2PMapDistribution') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColMap') ?></th><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColType') ?></th><th><?php echo P2PMonitor_View::t('P2PColPlayers') ?></th></tr>
  <?php foreach (array_slice($maps['maps'], 0, 20) as $row): ?>
  <tr><td><?php echo P2PMonitor_View::h($row['map']) ?></td><td><?php echo P2PMonitor_View::h($row['host']) ?></td>
      <td><?php echo P2PMonitor_View::h(strtoupper($row['host_type'])) ?></td><td><?php echo P2PMonitor_View::number($row['players'], 0) ?></td></tr>
  <?php endforeach ?>
</table>
<p><a href="<?php echo $this->url('p2p', 'maps') ?>"><?php echo P2PMonitor_View::t('P2PAllMaps') ?></a></p>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
