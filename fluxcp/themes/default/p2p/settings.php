<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PSettingsTitle')) ?></h2>
<?php if (!empty($error)): ?><p class="red"><?php echo P2PMonitor_View::h($error) ?></p><?php endif ?>
<?php if (!empty($notice)): ?><p class="green"><?php echo P2PMonitor_View::h($notice) ?></p><?php endif ?>
<form method="post" action="<?php echo $this->url('p2p', 'settings') ?>">
  <input type="hidden" name="csrf" value="<?php echo P2PMonitor_View::h($csrf) ?>">
  <table class="vertical-table">
    <?php foreach (P2PMonitor_Settings::NAMES as $name): ?>
    <tr>
      <th><label for="p2p-<?php echo $name ?>"><?php echo P2PMonitor_View::h($name) ?></label></th>
      <td>
        <input id="p2p-<?php echo $name ?>" name="<?php echo $name ?>" size="60"
               value="<?php echo P2PMonitor_View::h(isset($values[$name]) ? $values[$name] : '') ?>">
        <?php if (isset($errors[$name])): ?><p class="red" data-p2p-error="<?php echo $name ?>"><?php echo P2PMonitor_View::h($errors[$name]) ?></p><?php endif ?>
      </td>
    </tr>
    <?php endforeach ?>
  </table>
  <button type="submit">Save</button>
</form>
