<?php if (!defined('FLUX_ROOT')) exit; ?>
<div id="p2p-page">
<h2><?php echo P2PMonitor_View::t('P2PHostsTitle') ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<form method="get" action="<?php echo $this->url('p2p', 'hosts') ?>">
  <input type="hidden" name="module" value="p2p"><input type="hidden" name="action" value="hosts">
  <input type="search" name="search" value="<?php echo P2PMonitor_View::h($query['search']) ?>" placeholder="<?php echo P2PMonitor_View::t('P2PSearchHosts') ?>">
  <select name="status"><option value=""><?php echo P2PMonitor_View::t('P2PAnyStatus') ?></option>
    <?php foreach ($statuses as $status): ?><option value="<?php echo $status ?>"<?php echo $query['status'] === $status ? ' selected' : '' ?>><?php echo P2PMonitor_View::t('P2PStatus_' . $status) ?></option><?php endforeach ?>
  </select>
  <select name="sort"><?php foreach ($sorts as $sort): ?><option value="<?php echo $sort ?>"<?php echo $query['sort'] === $sort ? ' selected' : '' ?>><?php echo P2PMonitor_View::t('P2PSortBy', P2PMonitor_View::text('P2PSort_' . $sort)) ?></option><?php endforeach ?></select>
  <button type="submit"><?php echo P2PMonitor_View::t('P2PShow') ?></button>
</form>
<?php if ($hosts): ?>
<table class="horizontal-table p2p-hosts">
  <tr><th><?php echo P2PMonitor_View::t('P2PColHost') ?></th><th><?php echo P2PMonitor_View::t('P2PColType') ?></th><th><?php echo P2PMonitor_View::t('P2PColStatus') ?></th><th><?php echo P2PMonitor_View::t('P2PColQuality') ?></th><th><?php echo P2PMonitor_View::t('P2PColCpu') ?></th><th><?php echo P2PMonitor_View::t('P2PColMemory') ?></th><th><?php echo P2PMonitor_View::t('P2PColPlayers') ?></th><th><?php echo P2PMonitor_View::t('P2PColLatency') ?></th><th><?php echo P2PMonitor_View::t('P2PColMaps') ?></th><th><?php echo P2PMonitor_View::t('P2PColLastReport') ?></th></tr>
  <?php foreach ($hosts['hosts'] as $host): ?>
  <tr data-p2p-host="<?php echo P2PMonitor_View::h($host['id']) ?>">
    <td><a href="<?php echo $this->url('p2p', 'host', array('id' => $host['id'])) ?>"><?php echo P2PMonitor_View::h($host['id']) ?></a></td>
    <td><?php echo P2PMonitor_View::h(strtoupper($host['host_type'])) ?></td>
    <td><?php echo P2PMonitor_View::h($host['status']) ?></td>
    <td><?php echo (int) $host['quality_score'] ?></td>
    <td data-p2p-metric="cpu_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['cpu_usage']) ?></td>
    <td data-p2p-metric="memory_usage" data-p2p-unit=" %"><?php echo P2PMonitor_View::percent($host['memory_usage']) ?></td>
    <td><?php echo P2PMonitor_View::number($host['players'], 0) ?></td>
    <td><?php echo $host['latency_ms'] === null ? '–' : P2PMonitor_View::number($host['latency_ms']) . ' ms' ?></td>
    <td><?php echo P2PMonitor_View::h(implode(', ', $host['maps'])) ?></td>
    <td><?php echo P2PMonitor_View::h(P2PMonitor_View::ago($host['last_seen_ms'])) ?></td>
  </tr>
  <?php endforeach ?>
  <?php if (!$hosts['hosts']): ?><tr><td colspan="10"><?php echo P2PMonitor_View::t('P2PNoHostMatches') ?></td></tr><?php endif ?>
</table>
<p class="p2p-pager">
  <?php echo P2PMonitor_View::t('P2PPageOf', (int) $query['page'], (int) $pages, (int) $hosts['total']) ?>
  <?php $keep = array('search' => $query['search'], 'status' => $query['status'], 'sort' => $query['sort']); ?>
  <?php if ($query['page'] > 1): ?><a href="<?php echo $this->url('p2p', 'hosts', $keep + array('p' => $query['page'] - 1)) ?>"><?php echo P2PMonitor_View::t('P2PPrevious') ?></a><?php endif ?>
  <?php if ($query['page'] < $pages): ?><a href="<?php echo $this->url('p2p', 'hosts', $keep + array('p' => $query['page'] + 1)) ?>"><?php echo P2PMonitor_View::t('P2PNext') ?></a><?php endif ?>
</p>
<?php endif ?>
</div>
<?php include __DIR__ . '/_live.php' ?>
