<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::t('P2PSetupTitle') ?></h2>
<p data-p2p-setup-failed="<?php echo (int) $failed ?>"><?php echo $failed ? P2PMonitor_View::t('P2PSetupFailed', $failed) : P2PMonitor_View::t('P2PSetupAllOk') ?></p>
<table class="horizontal-table p2p-setup">
  <tr><th><?php echo P2PMonitor_View::t('P2PColCheck') ?></th><th><?php echo P2PMonitor_View::t('P2PColResult') ?></th><th><?php echo P2PMonitor_View::t('P2PColFix') ?></th></tr>
  <?php foreach ($checks as $check): ?>
  <tr data-p2p-check="<?php echo $check['ok'] ? 'ok' : 'failed' ?>">
    <td><?php echo P2PMonitor_View::h($check['name']) ?></td>
    <td class="<?php echo $check['ok'] ? 'green' : 'red' ?>"><?php echo P2PMonitor_View::t($check['ok'] ? 'P2POk' : 'P2PMissing') ?>: <?php echo P2PMonitor_View::h($check['detail']) ?></td>
    <td><?php echo P2PMonitor_View::h($check['fix']) ?></td>
  </tr>
  <?php endforeach ?>
</table>
