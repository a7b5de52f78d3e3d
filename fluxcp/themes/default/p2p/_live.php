<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php /* Live updates: the feed opened with the page's single-use ticket. Metrics update the cells marked
         data-p2p-metric inside rows marked data-p2p-host; alerts and status changes refresh the page (not while
         a form is being filled in); without a ticket the page refreshes every refresh_interval. */ ?>
<p class="p2p-live" id="p2p-live"><?php echo P2PMonitor_View::h($live ? Flux::message('P2PLive') : Flux::message('P2PNoLive')) ?></p>
<script>
(function () {
  var live = <?php echo P2PMonitor_View::json($live) ?>;
  var refresh = <?php echo (int) $p2p->refreshInterval ?>;
  var status = document.getElementById('p2p-live');
  var pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      if (document.activeElement && document.activeElement.form) return refreshSoon();
      location.reload();
    }, refresh);
  }
  if (!live) { refreshSoon(); return; }
  var socket = new WebSocket(live.url + '?token=' + encodeURIComponent(live.ticket));
  socket.onopen = function () { status.textContent = 'live'; status.setAttribute('data-state', 'up'); };
  socket.onclose = function () { status.textContent = 'live updates stopped: reload the page'; status.setAttribute('data-state', 'down'); };
  socket.onmessage = function (event) {
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    if (message.type === 'metrics') {
      var rows = document.querySelectorAll('[data-p2p-host]');
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getAttribute('data-p2p-host') !== message.host) continue;
        (message.metrics || []).forEach(function (metric) {
          if (Object.keys(metric.tags || {}).length) return;
          var cells = rows[i].querySelectorAll('[data-p2p-metric]');
          for (var j = 0; j < cells.length; j++) {
            if (cells[j].getAttribute('data-p2p-metric') === metric.name) {
              cells[j].textContent = metric.value.toFixed(1) + (cells[j].getAttribute('data-p2p-unit') || '');
            }
          }
        });
      }
      if (document.querySelector('[data-p2p-summary]')) refreshSoon();
    } else if (message.type === 'alert' || message.type === 'status') {
      refreshSoon();
    }
  };
})();
</script>
