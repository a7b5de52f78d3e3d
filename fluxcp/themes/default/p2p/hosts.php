<?php if (!defined('FLUX_ROOT')) exit; ?>
<h2><?php echo P2PMonitor_View::h(Flux::message('P2PHostsTitle')) ?></h2>
<?php include __DIR__ . '/_error.php' ?>
<form method="get" action="<?php echo $this->url('p2p', 'hosts') ?>">
  <input type="hidden" name="module" value="p2p"><input type="hidden" name="action" value="hosts">
  <input type="search" name="search" value="<?php echo P2PMonitor_View::h($query['search']) ?>" placeholder="Search hosts or maps">
  <select name="status"><option value="">any status</option>
    <?php foreach ($statuses as $status): ?><option value="<?php echo $status ?>"<?php echo $query['status'] === $status ? ' selected' : '' ?>><?php echo $status ?></option><?php endforeach ?>
  </select>
  <select name="sort"><?php foreach ($sorts as $sort): ?><option value="<?php echo $sort ?>"<?php echo $query['sort'] === $sort ? ' selected' : '' ?>>sort: <?php echo $sort ?></option><?php endforeach ?></select>
  <button type="submit">Show</button>
</form>
<?php if ($hosts): ?>
<table class="horizontal-table p2p-hosts">
  <tr><th>Host</th><th>Type</th><th>Status</th><th>Quality</th><th>CPU</th><th>Memory</th><th>Players</th><th>Latency</th><th>Maps</th><th>Last report</th></tr>
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
  <?php if (!$hosts['hosts']): ?><tr><td colspan="10">No host matches.</td></tr><?php endif ?>
</table>
<p class="p2p-pager">
  Page <?php echo (int) $query['page'] ?> of <?php echo (int) $pages ?> (<?php echo (int) $hosts['total'] ?> hosts)
  <?php $keep = array('search' => $query['search'], 'status' => $query['status'], 'sort' => $query['sort']); ?>
  <?php if ($query['page'] > 1): ?><a href="<?php echo $this->url('p2p', 'hosts', $keep + array('p' => $query['page'] - 1)) ?>">Previous</a><?php endif ?>
  <?php if ($query['page'] < $pages): ?><a href="<?php echo $this->url('p2p', 'hosts', $keep + array('p' => $query['page'] + 1)) ?>">Next</a><?php endif ?>
</p>
<?php endif ?>
<?php include __DIR__ . '/_live.php' ?>
