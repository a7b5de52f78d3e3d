<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PAlertsTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($lists): $yes = P2PMonitor_View::t('P2PYes'); $no = P2PMonitor_View::t('P2PNo'); $any = P2PMonitor_View::text('P2PAny'); ?>
<h3><?php echo P2PMonitor_View::t('P2PActive') ?></h3>
<?php $activeAlerts = $lists['active']['alerts']; include __DIR__ . '/_alerts.php' ?>
<h3><?php echo P2PMonitor_View::t('P2PHistory') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColSeverity') ?></th><th><?php echo P2PMonitor_View::t('P2PColRule') ?></th><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColValue') ?></th><th><?php echo P2PMonitor_View::t('P2PColStarted') ?></th><th><?php echo P2PMonitor_View::t('P2PColResolved') ?></th><th><?php echo P2PMonitor_View::t('P2PColNotes') ?></th></tr>
  <?php foreach ($lists['history']['alerts'] as $alert): ?>
  <tr><td><?php echo P2PMonitor_View::h($alert['severity']) ?></td><td><?php echo P2PMonitor_View::h($alert['rule']) ?></td>
      <td><?php echo P2PMonitor_View::h($alert['host']) ?></td><td><?php echo P2PMonitor_View::number($alert['value'], 2) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($alert['started_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($alert['resolved_ms'])) ?><?php if (!empty($alert['resolved_by'])): ?> <span data-p2p-by><?php echo P2PMonitor_View::t('P2PBy', $alert['resolved_by']) ?></span><?php endif ?></td>
      <td><?php echo P2PMonitor_View::h((string) $alert['resolution_notes']) ?></td></tr>
  <?php endforeach ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PSilences') ?></h3>
<form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>" class="p2p-silence">
  <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
  <input name="host" placeholder="<?php echo P2PMonitor_View::t('P2PSilenceHost') ?>"> <input name="rule" placeholder="<?php echo P2PMonitor_View::t('P2PSilenceRule') ?>">
  <input name="minutes" type="number" min="1" value="60"> <?php echo P2PMonitor_View::t('P2PMinutes') ?> <input name="comment" placeholder="<?php echo P2PMonitor_View::t('P2PSilenceWhy') ?>">
  <button type="submit" name="do" value="silence"><?php echo P2PMonitor_View::t('P2PSilence') ?></button>
</form>
<table class="horizontal-table p2p-silences">
  <tr><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColRule') ?></th><th><?php echo P2PMonitor_View::t('P2PColFrom') ?></th><th><?php echo P2PMonitor_View::t('P2PColUntil') ?></th><th><?php echo P2PMonitor_View::t('P2PColBy') ?></th><th><?php echo P2PMonitor_View::t('P2PColWhy') ?></th><th></th></tr>
  <?php foreach ($lists['silences']['silences'] as $silence): ?>
  <tr data-p2p-silence="<?php echo (int) $silence['id'] ?>"><td><?php echo P2PMonitor_View::h($silence['host'] !== null ? $silence['host'] : $any) ?></td>
      <td><?php echo P2PMonitor_View::h($silence['rule'] !== null ? $silence['rule'] : $any) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($silence['starts_ms'])) ?></td>
      <td><?php echo P2PMonitor_View::h(P2PMonitor_View::when($silence['ends_ms'])) ?></td>
      <td data-p2p-author><?php echo P2PMonitor_View::h($silence['author']) ?></td><td><?php echo P2PMonitor_View::h($silence['comment']) ?></td>
      <td><form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>">
        <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
        <input type="hidden" name="id" value="<?php echo (int) $silence['id'] ?>">
        <button type="submit" name="do" value="unsilence"><?php echo P2PMonitor_View::t('P2PEnd') ?></button></form></td></tr>
  <?php endforeach ?>
  <?php if (!$lists['silences']['silences']): ?><tr><td colspan="7"><?php echo P2PMonitor_View::t('P2PNoSilences') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PRulesInForce') ?></h3>
<table class="horizontal-table p2p-rules">
  <tr><th><?php echo P2PMonitor_View::t('P2PColRule') ?></th><th><?php echo P2PMonitor_View::t('P2PColType') ?></th><th><?php echo P2PMonitor_View::t('P2PColWarning') ?></th><th><?php echo P2PMonitor_View::t('P2PColCritical') ?></th><th><?php echo P2PMonitor_View::t('P2PColFor') ?></th><th><?php echo P2PMonitor_View::t('P2PColOn') ?></th></tr>
  <?php foreach ($lists['rules']['metric_rules'] as $rule): ?>
  <tr><td><?php echo P2PMonitor_View::h($rule['metric']) ?></td><td><?php echo P2PMonitor_View::h($rule['type']) ?></td>
      <td><?php echo P2PMonitor_View::number($rule['warning'], 2) ?></td><td><?php echo P2PMonitor_View::number($rule['critical'], 2) ?></td>
      <td><?php echo P2PMonitor_View::t('P2PSeconds', (int) $rule['duration_s']) ?></td><td><?php echo $rule['enabled'] ? $yes : $no ?></td></tr>
  <?php endforeach ?>
  <?php foreach ($lists['rules']['event_rules'] as $rule): ?>
  <tr><td><?php echo P2PMonitor_View::t('P2PEventRule', $rule['kind']) ?></td><td><?php echo P2PMonitor_View::h($rule['type']) ?></td>
      <td colspan="2"><?php echo P2PMonitor_View::t('P2PFromSeverity', $rule['min_severity']) ?></td><td><?php echo P2PMonitor_View::t('P2PAtOnce') ?></td><td><?php echo $rule['enabled'] ? $yes : $no ?></td></tr>
  <?php endforeach ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PChannels') ?></h3>
<table class="horizontal-table">
  <tr><th><?php echo P2PMonitor_View::t('P2PColChannel') ?></th><th><?php echo P2PMonitor_View::t('P2PColOn') ?></th><th><?php echo P2PMonitor_View::t('P2PColMinSeverity') ?></th><th><?php echo P2PMonitor_View::t('P2PColTarget') ?></th></tr>
  <?php foreach ($lists['rules']['channels'] as $channel): ?>
  <tr><td><?php echo P2PMonitor_View::h($channel['channel']) ?></td><td><?php echo $channel['enabled'] ? $yes : $no ?></td>
      <td><?php echo P2PMonitor_View::h($channel['min_severity']) ?></td><td><?php echo P2PMonitor_View::h($channel['target']) ?></td></tr>
  <?php endforeach ?>
</table>
<p><?php echo P2PMonitor_View::t('P2PThresholdsWhere') ?> <a href="<?php echo $this->url('p2p', 'settings') ?>"><?php echo P2PMonitor_View::t('P2PSettingsTitle') ?></a></p>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
