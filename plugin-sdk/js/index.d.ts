// Types of @p2pmon/plugin, from plugin-sdk/wit/plugin.wit (p2pmon:plugin@1.2.0).

export const CONTRACT: string;

export type Capability = 'log' | 'clock' | 'config' | 'system' | 'sql' | 'file' | 'net' | 'http';
export type MetricKind = 'gauge' | 'counter';
export type Severity = 'info' | 'warning' | 'error' | 'critical';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type Tags = Record<string, string | number | boolean> | Array<[string, string | number | boolean]>;

export interface MetricDescriptor {
  name: string;
  unit: string;
  kind: MetricKind;
  description: string;
}

export class HostError extends Error {
  kind: 'denied' | 'unavailable' | 'invalid';
  detail: string;
}

export function gauge(name: string, unit: string, description?: string): MetricDescriptor;
export function counter(name: string, unit: string, description?: string): MetricDescriptor;

export class Collector {
  metric(name: string, value: number, tags?: Tags, timestampMs?: number): this;
  event(kind: string, message: string, options?: { severity?: Severity; fields?: Tags; timestampMs?: number }): this;
}

export interface PluginSpec {
  name: string;
  version: string;
  description?: string;
  metrics?: MetricDescriptor[];
  capabilities?: Capability[];
  defaultIntervalMs?: number;
  collect(out: Collector): void;
}

export interface Guest {
  metadata(): unknown;
  collect(): unknown;
}

export function definePlugin(spec: PluginSpec): Guest;

export function log(level: LogLevel, message: string): void;
export function nowMs(): number;
export function configGet(key: string, fallback?: string): string | undefined;
export function configKeys(): string[];

export interface CpuStats { usagePercent: number; perCorePercent: number[]; coreCount: number }
export interface MemoryStats { totalBytes: bigint; usedBytes: bigint; availableBytes: bigint; swapTotalBytes: bigint; swapUsedBytes: bigint }
export interface DiskStats { device: string; mountPoint: string; fileSystem: string; totalBytes: bigint; availableBytes: bigint; removable: boolean }
export interface NetworkStats {
  interface: string; rxBytes: bigint; txBytes: bigint; rxPackets: bigint; txPackets: bigint;
  rxErrors: bigint; txErrors: bigint; rxBytesPerSecond: number; txBytesPerSecond: number;
}
export interface ProcessStats { pid: number; name: string; cpuPercent: number; memoryBytes: bigint }
export interface SystemSnapshot {
  takenAtMs: bigint; uptimeSeconds: bigint; load: { one: number; five: number; fifteen: number };
  cpu?: CpuStats; memory?: MemoryStats; disks: DiskStats[]; networks: NetworkStats[];
  processes?: { total: number; running: number; topByMemory: ProcessStats[] };
}
export interface PortConnections {
  port: number; listening: number; established: number; synReceived: number; timeWait: number; closeWait: number;
  topRemotes: Array<[string, number]>;
}
export interface ProcessGroup { name: string; count: number; pids: number[]; cpuPercent: number; memoryBytes: bigint; startedAtMs?: bigint }

export function snapshot(parts?: { cpu?: boolean; memory?: boolean; disks?: boolean; networks?: boolean; processes?: boolean }): SystemSnapshot;
export function tcpConnections(ports: number[]): PortConnections[];
export function protocolCounters(): Record<string, bigint>;
export function processesNamed(names: string[]): ProcessGroup[];

export type SqlParam = null | undefined | number | bigint | string;
export function query(connection: string, statement: string, params?: SqlParam[]): {
  columns: string[];
  rows: Array<Record<string, null | number | string | Uint8Array>>;
  truncated: boolean;
};

export function tail(path: string, options?: { start?: 'beginning' | 'end'; maxBytes?: number }): {
  lines: string[]; cutLines: number; reset: boolean; backlogBytes: number;
};
export function readText(path: string, maxBytes?: number): string;

export interface TcpProbe { target: string; connected: boolean; connectMs: number; error?: string }
export interface UdpProbe {
  target: string; sent: number; received: number; minMs: number; avgMs: number; maxMs: number; jitterMs: number; error?: string;
}
export function tcpConnect(targets: string[], timeoutMs?: number): TcpProbe[];
export function udpEcho(targets: string[], options?: { count?: number; spacingMs?: number; timeoutMs?: number }): UdpProbe[];

export function httpGet(url: string, options?: { timeoutMs?: number; maxBytes?: number }): {
  status: number; contentType?: string; body: Uint8Array; text: string;
};
