<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php
/* Live updates. With a ticket the page follows the feed: metrics change the cells marked data-p2p-metric inside
   rows marked data-p2p-host; alerts, status changes and (on summary pages) metrics refresh #p2p-page in place, at
   most once per refresh_interval and not while a form in it has the focus. Without a ticket, or when the feed
   refuses or drops the connection, the page refreshes #p2p-page in place every refresh_interval, says why and which
   setting to fix, and tries the feed again with the fresh ticket each refresh brings (backing off to a minute).
   The page is never reloaded whole. */
$p2pSeconds = round($p2p->refreshInterval / 1000, 1);
$p2pLiveText = array(
    'live'    => P2PMonitor_View::text('P2PLiveOn'),
    'refused' => P2PMonitor_View::text('P2PLiveRefused', $live ? $live['url'] : $p2p->websocketUrl, '{origin}', $p2pSeconds),
    'dropped' => P2PMonitor_View::text('P2PLiveDropped', $p2pSeconds),
    'failed'  => P2PMonitor_View::text('P2PRefreshFailed'),
);
?>
<p class="p2p-live" id="p2p-live" data-state="<?php echo $live ? 'connecting' : 'off' ?>"
   data-p2p-live="<?php echo P2PMonitor_View::h(json_encode($live)) ?>"
   data-p2p-refresh="<?php echo (int) $p2p->refreshInterval ?>"
   data-p2p-text="<?php echo P2PMonitor_View::h(json_encode($p2pLiveText)) ?>"><?php echo $live ? P2PMonitor_View::t('P2PLiveConnecting') : P2PMonitor_View::t('P2PNoLive', $p2pSeconds) ?></p>
<script>
(function () {
  var status = document.getElementById('p2p-live');
  var refresh = parseInt(status.getAttribute('data-p2p-refresh'), 10) || 5000;
  var text = JSON.parse(status.getAttribute('data-p2p-text'));
  var socket = null;
  var pending = null;
  var polling = false;
  var retryAt = 0;
  var backoff = refresh;
  function say(state, message) {
    status.textContent = message.split('{origin}').join(location.origin);
    status.setAttribute('data-state', state);
  }
  function busy(page) {
    var focused = document.activeElement;
    return focused && focused.form && page.contains(focused);
  }
  // Fetch this page again and swap #p2p-page for the fresh one (GET: a form posted before is not repeated).
  function refreshNow(done) {
    fetch(location.href, { credentials: 'same-origin' }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, 'text/html');
      var next = fresh.getElementById('p2p-page');
      var page = document.getElementById('p2p-page');
      if (next && page && !busy(page)) page.innerHTML = next.innerHTML;
      var nextLive = fresh.getElementById('p2p-live');
      var ticket = nextLive ? JSON.parse(nextLive.getAttribute('data-p2p-live') || 'null') : null;
      if (ticket && !socket && Date.now() >= retryAt) connect(ticket);
    }).catch(function () {
      say('error', text.failed);
    }).then(done, done);
  }
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () { refreshNow(function () { pending = null; }); }, refresh);
  }
  function poll() {
    if (polling) return;
    polling = true;
    (function next() {
      if (!polling) return;
      setTimeout(function () { if (polling) refreshNow(next); }, refresh);
    })();
  }
  function update(message) {
    var rows = document.querySelectorAll('[data-p2p-host]');
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute('data-p2p-host') !== message.host) continue;
      var cells = rows[i].querySelectorAll('[data-p2p-metric]');
      (message.metrics || []).forEach(function (metric) {
        if (Object.keys(metric.tags || {}).length || typeof metric.value !== 'number') return;
        for (var j = 0; j < cells.length; j++) {
          if (cells[j].getAttribute('data-p2p-metric') === metric.name) {
            cells[j].textContent = metric.value.toFixed(1) + (cells[j].getAttribute('data-p2p-unit') || '');
          }
        }
      });
    }
  }
  function connect(ticket) {
    var opened = false;
    var url = ticket.url + (ticket.url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(ticket.ticket);
    try {
      socket = new WebSocket(url);
    } catch (e) {
      socket = null;
      say('refused', text.refused);
      retryAt = Date.now() + 60000;
      return poll();
    }
    socket.onopen = function () {
      opened = true;
      polling = false;
      backoff = refresh;
      say('up', text.live);
    };
    socket.onclose = function () {
      socket = null;
      say(opened ? 'down' : 'refused', opened ? text.dropped : text.refused);
      retryAt = Date.now() + backoff;
      backoff = Math.min(backoff * 2, 60000);
      poll();
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === 'metrics') {
        update(message);
        if (document.querySelector('#p2p-page [data-p2p-summary]')) refreshSoon();
      } else if (message.type === 'alert' || message.type === 'status') {
        refreshSoon();
      }
    };
  }
  var first = JSON.parse(status.getAttribute('data-p2p-live') || 'null');
  if (first) connect(first); else poll();
})();
</script>
