<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PNetworkTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($matrix): ?>
<h3><?php echo P2PMonitor_View::t('P2PLatencyMatrix') ?></h3>
<table class="horizontal-table p2p-matrix" data-p2p-summary="1">
  <tr><th><?php echo P2PMonitor_View::t('P2PFromTo') ?></th><?php foreach ($shown as $to): ?><th><?php echo P2PMonitor_View::h($to) ?></th><?php endforeach ?></tr>
  <?php foreach ($shown as $from): ?>
  <tr><th><?php echo P2PMonitor_View::h($from) ?></th>
    <?php foreach ($shown as $to): $link = isset($links[$from . "\0" . $to]) ? $links[$from . "\0" . $to] : null; ?>
    <?php if ($link && isset($link['answering']) && $link['answering'] === false): ?>
    <td data-p2p-no-answer title="<?php echo isset($link['last_answer_ms']) ? P2PMonitor_View::t('P2PLastAnswer', P2PMonitor_View::ago($link['last_answer_ms'])) : '' ?>"><?php echo P2PMonitor_View::t('P2PNoAnswer') ?></td>
    <?php else: ?>
    <td><?php echo $link && isset($link['latency_ms']) ? P2PMonitor_View::number($link['latency_ms'], 0) : '' ?></td>
    <?php endif ?>
    <?php endforeach ?>
  </tr>
  <?php endforeach ?>
</table>
<?php if (count($matrix['hosts']) > count($shown)): ?><p><?php echo P2PMonitor_View::t('P2PFirstHosts', count($shown), count($matrix['hosts'])) ?></p><?php endif ?>
<h3><?php echo P2PMonitor_View::t('P2PLossyLinks') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColFrom') ?></th><th><?php echo P2PMonitor_View::t('P2PColTo') ?></th><th><?php echo P2PMonitor_View::t('P2PColLoss') ?></th><th><?php echo P2PMonitor_View::t('P2PColLatency') ?></th></tr>
  <?php foreach ($lossy as $link): ?>
  <tr><td><?php echo P2PMonitor_View::h($link['from']) ?></td><td><?php echo P2PMonitor_View::h($link['to']) ?></td>
      <td><?php echo P2PMonitor_View::percent($link['packet_loss_percent']) ?></td>
      <td><?php if (isset($link['latency_ms'])): echo P2PMonitor_View::number($link['latency_ms']) . ' ms';
          elseif (isset($link['last_answer_ms'])): echo P2PMonitor_View::t('P2PNoAnswer') . ' (' . P2PMonitor_View::t('P2PLastAnswer', P2PMonitor_View::ago($link['last_answer_ms'])) . ')';
          else: echo '–'; endif ?></td></tr>
  <?php endforeach ?>
  <?php if (!$lossy): ?><tr><td colspan="4"><?php echo P2PMonitor_View::t('P2PNoLoss') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PBusiest') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColBandwidth') ?></th><th><?php echo P2PMonitor_View::t('P2PColErrors') ?></th><th><?php echo P2PMonitor_View::t('P2PColConnections') ?></th></tr>
  <?php foreach ($busiest as $t): ?>
  <tr><td><?php echo P2PMonitor_View::h($t['host']) ?></td>
      <td><?php echo $t['bandwidth_bytes_per_second'] === null ? '–' : P2PMonitor_View::number($t['bandwidth_bytes_per_second'] / 1024) . ' KiB/s' ?></td>
      <td><?php echo $t['errors_per_second'] === null ? '–' : P2PMonitor_View::number($t['errors_per_second'], 2) . ' /s' ?></td>
      <td><?php echo P2PMonitor_View::number($t['connections'], 0) ?></td></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
