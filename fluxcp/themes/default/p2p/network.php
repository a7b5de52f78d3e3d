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
<table class="horizontal-table p2p-lossy">
  <tr><?php echo P2PMonitor_Tables::headers('lossy_links') ?></tr>
  <?php $p2pLinkCells = array('link_latency' => function ($link) {
      if (isset($link['latency_ms'])) {
          return P2PMonitor_View::number($link['latency_ms']) . ' ms';
      }
      if (isset($link['last_answer_ms'])) {
          return P2PMonitor_View::t('P2PNoAnswer') . ' (' . P2PMonitor_View::t('P2PLastAnswer', P2PMonitor_View::ago($link['last_answer_ms'])) . ')';
      }
      return '–';
  }); ?>
  <?php foreach ($lossy as $link): ?>
  <tr><?php echo P2PMonitor_Tables::cells('lossy_links', $link, $p2pLinkCells) ?></tr>
  <?php endforeach ?>
  <?php if (!$lossy): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('lossy_links')) ?>"><?php echo P2PMonitor_View::t('P2PNoLoss') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PBusiest') ?></h3>
<table class="horizontal-table p2p-traffic">
  <tr><?php echo P2PMonitor_Tables::headers('traffic') ?></tr>
  <?php $p2pTrafficCells = array('host_link' => function ($t) {
      return '<a href="' . $this->url('p2p', 'host', array('id' => $t['host'])) . '">' . P2PMonitor_View::h($t['host']) . '</a>';
  }); ?>
  <?php foreach ($busiest as $t): ?>
  <tr><?php echo P2PMonitor_Tables::cells('traffic', $t, $p2pTrafficCells) ?></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
