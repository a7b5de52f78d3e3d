<?php if (!defined('FLUX_ROOT')) exit; ?>
<?php
/* Live updates. With a ticket the page follows the feed: metrics change the cells marked data-p2p-metric inside
   rows marked data-p2p-host; alerts, status changes and (on summary pages) metrics refresh #p2p-page in place, at
   most once per refresh_interval and not while a form in it has the focus. When there is no ticket, or the feed
   refuses or drops the connection, the page says why (and which setting to fix), refreshes #p2p-page in place every
   refresh_interval meanwhile, and reconnects as the dashboard's feed client does: after a wait that doubles from
   1 s to a minute (back to 1 s once a connection opens), each time with a fresh single-use ticket from the ticket
   action (POST with the session's CSRF token). The page is never reloaded whole. */
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
   data-p2p-renew="<?php echo $this->url('p2p', 'ticket') ?>"
   data-p2p-csrf="<?php echo P2PMonitor_View::h(P2PMonitor_Csrf::token()) ?>"
   data-p2p-text="<?php echo P2PMonitor_View::h(json_encode($p2pLiveText)) ?>"><?php echo $live ? P2PMonitor_View::t('P2PLiveConnecting') : P2PMonitor_View::t('P2PNoLive', $p2pSeconds) ?></p>
<script>
(function () {
  var status = document.getElementById('p2p-live');
  var refresh = parseInt(status.getAttribute('data-p2p-refresh'), 10) || 5000;
  var text = JSON.parse(status.getAttribute('data-p2p-text'));
  var renew = status.getAttribute('data-p2p-renew');
  var csrf = status.getAttribute('data-p2p-csrf');
  var socket = null;
  var pending = null;
  var polling = false;
  var reconnecting = false;
  var wait = 1000;
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
      var next = new DOMParser().parseFromString(html, 'text/html').getElementById('p2p-page');
      var page = document.getElementById('p2p-page');
      if (next && page && !busy(page)) page.innerHTML = next.innerHTML;
    }).catch(function () {
      say('error', text.failed);
    }).then(done, done);
  }
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () { refreshNow(function () { pending = null; }); }, refresh);
  }
  // While there is no feed, the page refreshes in place every refresh_interval.
  function poll() {
    if (polling) return;
    polling = true;
    (function next() {
      if (!polling) return;
      setTimeout(function () { if (polling) refreshNow(next); }, refresh);
    })();
  }
  // A fresh single-use ticket: the one the page came with is spent by the first connection.
  function ticket() {
    return fetch(renew, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'csrf=' + encodeURIComponent(csrf)
    }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    });
  }
  // No feed: say why (unless `message` is null: the text already there stays), keep the page fresh, and try again
  // after `wait`, which doubles up to a minute.
  function retry(state, message) {
    if (message !== null) say(state, message);
    poll();
    if (reconnecting) return;
    reconnecting = true;
    setTimeout(function () {
      ticket().then(function (fresh) {
        reconnecting = false;
        connect(fresh);
      }, function () {
        reconnecting = false;
        retry(state, null);
      });
    }, wait);
    wait = Math.min(wait * 2, 60000);
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
  function connect(live) {
    var opened = false;
    var url = live.url + (live.url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(live.ticket);
    try {
      socket = new WebSocket(url);
    } catch (e) {
      socket = null;
      return retry('refused', text.refused);
    }
    socket.onopen = function () {
      opened = true;
      polling = false;
      wait = 1000;
      say('up', text.live);
    };
    socket.onclose = function () {
      socket = null;
      if (opened) retry('down', text.dropped); else retry('refused', text.refused);
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
  if (first) connect(first); else retry('off', null);
})();
</script>
