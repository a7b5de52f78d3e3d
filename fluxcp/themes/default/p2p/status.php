<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php /* $status: the aggregator's /api/v1/status answer, or null with $statusError. Every string from it is
   escaped: names and posts are the admins' words, shown as text. */ ?>
<style>
#p2p-status .p2p-bar{display:flex;gap:1px;height:18px;margin:4px 0}
#p2p-status .p2p-bar span{flex:1;background:#d5d9e0;border-radius:1px}
#p2p-status .p2p-bar .g{background:#1f9d55}#p2p-status .p2p-bar .y{background:#9ac23c}
#p2p-status .p2p-bar .o{background:#d69e2e}#p2p-status .p2p-bar .r{background:#c53030}
#p2p-status .p2p-bar .m{background:#3b6fd4}
#p2p-status .p2p-state-up{color:#1f9d55}#p2p-status .p2p-state-down{color:#c53030}
#p2p-status .p2p-state-maintenance{color:#3b6fd4}
</style>
<div id="p2p-status">
<h2><?php echo P2PMonitor_View::t('P2PStatusTitle') ?></h2>
<?php if ($status === null): ?>
<p class="red" data-p2p-status-unavailable><?php echo P2PMonitor_View::t('P2PStatusUnavailable') ?></p>
<?php else: ?>
<p data-p2p-overall="<?php echo P2PMonitor_View::h($status['state']) ?>"><strong><?php echo P2PMonitor_View::t('P2PStatusOverall_' . $status['state']) ?></strong></p>
<?php $p2pOpen = array_values(array_filter($status['incidents'], function ($post) { return $post['ends_ms'] === null; })); ?>
<?php foreach (array(array('P2PStatusIncidents', $p2pOpen), array('P2PStatusMaintenance', $status['maintenance'])) as list($p2pHeading, $p2pPosts)): ?>
<?php if ($p2pPosts): ?>
<h3><?php echo P2PMonitor_View::t($p2pHeading) ?></h3>
<?php foreach ($p2pPosts as $post): ?>
<div class="p2p-post" data-p2p-post="<?php echo P2PMonitor_View::h($post['kind']) ?>">
  <strong><?php echo P2PMonitor_View::h($post['title']) ?></strong>
  <?php if ($post['kind'] === 'maintenance' && $post['starts_ms'] > $status['generated_ms']): ?>
  <span><?php echo P2PMonitor_View::t('P2PStatusScheduled', P2PMonitor_View::h(P2PMonitor_View::when($post['starts_ms'])), P2PMonitor_View::h(P2PMonitor_View::when($post['ends_ms']))) ?></span>
  <?php else: ?>
  <span><?php echo P2PMonitor_View::t('P2PStatusSince', P2PMonitor_View::h(P2PMonitor_View::when($post['starts_ms']))) ?></span>
  <?php endif ?>
  <?php foreach (array_reverse($post['updates']) as $update): ?>
  <p><em><?php echo P2PMonitor_View::h($update['state']) ?></em> (<?php echo P2PMonitor_View::h(P2PMonitor_View::when($update['at_ms'])) ?>) <?php echo nl2br(P2PMonitor_View::h($update['body'])) ?></p>
  <?php endforeach ?>
</div>
<?php endforeach ?>
<?php endif ?>
<?php endforeach ?>
<?php foreach ($status['groups'] as $group): ?>
<h3><?php echo P2PMonitor_View::h($group['name']) ?></h3>
<table class="horizontal-table p2p-status-servers">
  <?php foreach ($group['servers'] as $server): ?>
  <tr data-p2p-server="<?php echo P2PMonitor_View::h($server['id']) ?>">
    <th><?php echo P2PMonitor_View::h($server['name']) ?></th>
    <td class="p2p-state-<?php echo P2PMonitor_View::h($server['state']) ?>"><?php echo P2PMonitor_View::t('P2PServerState_' . $server['state']) ?></td>
    <td><?php echo $server['uptime'] === null ? P2PMonitor_View::t('P2PStatusNoData') : P2PMonitor_View::h(P2PMonitor_View::share($server['uptime'])) ?></td>
  </tr>
  <tr><td colspan="3"><div class="p2p-bar"><?php foreach ($server['days'] as $day): ?><span class="<?php echo P2PMonitor_View::dayShade($day) ?>" title="<?php echo P2PMonitor_View::h($day['day'] . ': ' . ($day['uptime'] === null ? P2PMonitor_View::text('P2PStatusNoData') : P2PMonitor_View::share($day['uptime']))) ?>"></span><?php endforeach ?></div></td></tr>
  <?php endforeach ?>
</table>
<?php endforeach ?>
<?php endif ?>
</div>
