<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PMapsTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($maps): $coordinator = $maps['coordinator']; ?>
<table class="vertical-table" data-p2p-summary="1">
  <tr><th><?php echo P2PMonitor_View::t('P2PMapsOnP2P') ?></th><td><?php echo (int) $maps['by_host_type']['p2p'] ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PMapsOnVps') ?></th><td><?php echo (int) $maps['by_host_type']['vps'] ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PPlayersOnMaps') ?></th><td><?php echo P2PMonitor_View::number($maps['total_players'], 0) ?></td></tr>
  <tr><th><?php echo P2PMonitor_View::t('P2PCoordinator') ?></th><td><?php echo $coordinator['configured']
      ? P2PMonitor_View::t('P2PCoordinatorLine',
          $coordinator['zones']['total'], $coordinator['zones']['p2p_enabled'],
          count($coordinator['assignments']), count($coordinator['not_served']))
      : P2PMonitor_View::t('P2PNotConfigured') ?></td></tr>
</table>
<h3><?php echo P2PMonitor_View::t('P2PMapDistribution') ?></h3>
<table class="horizontal-table p2p-maps">
  <tr><th><?php echo P2PMonitor_View::t('P2PColMap') ?></th><th><?php echo P2PMonitor_View::t('P2PColHosts') ?></th><th>P2P</th><th>VPS</th><th><?php echo P2PMonitor_View::t('P2PColPlayers') ?></th><th><?php echo P2PMonitor_View::t('P2PColDown') ?></th></tr>
  <?php foreach ($distribution as $name => $map): ?>
  <tr>
    <td><?php echo P2PMonitor_View::h($name) ?></td>
    <td><?php echo P2PMonitor_View::h(implode(', ', array_slice($map['hosts'], 0, 3))) . (count($map['hosts']) > 3 ? ' ' . P2PMonitor_View::t('P2PAndMore', count($map['hosts']) - 3) : '') ?></td>
    <td><?php echo (int) $map['p2p'] ?></td><td><?php echo (int) $map['vps'] ?></td>
    <td><?php echo P2PMonitor_View::number($map['players'], 0) ?></td><td><?php echo (int) $map['down'] ?></td>
  </tr>
  <?php endforeach ?>
  <?php if (!$distribution): ?><tr><td colspan="6"><?php echo P2PMonitor_View::t('P2PNoMapsYet') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PAssignments') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColMap') ?></th><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColSession') ?></th><th><?php echo P2PMonitor_View::t('P2PColState') ?></th><th><?php echo P2PMonitor_View::t('P2PColServed') ?></th></tr>
  <?php foreach ($coordinator['assignments'] as $a): ?>
  <tr><td><?php echo P2PMonitor_View::h($a['map']) ?></td><td><?php echo P2PMonitor_View::h($a['host']) ?></td>
      <td><?php echo P2PMonitor_View::h($a['session_id']) ?></td><td><?php echo P2PMonitor_View::h($a['state']) ?></td>
      <td><?php echo $a['served'] === null ? P2PMonitor_View::t('P2PUnknown') : ($a['served'] ? P2PMonitor_View::t('P2PYes') : '<strong class="red">' . P2PMonitor_View::t('P2PNo') . '</strong>') ?></td></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
