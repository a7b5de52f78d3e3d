// @p2pmon/plugin: the JavaScript side of the p2pmon plugin contract
// (plugin-sdk/wit/plugin.wit, package p2pmon:plugin@1.2.0).
//
// A plugin module does
//
//   import { definePlugin, gauge } from '@p2pmon/plugin';
//   export const guest = definePlugin({ name, version, metrics, capabilities, collect(out) { ... } });
//
// and `p2pmon-plugin-build plugin.js -o plugin.wasm` makes the component the
// agent loads. Host calls throw a HostError (kind: denied, unavailable or
// invalid); an exception out of collect() becomes the call's error, which the
// agent logs and counts, and the plugin stays loaded.

import * as host from 'p2pmon:plugin/host@1.2.0';
import * as system from 'p2pmon:plugin/system@1.2.0';
import * as sql from 'p2pmon:plugin/sql@1.2.0';
import * as file from 'p2pmon:plugin/file@1.2.0';
import * as net from 'p2pmon:plugin/net@1.2.0';
import * as http from 'p2pmon:plugin/http@1.2.0';

/** The contract version this SDK builds. */
export const CONTRACT = '1.2.0';

/** A host function refused (`denied`), could not answer (`unavailable`) or rejected its arguments (`invalid`). */
export class HostError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = 'HostError';
    this.kind = kind;
    this.detail = message;
  }
}

function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (error) {
    const payload = error && error.payload !== undefined ? error.payload : error;
    if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
      throw new HostError(payload.tag, String(payload.val));
    }
    throw error;
  }
}

function descriptor(kind, name, unit, description) {
  return { name, unit, kind, description: description ?? '' };
}

/** A metric that goes up and down. */
export const gauge = (name, unit, description) => descriptor('gauge', name, unit, description);
/** A metric that only grows, reset when its source restarts. */
export const counter = (name, unit, description) => descriptor('counter', name, unit, description);

function tagList(tags) {
  if (!tags) return [];
  const entries = Array.isArray(tags) ? tags : Object.entries(tags);
  return entries.map(([k, v]) => [String(k), String(v)]);
}

function stamp(ms) {
  return ms === undefined || ms === null ? undefined : BigInt(Math.trunc(Number(ms)));
}

/** What one collect call gathers. */
export class Collector {
  constructor() {
    this.metrics = [];
    this.events = [];
  }

  /** Add a measured value; `tags` is an object or a list of [key, value]. */
  metric(name, value, tags, timestampMs) {
    this.metrics.push({ name, value: Number(value), tags: tagList(tags), timestampMs: stamp(timestampMs) });
    return this;
  }

  /** Add an event; severity is info, warning, error or critical. */
  event(kind, message, { severity = 'info', fields, timestampMs } = {}) {
    this.events.push({ kind, severity, message: String(message), fields: tagList(fields), timestampMs: stamp(timestampMs) });
    return this;
  }
}

/**
 * The `guest` export of a plugin: `export const guest = definePlugin({...})`.
 * `collect(out)` adds to `out` (a Collector); whatever it throws is the
 * call's error.
 */
export function definePlugin(spec) {
  for (const field of ['name', 'version', 'collect']) {
    if (!spec[field]) throw new Error(`definePlugin: \`${field}\` is required`);
  }
  const info = {
    name: spec.name,
    version: spec.version,
    description: spec.description ?? '',
    metrics: spec.metrics ?? [],
    capabilities: spec.capabilities ?? [],
    defaultIntervalMs: spec.defaultIntervalMs ?? 10000,
  };
  return {
    metadata() {
      return info;
    },
    collect() {
      const out = new Collector();
      try {
        spec.collect(out);
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        const failure = new Error(message);
        failure.payload = message;
        throw failure;
      }
      return { metrics: out.metrics, events: out.events };
    },
  };
}

// Host calls. Each needs its capability granted in agent.yml.

/** Capability `log`; level is trace, debug, info, warn or error. */
export const log = (level, message) => call(host.log, level, String(message));
/** Capability `clock`: Unix milliseconds, as a number. */
export const nowMs = () => Number(call(host.nowMs));
/** Capability `config`: a value of this plugin's config map, or `fallback`. */
export const configGet = (key, fallback) => {
  const value = call(host.configGet, key);
  return value === undefined || value === null ? fallback : value;
};
/** Capability `config`: every key of this plugin's config map. */
export const configKeys = () => call(host.configKeys);

/** Capability `system`: a snapshot of the parts asked for. */
export const snapshot = ({ cpu = false, memory = false, disks = false, networks = false, processes = false } = {}) =>
  call(system.snapshot, { cpu, memory, disks, networks, processes });
/** Capability `system`: TCP sockets per local port. */
export const tcpConnections = (ports) => call(system.tcpConnections, ports);
/** Capability `system`: kernel protocol counters. */
export const protocolCounters = () => call(system.protocolCounters);
/** Capability `system`: processes by name, taken together. */
export const processesNamed = (names) => call(system.processesNamed, names);

/** Capability `sql`: one SELECT; rows come back as objects keyed by column. */
export function query(connection, statement, params = []) {
  const wrapped = params.map((p) => {
    if (p === null || p === undefined) return { tag: 'null' };
    if (typeof p === 'bigint') return { tag: 'int', val: p };
    if (typeof p === 'number') return Number.isInteger(p) ? { tag: 'int', val: BigInt(p) } : { tag: 'float', val: p };
    return { tag: 'text', val: String(p) };
  });
  const result = call(sql.query, connection, statement, wrapped);
  const rows = result.rows.map((row) => {
    const object = {};
    row.forEach((cell, i) => {
      const value = cell.tag === 'null' ? null : cell.val;
      object[result.columns[i]] = typeof value === 'bigint' ? Number(value) : value;
    });
    return object;
  });
  return { columns: result.columns, rows, truncated: result.truncated };
}

/** Capability `file`: lines appended since the last call; start is beginning or end. */
export const tail = (path, { start = 'end', maxBytes = 1 << 20 } = {}) => {
  const result = call(file.tail, path, start, maxBytes);
  return { ...result, backlogBytes: Number(result.backlogBytes) };
};
/** Capability `file`: the first `maxBytes` of a file, as text. */
export const readText = (path, maxBytes = 1 << 20) => new TextDecoder().decode(call(file.read, path, maxBytes));

/** Capability `net`: TCP connect probes. */
export const tcpConnect = (targets, timeoutMs = 1000) => call(net.tcpConnect, targets, timeoutMs);
/** Capability `net`: UDP echo probes to peers' echo responders. */
export const udpEcho = (targets, { count = 5, spacingMs = 100, timeoutMs = 500 } = {}) =>
  call(net.udpEcho, targets, count, spacingMs, timeoutMs);

/** Capability `http`: GET under a granted prefix; `text` is the body decoded as UTF-8. */
export function httpGet(url, { timeoutMs = 2000, maxBytes = 1 << 20 } = {}) {
  const response = call(http.get, url, timeoutMs, maxBytes);
  return { status: response.status, contentType: response.contentType, body: response.body, text: new TextDecoder().decode(response.body) };
}
