<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php /* The active alerts, with acknowledge and resolve (forms to the alerts action). $activeAlerts, $csrf. */ ?>
<table class="horizontal-table p2p-alerts">
  <tr><th><?php echo P2PMonitor_View::t('P2PColSeverity') ?></th><th><?php echo P2PMonitor_View::t('P2PColRule') ?></th><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColValue') ?></th><th><?php echo P2PMonitor_View::t('P2PColMessage') ?></th><th><?php echo P2PMonitor_View::t('P2PColStatus') ?></th><th><?php echo P2PMonitor_View::t('P2PColSince') ?></th><th></th></tr>
  <?php foreach ($activeAlerts as $alert): ?>
  <tr data-p2p-alert="<?php echo (int) $alert['id'] ?>">
    <td><?php echo P2PMonitor_View::h($alert['severity']) ?></td>
    <td><?php echo P2PMonitor_View::h($alert['rule']) ?></td>
    <td><a href="<?php echo $this->url('p2p', 'host', array('id' => $alert['host'])) ?>"><?php echo P2PMonitor_View::h($alert['host']) ?></a></td>
    <td><?php echo P2PMonitor_View::number($alert['value'], 2) ?></td>
    <td><?php echo P2PMonitor_View::h($alert['message']) ?></td>
    <td><?php echo P2PMonitor_View::h($alert['status']) ?><?php if (!empty($alert['acknowledged_by'])): ?> <span data-p2p-by><?php echo P2PMonitor_View::t('P2PBy', $alert['acknowledged_by']) ?></span><?php endif ?></td>
    <td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($alert['started_ms'])) ?></td>
    <td>
      <form method="post" action="<?php echo $this->url('p2p', 'alerts') ?>">
        <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
        <input type="hidden" name="id" value="<?php echo (int) $alert['id'] ?>">
        <?php if ($alert['status'] === 'firing'): ?><button type="submit" name="do" value="acknowledge"><?php echo P2PMonitor_View::t('P2PAcknowledge') ?></button><?php endif ?>
        <button type="submit" name="do" value="resolve"><?php echo P2PMonitor_View::t('P2PResolve') ?></button>
      </form>
    </td>
  </tr>
  <?php endforeach ?>
  <?php if (!$activeAlerts): ?><tr><td colspan="8"><?php echo P2PMonitor_View::t('P2PNoActiveAlerts') ?></td></tr><?php endif ?>
</table>
