// The live feed: a single-use ticket from the API opens the WebSocket (the
// page never holds an API token); on a drop, reconnect with a growing wait.

import { api } from './api.js';

const url = document.querySelector('meta[name="p2pmon-ws"]')?.content || '';

export function connectLive(onMessage) {
  const indicator = document.getElementById('live');
  let wait = 1000;
  const say = (text, state) => {
    if (indicator) {
      indicator.textContent = text;
      indicator.dataset.state = state;
    }
  };
  const open = async () => {
    let ticket;
    try {
      ({ ticket } = await api('/api/v1/ws-ticket', { method: 'POST' }));
    } catch (error) {
      say('offline', 'down');
      setTimeout(open, wait);
      wait = Math.min(wait * 2, 30000);
      return;
    }
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(ticket)}`);
    socket.addEventListener('open', () => { wait = 1000; say('live', 'up'); });
    socket.addEventListener('message', (event) => {
      try {
        onMessage(JSON.parse(event.data));
      } catch (error) {
        console.error('feed message not handled', error);
      }
    });
    socket.addEventListener('close', () => {
      say('reconnecting', 'down');
      setTimeout(open, wait);
      wait = Math.min(wait * 2, 30000);
    });
  };
  open();
}
