<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::t('P2PSettingsTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<p><?php echo P2PMonitor_View::t('P2PSettingsIntro') ?></p>
<form method="post" action="<?php echo $this->url('p2p', 'settings') ?>">
  <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
  <table class="vertical-table">
    <?php foreach (P2PMonitor_Settings::NAMES as $name): ?>
    <tr>
      <th><label for="p2p-<?php echo $name ?>"><?php echo P2PMonitor_View::t('P2PSetting_' . $name) ?></label></th>
      <td>
        <input id="p2p-<?php echo $name ?>" name="<?php echo $name ?>" size="60"
               value="<?php echo P2PMonitor_View::h(isset($values[$name]) ? $values[$name] : '') ?>">
        <br><small><?php echo P2PMonitor_View::t('P2PSettingHelp_' . $name) ?></small>
        <?php if (isset($rows[$name]) && $rows[$name]['updated_by'] !== null): ?>
        <br><small data-p2p-updated-by="<?php echo $name ?>"><?php echo P2PMonitor_View::t('P2PChangedBy', $rows[$name]['updated_by'], $rows[$name]['updated_at']) ?></small>
        <?php endif ?>
        <?php if (isset($errors[$name])): ?><p class="red" data-p2p-error="<?php echo $name ?>"><?php echo P2PMonitor_View::h($errors[$name]) ?></p><?php endif ?>
        <?php if (!isset($rows[$name]) && !$error): ?><p class="red" data-p2p-missing="<?php echo $name ?>"><?php echo P2PMonitor_View::t('P2PSettingMissing') ?></p><?php endif ?>
      </td>
    </tr>
    <?php endforeach ?>
  </table>
  <button type="submit"><?php echo P2PMonitor_View::t('P2PSave') ?></button>
</form>
