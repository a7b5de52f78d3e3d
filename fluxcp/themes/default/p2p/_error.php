<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php if (!empty($error)): ?>
<p class="red"><?php echo P2PMonitor_View::h(Flux::message('P2PUnreachable')) ?> <?php echo P2PMonitor_View::h($error) ?></p>
<?php endif ?>
<?php if (!empty($notice)): ?>
<p class="green"><?php echo P2PMonitor_View::h($notice) ?></p>
<?php endif ?>
