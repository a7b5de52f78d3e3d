<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php /* The active alerts, with acknowledge, resolve and publish as a status page incident (forms to the alerts action), in the dashboard's columns
   (lib/P2PMonitor/tables.json). $activeAlerts, $csrf. */ ?>
<table class="horizontal-table p2p-alerts">
  <tr><?php echo P2PMonitor_Tables::headers('active_alerts') ?></tr>
  <?php $p2pAlertCells = array(
      'host_link' => function ($alert) {
          return '<a href="' . $this->url('p2p', 'host', array('id' => $alert['host'])) . '">' . P2PMonitor_View::h($alert['host']) . '</a>';
      },
      'rule' => function ($alert) {
          return P2PMonitor_View::h($alert['rule']);
      },
      'alert_status' => function ($alert) {
          return P2PMonitor_View::h($alert['status']) . (empty($alert['acknowledged_by']) ? ''
              : ' <span data-p2p-by>' . P2PMonitor_View::t('P2PBy', $alert['acknowledged_by']) . '</span>');
      },
      'alert_actions' => function ($alert) use ($csrf) {
          return '<form method="post" action="' . $this->url('p2p', 'alerts') . '">'
              . '<input type="hidden" name="csrf" value="' . P2PMonitor_View::h($csrf) . '">'
              . '<input type="hidden" name="id" value="' . (int) $alert['id'] . '">'
              . ($alert['status'] === 'firing' ? '<button type="submit" name="do" value="acknowledge">' . P2PMonitor_View::t('P2PAcknowledge') . '</button> ' : '')
              . '<button type="submit" name="do" value="resolve">' . P2PMonitor_View::t('P2PResolve') . '</button></form>'
              . '<form method="post" action="' . $this->url('p2p', 'alerts') . '" class="p2p-publish">'
              . '<input type="hidden" name="csrf" value="' . P2PMonitor_View::h($csrf) . '">'
              . '<input type="hidden" name="id" value="' . (int) $alert['id'] . '">'
              . '<input name="title" required maxlength="200" placeholder="' . P2PMonitor_View::t('P2PPublishTitle') . '"> '
              . '<button type="submit" name="do" value="publish">' . P2PMonitor_View::t('P2PPublish') . '</button></form>';
      },
  ); ?>
  <?php foreach ($activeAlerts as $alert): ?>
  <tr data-p2p-alert="<?php echo (int) $alert['id'] ?>"><?php echo P2PMonitor_Tables::cells('active_alerts', $alert, $p2pAlertCells) ?></tr>
  <?php endforeach ?>
  <?php if (!$activeAlerts): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('active_alerts')) ?>"><?php echo P2PMonitor_View::t('P2PNoActiveAlerts') ?></td></tr><?php endif ?>
</table>
