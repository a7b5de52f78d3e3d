<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PMapsTitle')) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($maps): $coordinator = $maps['coordinator']; ?>
<table class="vertical-table" data-p2p-summary="1">
  <tr><th>Maps on P2P hosts</th><td><?php echo (int) $maps['by_host_type']['p2p'] ?></td></tr>
  <tr><th>Maps on VPS</th><td><?php echo (int) $maps['by_host_type']['vps'] ?></td></tr>
  <tr><th>Players on maps</th><td><?php echo P2PMonitor_View::number($maps['total_players'], 0) ?></td></tr>
  <tr><th>Coordinator</th><td><?php echo $coordinator['configured']
      ? P2PMonitor_View::h(sprintf('%d zones (%d P2P-enabled), %d assignments, %d not served',
          $coordinator['zones']['total'], $coordinator['zones']['p2p_enabled'],
          count($coordinator['assignments']), count($coordinator['not_served'])))
      : 'not configured' ?></td></tr>
</table>
<h3>Map distribution</h3>
<table class="horizontal-table p2p-maps">
  <tr><th>Map</th><th>Hosts</th><th>P2P</th><th>VPS</th><th>Players</th><th>Down</th></tr>
  <?php foreach ($distribution as $name => $map): ?>
  <tr>
    <td><?php echo P2PMonitor_View::h($name) ?></td>
    <td><?php echo P2PMonitor_View::h(implode(', ', array_slice($map['hosts'], 0, 3)) . (count($map['hosts']) > 3 ? sprintf(' and %d more', count($map['hosts']) - 3) : '')) ?></td>
    <td><?php echo (int) $map['p2p'] ?></td><td><?php echo (int) $map['vps'] ?></td>
    <td><?php echo P2PMonitor_View::number($map['players'], 0) ?></td><td><?php echo (int) $map['down'] ?></td>
  </tr>
  <?php endforeach ?>
  <?php if (!$distribution): ?><tr><td colspan="6">No host reports a map yet.</td></tr><?php endif ?>
</table>
<h3>Coordinator assignments</h3>
<table class="horizontal-table">
  <tr><th>Map</th><th>Host</th><th>Session</th><th>State</th><th>Served</th></tr>
  <?php foreach ($coordinator['assignments'] as $a): ?>
  <tr><td><?php echo P2PMonitor_View::h($a['map']) ?></td><td><?php echo P2PMonitor_View::h($a['host']) ?></td>
      <td><?php echo P2PMonitor_View::h($a['session_id']) ?></td><td><?php echo P2PMonitor_View::h($a['state']) ?></td>
      <td><?php echo $a['served'] === null ? 'unknown' : ($a['served'] ? 'yes' : '<strong class="red">no</strong>') ?></td></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
