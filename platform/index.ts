/**
 * The ONE place that switches on process.platform: which adapters exist here and which is the
 * default. An adapter that cannot run on this host says so in one line (AdapterUnavailableError).
 */
import fs from 'node:fs';
import type { Config } from '../src/config/schema';
import type { Logger } from '../src/core/logger';
import { AdapterUnavailableError, type Source } from '../src/core/source';
import type { ProcessFacts } from './unix/lsof/read';

/*
 * Each adapter's module is loaded when that adapter is created, not at start-up: a scan with procfs
 * does not load the eBPF source's child_process and bpftrace program, nor the Windows adapters.
 */
const procfsModule = () => require('./linux/procfs/source') as typeof import('./linux/procfs/source.js');
const ebpfModule = () => require('./linux/ebpf/source') as typeof import('./linux/ebpf/source.js');
const lsofReadModule = () => require('./unix/lsof/read') as typeof import('./unix/lsof/read.js');
const lsofModule = () => require('./unix/lsof/source') as typeof import('./unix/lsof/source.js');
const etwModule = () => require('./windows/etw/source') as typeof import('./windows/etw/source.js');
const iphlpapiModule = () => require('./windows/iphlpapi/source') as typeof import('./windows/iphlpapi/source.js');
const netstatModule = () => require('./windows/netstat/source') as typeof import('./windows/netstat/source.js');

/** The identity of one socket across sources (namespace, transport, 4-tuple): what a stand-in poller must not report again. */
export { socketKey } from './linux/procfs/source';
/**
 * Wire inspection (Linux): the second bpftrace that reads a connection's first bytes. Its module
 * (the program, the protocol parsers) is loaded on first use, only when a capture turns it on.
 */
export function wireInspection(): typeof import('./linux/wire/source.js') {
  return require('./linux/wire/source') as typeof import('./linux/wire/source.js');
}

export interface AdapterContext {
  config: Config;
  /** The analyzer's pre-filter: which remote endpoints are worth attributing to a process. */
  isCandidate(ip: string, port: number): boolean;
  /** Pub/sub ports: connections to them that are not candidates are still reported, unattributed, so the analyzer counts them (summary.ignoredInternal/ignoredLoopback). */
  isPubSubPort?(port: number): boolean;
  /** Destination ports worth looking at at all (adapters skip other rows before decoding them). */
  isWatchedPort?(port: number): boolean;
  /** The same ports as a list, for adapters that filter in the kernel (netlink sock_diag). */
  watchedPorts?: readonly number[];
  platform?: NodeJS.Platform;
  /** Streaming sources report here when they go down (up=false) and come back (the daemon polls meanwhile). */
  onStatus?(up: boolean, why?: string): void;
  /** Where sources log an episode: polls failing (and working again), eBPF events lost or load shed. */
  log?: Pick<Logger, 'warn' | 'info'>;
  /** Connections a streaming source already reported (procfs connectionKey): a stand-in poller treats them as seen. */
  reported?(key: string): boolean;
}

interface AdapterSpec {
  description: string;
  platforms: NodeJS.Platform[];
  /** A streaming adapter (no snapshot) names the polling adapter that stands in when it cannot start or is down. */
  fallback?: string;
  create(ctx: AdapterContext): Source;
}

export const ADAPTERS: Readonly<Record<string, AdapterSpec>> = {
  procfs: {
    description: 'Linux /proc/net tables + /proc/<pid>/fd attribution (procRoot in config)',
    platforms: ['linux'],
    create(ctx) {
      const root = ctx.config.procRoot;
      if (!fs.existsSync(`${root}/net/tcp`) && !fs.existsSync(`${root}/self/net/tcp`) && !fs.existsSync(`${root}/1/net/tcp`)) {
        throw new AdapterUnavailableError('procfs', `no procfs at ${root} (set procRoot in the config)`);
      }
      return new (procfsModule().ProcfsSource)(
        { procRoot: root, isCandidate: ctx.isCandidate, isPubSubPort: ctx.isPubSubPort, isWatchedPort: ctx.isWatchedPort, ...(ctx.reported ? { reported: ctx.reported } : {}), ...(ctx.watchedPorts ? { watchedPorts: ctx.watchedPorts } : {}) },
        undefined,
        ctx.config.pollInterval,
        ctx.log ? { log: ctx.log } : {},
      );
    },
  },
  ebpf: {
    description: 'Linux eBPF: bpftrace on sock:inet_sock_set_state sees every connect, even from processes that exit at once (streaming only: no scan)',
    platforms: ['linux'],
    fallback: 'procfs',
    create(ctx) {
      const { EbpfSource, tracedPorts } = ebpfModule();
      return new EbpfSource({
        ports: tracedPorts(ctx.config, ctx.isPubSubPort),
        ...(ctx.config.bpftracePath ? { bpftrace: ctx.config.bpftracePath } : {}),
        procRoot: ctx.config.procRoot,
        perfRbPages: ctx.config.ebpfPerfBufferPages,
        // Loopback is counted in the kernel unless the analyzer judges it (includeLoopback).
        dropLoopback: !ctx.config.includeLoopback,
        ...(ctx.log ? { log: ctx.log } : {}),
        isCandidate: ctx.isCandidate,
        isPubSubPort: ctx.isPubSubPort,
        onStatus: (s) => {
          if (s.state === 'up') ctx.onStatus?.(true);
          else if (s.state === 'down') ctx.onStatus?.(false, s.reason);
        },
      });
    },
  },
  lsof: {
    description: 'lsof -F field output + ps for the owners of candidate sockets (macOS default; also runs on Linux)',
    platforms: ['darwin', 'linux'],
    create(ctx) {
      const platform = ctx.platform ?? process.platform;
      const { LSOF_PATHS, locateTool, procfsProcessFacts, PS_PATHS, realLsofDeps } = lsofReadModule();
      const lsofPath = locateTool(LSOF_PATHS);
      const psPath = locateTool(PS_PATHS);
      if (lsofPath === null) throw new AdapterUnavailableError('lsof', `lsof not found (looked in ${LSOF_PATHS.join(', ')})`);
      if (psPath === null) throw new AdapterUnavailableError('lsof', `ps not found (looked in ${PS_PATHS.join(', ')})`);
      // The executable's path comes from the kernel, never from ps (argv[0] is the process's choice).
      const facts = platform === 'darwin' ? libprocFacts() : fs.existsSync(ctx.config.procRoot) ? procfsProcessFacts(ctx.config.procRoot) : undefined;
      return new (lsofModule().LsofSource)(
        { lsofPath, psPath, isCandidate: ctx.isCandidate, isPubSubPort: ctx.isPubSubPort, psLocale: platform === 'darwin' ? 'en_US.UTF-8' : 'C.UTF-8' },
        realLsofDeps(facts),
        Math.max(ctx.config.pollInterval, 1000),
        ctx.log ? { log: ctx.log } : {},
      );
    },
  },
  iphlpapi: {
    description: 'Windows GetExtendedTcpTable (owner pid, IPv4 and IPv6) + process facts through koffi (Windows default)',
    platforms: ['win32'],
    create(ctx) {
      return new (iphlpapiModule().IphlpapiSource)({ isCandidate: ctx.isCandidate, isPubSubPort: ctx.isPubSubPort, isWatchedPort: ctx.isWatchedPort }, undefined, ctx.config.pollInterval, ctx.log ? { log: ctx.log } : {});
    },
  },
  netstat: {
    description: 'Windows `netstat -ano` text (the last resort when iphlpapi cannot load; states are not translated)',
    platforms: ['win32'],
    create(ctx) {
      return new (netstatModule().NetstatSource)({ isCandidate: ctx.isCandidate, isPubSubPort: ctx.isPubSubPort }, undefined, Math.max(ctx.config.pollInterval, 1000), ctx.log ? { log: ctx.log } : {});
    },
  },
  etw: {
    description: 'Windows ETW real-time session on Microsoft-Windows-Kernel-Network: every TCP connect attempt, even from processes that exit at once (streaming only: no scan)',
    platforms: ['win32'],
    fallback: 'iphlpapi',
    create(ctx) {
      return new (etwModule().EtwSource)({ isCandidate: ctx.isCandidate, isPubSubPort: ctx.isPubSubPort, onStatus: ctx.onStatus });
    },
  },
};

/** The snapshot (polling) adapter `auto` means for scan, and the daemon's poller. */
const DEFAULT_ADAPTER: Partial<Record<NodeJS.Platform, string>> = { linux: 'procfs', darwin: 'lsof', win32: 'iphlpapi' };
/** The streaming adapter `auto` tries first in the daemon (it falls back to the polling default). */
const DEFAULT_STREAMING: Partial<Record<NodeJS.Platform, string>> = { linux: 'ebpf', win32: 'etw' };

/** macOS: proc_pidpath through libproc, loaded on first use - so koffi and libproc are never loaded elsewhere. */
function libprocFacts(): (pid: number) => Promise<ProcessFacts | null> {
  let facts: Promise<(pid: number) => Promise<ProcessFacts | null>> | null = null;
  return async (pid) => {
    facts ??= Promise.resolve().then(() => (require('./darwin/libproc/read') as typeof import('./darwin/libproc/read.js')).libprocProcessFacts());
    return (await facts)(pid);
  };
}

export function adapterNames(): string[] {
  return Object.keys(ADAPTERS);
}

/** The adapter's spec, checked against the platform; `auto` means this platform's polling default. */
function specFor(name: string, platform: NodeJS.Platform): [string, AdapterSpec] {
  const chosen = name === 'auto' ? DEFAULT_ADAPTER[platform] : name;
  if (chosen === undefined) {
    throw new AdapterUnavailableError('auto', `no socket adapter for ${platform} yet (supported today: Linux procfs, macOS lsof, Windows iphlpapi; see the README's platform matrix)`);
  }
  const spec = ADAPTERS[chosen];
  if (!spec) throw new AdapterUnavailableError(chosen, `unknown adapter; choose one of: auto, ${adapterNames().join(', ')}`);
  if (!spec.platforms.includes(platform)) throw new AdapterUnavailableError(chosen, `runs on ${spec.platforms.join(', ')}, not on ${platform}`);
  return [chosen, spec];
}

/** Picks and builds the adapter: `auto` means this platform's default. */
export function createSource(name: string, ctx: AdapterContext): Source {
  return specFor(name, ctx.platform ?? process.platform)[1].create(ctx);
}

/**
 * What the daemon runs for the `adapter` setting: a streaming adapter to try first (null: none)
 * and the polling adapter that runs when it cannot start or while it is down (or alone).
 * Throws AdapterUnavailableError (one line) when the setting cannot run on this platform at all.
 */
export interface CapturePlan {
  stream: string | null;
  poll: string;
}

export function planCapture(name: string, platform: NodeJS.Platform = process.platform): CapturePlan {
  if (name === 'auto') {
    const poll = specFor('auto', platform)[0];
    const stream = DEFAULT_STREAMING[platform] ?? null;
    return { stream, poll };
  }
  const [chosen, spec] = specFor(name, platform);
  if (spec.fallback === undefined) return { stream: null, poll: chosen };
  return { stream: chosen, poll: specFor(spec.fallback, platform)[0] };
}
