// Example plugin in JavaScript: is the map-server's HTTP status page up, and
// how fast does it answer? Config `url` is the page (default
// http://127.0.0.1:8080/status); grant `http` with that URL's prefix, and
// `clock` for the latency figure.

import { definePlugin, gauge, httpGet, configGet, nowMs, HostError } from '@p2pmon/plugin';

export const guest = definePlugin({
  name: 'map-http-check',
  version: '0.1.0',
  description: "Checks the map-server's HTTP status page.",
  capabilities: ['config', 'clock', 'http'],
  defaultIntervalMs: 10000,
  metrics: [
    gauge('map_http_up', 'count', '1 when the status page answers 2xx, else 0'),
    gauge('map_http_status', 'count', 'HTTP status of the last answer (0: no answer)'),
    gauge('map_http_latency_ms', 'milliseconds', 'Time to the whole answer'),
    gauge('map_http_body_bytes', 'bytes', 'Size of the answer'),
  ],
  collect(out) {
    const url = configGet('url', 'http://127.0.0.1:8080/status');
    const tags = { url };
    const started = nowMs();
    let response;
    try {
      response = httpGet(url, { timeoutMs: 1500, maxBytes: 64 * 1024 });
    } catch (error) {
      if (!(error instanceof HostError) || error.kind === 'denied') throw error;
      out.metric('map_http_up', 0, tags).metric('map_http_status', 0, tags);
      out.event('map_http_down', `${url}: ${error.detail}`, { severity: 'warning', fields: tags });
      return;
    }
    const up = response.status >= 200 && response.status < 300 ? 1 : 0;
    out.metric('map_http_up', up, tags);
    out.metric('map_http_status', response.status, tags);
    out.metric('map_http_latency_ms', nowMs() - started, tags);
    out.metric('map_http_body_bytes', response.body.length, tags);
    if (!up) {
      out.event('map_http_down', `${url} answered ${response.status}`, { severity: 'warning', fields: tags });
    }
  },
});
