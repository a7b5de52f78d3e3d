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
  <tr><?php echo P2PMonitor_Tables::headers('map_distribution') ?></tr>
  <?php $p2pMapCells = array(
      'host_list' => function ($map) {
          $hosts = array();
          foreach (array_slice($map['hosts'], 0, 3) as $host) {
              $hosts[] = '<a href="' . $this->url('p2p', 'host', array('id' => $host)) . '">' . P2PMonitor_View::h($host) . '</a>';
          }
          return implode(', ', $hosts) . (count($map['hosts']) > 3 ? ' ' . P2PMonitor_View::t('P2PAndMore', count($map['hosts']) - 3) : '');
      },
      'assigned_count' => function ($map) use ($coordinator) {
          return !$coordinator['configured'] ? '–'
              : (!empty($coordinator['unknown_reason']) ? P2PMonitor_View::t('P2PUnknown') : (int) $map['assigned']);
      },
  ); ?>
  <?php foreach ($distribution as $map): ?>
  <tr><?php echo P2PMonitor_Tables::cells('map_distribution', $map, $p2pMapCells) ?></tr>
  <?php endforeach ?>
  <?php if (!$distribution): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('map_distribution')) ?>"><?php echo P2PMonitor_View::t('P2PNoMapsYet') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PPlayerHistory') ?></h3>
<table class="horizontal-table p2p-player-history">
  <tr><?php echo P2PMonitor_Tables::headers('player_history') ?></tr>
  <?php foreach ((array) $playerHistory as $row): ?>
  <tr><?php echo P2PMonitor_Tables::cells('player_history', $row) ?></tr>
  <?php endforeach ?>
  <?php if (!$playerHistory): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('player_history')) ?>"><?php echo P2PMonitor_View::t('P2PNoPlayerHistory') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PAssignments') ?></h3>
<table class="horizontal-table p2p-assignments">
  <tr><?php echo P2PMonitor_Tables::headers('assignments') ?></tr>
  <?php foreach ($coordinator['assignments'] as $a): ?>
  <tr><?php echo P2PMonitor_Tables::cells('assignments', $a) ?></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
