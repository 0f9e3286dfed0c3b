/**
 * The pid -> process cache behind eBPF attribution. Pure: time comes in as a number, no I/O.
 * Filled when a process execs (read from /proc while it still exists) and on a connect that
 * missed; an exited process stays for exitTtlMs so a connect made just before exit - whose line
 * may be read after the exit line, since bpftrace drains per-CPU buffers - is still attributed.
 */
import type { ProcessInfo } from '../../../src/core/types';

/**
 * How an event's process was known:
 * - procfs: exe and command line read from /proc/<pid>;
 * - partial: /proc/<pid> was read but had lost exe or argv (a zombie), filled from the kernel's facts;
 * - kernel: the process was gone before /proc could be read; only what the probes saw
 *   (pid, comm, ppid, uid, the execve file name) is known.
 */
export type Attribution = 'procfs' | 'partial' | 'kernel';

/**
 * The process as emitted: ProcessInfo plus how it was known (see Attribution in cache.ts), so a
 * consumer can tell a /proc-read process from one reconstructed from kernel facts after it exited.
 */
export type EbpfProcessInfo = ProcessInfo & {
  attribution: Attribution;
  /** argv came from the kernel's capture at exec and was longer than it keeps (192 bytes). */
  argvTruncated?: true;
};

export function withAttribution(entry: Pick<CachedProcess, 'info' | 'attribution' | 'argvTruncated'>): EbpfProcessInfo {
  return { ...entry.info, attribution: entry.attribution, ...(entry.argvTruncated ? { argvTruncated: true as const } : {}) };
}

export interface CachedProcess {
  info: ProcessInfo;
  attribution: Attribution;
  /** Start time in clock ticks from /proc/<pid>/stat: tells a reused pid from the cached process. */
  startTicks?: number;
  /** When the kernel reported the exit (ms); the entry is dropped exitTtlMs later. */
  exitedAt?: number;
  /** argv is the kernel's capture and was cut. */
  argvTruncated?: boolean;
}

/** What the probes themselves saw of a process. */
export interface KernelFacts {
  pid: number;
  ppid?: number;
  uid?: number;
  user?: string;
  /** comm at connect time. */
  comm?: string;
  /** Absolute execve file name (symlinks resolved when possible); for a script, the script. */
  exe?: string;
  /** argv as the probe read it from the new image at exec. */
  argv?: string[];
  argvTruncated?: boolean;
  parentExe?: string;
  parentName?: string;
}

export interface CacheOptions {
  /** Most processes kept (least recently used go first). */
  maxEntries?: number;
  /** How long an exited process stays attributable. */
  exitTtlMs?: number;
}

export const DEFAULT_CACHE: Required<CacheOptions> = { maxEntries: 8192, exitTtlMs: 30_000 };

/** Combines a /proc read (null when the process was gone) with the kernel's facts. */
export function mergeProcess(read: (ProcessInfo & { startTicks: number }) | null, facts: KernelFacts): CachedProcess {
  if (read === null) {
    const info: ProcessInfo = { pid: facts.pid };
    if (facts.ppid !== undefined) info.ppid = facts.ppid;
    if (facts.comm !== undefined) info.name = facts.comm;
    if (facts.exe !== undefined) info.exe = facts.exe;
    if (facts.argv !== undefined) {
      info.argv = facts.argv;
      info.cmdline = facts.argv.join(' ');
    }
    if (facts.uid !== undefined) info.uid = facts.uid;
    if (facts.user !== undefined) info.user = facts.user;
    if (facts.parentExe !== undefined) info.parentExe = facts.parentExe;
    if (facts.parentName !== undefined) info.parentName = facts.parentName;
    return { info, attribution: 'kernel', ...(facts.argv && facts.argvTruncated ? { argvTruncated: true } : {}) };
  }
  const { startTicks, ...info } = read;
  const complete = info.exe !== undefined && (info.argv?.length ?? 0) > 0;
  if (info.exe === undefined && facts.exe !== undefined) info.exe = facts.exe;
  let argvTruncated = false;
  if ((info.argv?.length ?? 0) === 0) {
    delete info.cmdline; // a zombie's empty cmdline says nothing: take the kernel's capture
    delete info.argv;
    if (facts.argv !== undefined) {
      info.argv = facts.argv;
      info.cmdline = facts.argv.join(' ');
      argvTruncated = facts.argvTruncated === true;
    }
  }
  if (info.name === undefined && facts.comm !== undefined) info.name = facts.comm;
  if (info.uid === undefined && facts.uid !== undefined) info.uid = facts.uid;
  if (info.user === undefined && facts.user !== undefined) info.user = facts.user;
  return { info, attribution: complete ? 'procfs' : 'partial', startTicks, ...(argvTruncated ? { argvTruncated } : {}) };
}

export class ProcessCache {
  private readonly entries = new Map<number, CachedProcess>();
  private readonly opts: Required<CacheOptions>;

  constructor(opts: CacheOptions = {}) {
    this.opts = { ...DEFAULT_CACHE, ...opts };
    if (!Number.isInteger(this.opts.maxEntries) || this.opts.maxEntries < 1) throw new Error('cache maxEntries must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  private expired(e: CachedProcess, now: number): boolean {
    return e.exitedAt !== undefined && now - e.exitedAt > this.opts.exitTtlMs;
  }

  /** The entry, or undefined when absent or exited longer than exitTtlMs ago. Marks it recently used. */
  get(pid: number, now: number): CachedProcess | undefined {
    const e = this.entries.get(pid);
    if (!e) return undefined;
    this.entries.delete(pid);
    if (this.expired(e, now)) return undefined;
    this.entries.set(pid, e);
    return e;
  }

  /** Stores (replaces) the entry for pid, evicting the least recently used beyond maxEntries. */
  set(pid: number, entry: CachedProcess): void {
    this.entries.delete(pid);
    this.entries.set(pid, entry);
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
  }

  markExited(pid: number, now: number): void {
    const e = this.entries.get(pid);
    if (e && e.exitedAt === undefined) e.exitedAt = now;
  }

  /** Drops exited entries past their TTL; returns how many. */
  sweep(now: number): number {
    let dropped = 0;
    for (const [pid, e] of this.entries) {
      if (this.expired(e, now)) {
        this.entries.delete(pid);
        dropped += 1;
      }
    }
    return dropped;
  }
}
