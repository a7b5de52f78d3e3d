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
  <tr><?php echo P2PMonitor_Tables::headers('hosts') ?></tr>
  <?php $p2pHostCells = array('host_link' => function ($host) {
      return '<a href="' . $this->url('p2p', 'host', array('id' => $host['id'])) . '">' . P2PMonitor_View::h($host['id']) . '</a>';
  }); ?>
  <?php foreach ($hosts['hosts'] as $host): ?>
  <tr data-p2p-host="<?php echo P2PMonitor_View::h($host['id']) ?>"><?php echo P2PMonitor_Tables::cells('hosts', $host, $p2pHostCells) ?></tr>
  <?php endforeach ?>
  <?php if (!$hosts['hosts']): ?><tr><td colspan="<?php echo count(P2PMonitor_Tables::columns('hosts')) ?>"><?php echo P2PMonitor_View::t('P2PNoHostMatches') ?></td></tr><?php endif ?>
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
