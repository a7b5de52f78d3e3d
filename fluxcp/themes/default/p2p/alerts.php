<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PAlertsTitle')) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($lists): ?>
<h3>Active</h3>
<?php $activeAlerts = $lists['active']['alerts']; include __DIR__ . '/_alerts.php' ?>
<h3>History</h3>
<table class="horizontal-table">
  <tr><th>Severity</th><th>Rule</th><th>Host</th><th>Value</th><th>Started</th><th>Resolved</th><th>Notes</th></tr>
  <?php foreach ($lists['history']['alerts'] as $alert): ?>
  <tr><td><?php echo P2PMonitor_View::h($alert['severity']) ?></td><td><?php echo P2PMonitor_View::h($alert['rule']) ?></td>
      <td><?php echo P2PMonitor_View::h($alert['host']) ?></td><td><?php echo P2PMonitor_View::number($alert['value'], 2) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($alert['started_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($alert['resolved_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h((string) $alert['resolution_notes']) ?></td></tr>
  <?php endforeach ?>
</table>
<h3>Silences and maintenance windows</h3>
<form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>">
  <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
  <input name="host" placeholder="host (any)"> <input name="rule" placeholder="rule (any)">
  <input name="minutes" type="number" min="1" value="60"> min <input name="comment" placeholder="why">
  <button type="submit" name="do" value="silence">Silence</button>
</form>
<table class="horizontal-table">
  <tr><th>Host</th><th>Rule</th><th>From</th><th>Until</th><th>By</th><th>Why</th><th></th></tr>
  <?php foreach ($lists['silences']['silences'] as $silence): ?>
  <tr><td><?php echo P2PMonitor_View::h($silence['host'] !== null ? $silence['host'] : 'any') ?></td>
      <td><?php echo P2PMonitor_View::h($silence['rule'] !== null ? $silence['rule'] : 'any') ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($silence['starts_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($silence['ends_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h($silence['author']) ?></td><td><?php echo P2PMonitor_View::h($silence['comment']) ?></td>
      <td><form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>">
        <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
        <input type="hidden" name="id" value="<?php echo (int) $silence['id'] ?>">
        <button type="submit" name="do" value="unsilence">End</button></form></td></tr>
  <?php endforeach ?>
</table>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
