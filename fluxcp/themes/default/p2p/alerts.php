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
<h3>Rules in force</h3>
<table class="horizontal-table p2p-rules">
  <tr><th>Rule</th><th>Type</th><th>Warning</th><th>Critical</th><th>For</th><th>On</th></tr>
  <?php foreach ($lists['rules']['metric_rules'] as $rule): ?>
  <tr><td><?php echo P2PMonitor_View::h($rule['metric']) ?></td><td><?php echo P2PMonitor_View::h($rule['type']) ?></td>
      <td><?php echo P2PMonitor_View::number($rule['warning'], 2) ?></td><td><?php echo P2PMonitor_View::number($rule['critical'], 2) ?></td>
      <td><?php echo (int) $rule['duration_s'] ?> s</td><td><?php echo $rule['enabled'] ? 'yes' : 'no' ?></td></tr>
  <?php endforeach ?>
  <?php foreach ($lists['rules']['event_rules'] as $rule): ?>
  <tr><td>event <?php echo P2PMonitor_View::h($rule['kind']) ?></td><td><?php echo P2PMonitor_View::h($rule['type']) ?></td>
      <td colspan="2">from <?php echo P2PMonitor_View::h($rule['min_severity']) ?></td><td>at once</td><td><?php echo $rule['enabled'] ? 'yes' : 'no' ?></td></tr>
  <?php endforeach ?>
</table>
<h3>Notification channels</h3>
<table class="horizontal-table">
  <tr><th>Channel</th><th>On</th><th>From severity</th><th>Target</th></tr>
  <?php foreach ($lists['rules']['channels'] as $channel): ?>
  <tr><td><?php echo P2PMonitor_View::h($channel['channel']) ?></td><td><?php echo $channel['enabled'] ? 'yes' : 'no' ?></td>
      <td><?php echo P2PMonitor_View::h($channel['min_severity']) ?></td><td><?php echo P2PMonitor_View::h($channel['target']) ?></td></tr>
  <?php endforeach ?>
</table>
<p>Thresholds are set in the aggregator's alerts.yml, or here on the <a href="<?php echo $this->url('p2p', 'settings') ?>">settings page</a>.</p>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
