<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PAlertsTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<?php if ($incidentOffer): ?>
<form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>" class="p2p-resolve-incident">
  <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
  <input type="hidden" name="post" value="<?php echo (int) $incidentOffer['id'] ?>">
  <?php echo P2PMonitor_View::t('P2PResolveIncidentToo', $incidentOffer['title']) ?>
  <input name="body" maxlength="5000" placeholder="<?php echo P2PMonitor_View::t('P2PResolveIncidentNote') ?>">
  <button type="submit" name="do" value="resolve_incident"><?php echo P2PMonitor_View::t('P2PResolveIncident') ?></button>
</form>
<?php endif ?>
<?php if ($lists): $yes = P2PMonitor_View::t('P2PYes'); $no = P2PMonitor_View::t('P2PNo'); $any = P2PMonitor_View::text('P2PAny'); ?>
<h3><?php echo P2PMonitor_View::t('P2PActive') ?></h3>
<?php $activeAlerts = $lists['active']['alerts']; include __DIR__ . '/_alerts.php' ?>
<h3><?php echo P2PMonitor_View::t('P2PHistory') ?></h3>
<table class="horizontal-table p2p-history">
  <tr><?php echo P2PMonitor_Tables::headers('alert_history') ?></tr>
  <?php $p2pHistoryCells = array('resolved' => function ($alert) {
      return P2PMonitor_Tables::format('resolved', $alert['resolved_ms']) . (empty($alert['resolved_by']) ? ''
          : ' <span data-p2p-by>' . P2PMonitor_View::t('P2PBy', $alert['resolved_by']) . '</span>');
  }); ?>
  <?php foreach ($lists['history']['alerts'] as $alert): ?>
  <tr><?php echo P2PMonitor_Tables::cells('alert_history', $alert, $p2pHistoryCells) ?></tr>
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
  <tr><?php echo P2PMonitor_Tables::headers('silences') ?></tr>
  <?php $p2pSilenceCells = array('silence_actions' => function ($silence) use ($csrf) {
      return '<form method="post" action="' . $this->url('p2p', 'alerts') . '">'
          . '<input type="hidden" name="csrf" value="' . P2PMonitor_View::h($csrf) . '">'
          . '<input type="hidden" name="id" value="' . (int) $silence['id'] . '">'
          . '<button type="submit" name="do" value="unsilence">' . P2PMonitor_View::t('P2PEnd') . '</button></form>';
  }); ?>
  <?php foreach ($lists['silences']['silences'] as $silence): ?>
  <tr data-p2p-silence="<?php echo (int) $silence['id'] ?>"><?php echo P2PMonitor_Tables::cells('silences', $silence, $p2pSilenceCells) ?></tr>
  <?php endforeach ?>
  <?php if (!$lists['silences']['silences']): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('silences')) ?>"><?php echo P2PMonitor_View::t('P2PNoSilences') ?></td></tr><?php endif ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PRulesInForce') ?></h3>
<table class="horizontal-table p2p-rules">
  <tr><?php echo P2PMonitor_Tables::headers('metric_rules') ?></tr>
  <?php foreach ($lists['rules']['metric_rules'] as $rule): ?>
  <tr><?php echo P2PMonitor_Tables::cells('metric_rules', $rule) ?></tr>
  <?php endforeach ?>
  <?php /* Event rules have no thresholds: the row spans the threshold columns and leaves the rest empty. */ ?>
  <?php foreach ($lists['rules']['event_rules'] as $rule): ?>
  <tr><td><?php echo P2PMonitor_View::t('P2PEventRule', $rule['kind']) ?></td><td><?php echo P2PMonitor_View::h($rule['type']) ?></td>
      <td colspan="2"><?php echo P2PMonitor_View::t('P2PFromSeverity', $rule['min_severity']) ?></td><td><?php echo P2PMonitor_View::t('P2PAtOnce') ?></td>
      <?php echo str_repeat('<td></td>', count(P2PMonitor_Tables::columns('metric_rules')) - 6) ?><td><?php echo $rule['enabled'] ? $yes : $no ?></td></tr>
  <?php endforeach ?>
</table>
<h3><?php echo P2PMonitor_View::t('P2PChannels') ?></h3>
<table class="horizontal-table p2p-channels">
  <tr><?php echo P2PMonitor_Tables::headers('channels') ?></tr>
  <?php foreach ($lists['rules']['channels'] as $channel): ?>
  <tr><?php echo P2PMonitor_Tables::cells('channels', $channel) ?></tr>
  <?php endforeach ?>
</table>
<p><?php echo P2PMonitor_View::t('P2PThresholdsWhere') ?> <a href="<?php echo $this->url('p2p', 'settings') ?>"><?php echo P2PMonitor_View::t('P2PSettingsTitle') ?></a></p>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
