<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php /* $error: null, a text, or a P2PMonitor_Error (said by its kind: unreachable, refused, not found...). */ ?>
<?php if (!empty($error)): ?>
<p class="red" data-p2p-error-kind="<?php echo P2PMonitor_View::h($error instanceof P2PMonitor_Error ? $error->kind : 'page') ?>"><?php echo P2PMonitor_View::error($error) ?></p>
<?php endif ?>
<?php if (!empty($notice)): ?>
<p class="green"><?php echo P2PMonitor_View::h($notice) ?></p>
<?php endif ?>
