// p2pmon dashboard: picks the page's module and connects it to the feed.

import { connectLive } from './live.js';
import { overview } from './pages/overview.js';
import { hosts } from './pages/hosts.js';
import { host } from './pages/host.js';
import { maps } from './pages/maps.js';
import { network } from './pages/network.js';
import { alerts } from './pages/alerts.js';

const PAGES = { overview, hosts, host, maps, network, alerts };

const main = document.getElementById('main');
const page = PAGES[document.body.dataset.page];
if (main && page) {
  const listeners = [];
  page(main, (listener) => listeners.push(listener));
  connectLive((message) => {
    for (const listener of listeners) listener(message);
  });
}
