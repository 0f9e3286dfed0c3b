/**
 * Who made a connect: built from what connect.bt read in the connect itself (tgid, start time,
 * comm, uid, the executable's device/inode/path names, argv), so a later exec, a reused pid or an
 * inheriting child cannot take the blame. /proc only confirms and completes: the path of that very
 * file (same device and inode), a command line the kernel record cut, the parent. Every field read
 * from /proc without a kernel fact behind it is named in `readLater`.
 */
import path from 'node:path';
import type { ProcessInfo } from '../../../src/core/types';
import type { WarningCollector } from '../../../src/core/warnings';
import { parseBootTime, parseCmdline, parseExeLink, parsePasswd, parseProcStat } from '../procfs/parse';
import { candidatePaths, fsPath, type MountEntry, parseMountinfo, sameFile } from './identity';
import type { ConnectRecord } from './parse';

/**
 * How the process of an event was known:
 * - connect: its executable and argv are the ones the kernel saw at the connect;
 * - later: some of them could only be read from /proc afterwards (the kernel record lacked them).
 */
export type Attribution = 'connect' | 'later';

/** The process as emitted: ProcessInfo plus how it was known. */
export type EbpfProcessInfo = ProcessInfo & {
  attribution: Attribution;
  /** Fields read from /proc after the connect rather than taken at it (e.g. "argv", "parentExe"). */
  readLater?: string[];
};

/** The P and A lines that came before a C line. */
export interface ConnectParts {
  names: string[];
  /** A path name may have been shortened at BPFTRACE_STRLEN. */
  namesCut: boolean;
  /** The A and B lines' raw words, until the C line. */
  argvWords?: { length: number; tail: string; words: string[] };
  /** argv decoded from them. */
  argv?: { argv: string[]; truncated: boolean };
}

export interface AttributeDeps {
  readFile(p: string): Promise<Buffer>;
  readlink(p: string): Promise<string>;
  /** stat() following links: device and inode of the target. */
  stat(p: string): Promise<{ dev: number; ino: number }>;
  now(): number;
}

export interface AttributeOptions {
  procRoot: string;
  etcRoot?: string;
  /** Connects resolved at once at most; beyond it a connect is reported from kernel facts only (load shedding). */
  maxConcurrent?: number;
}

const HOST_MOUNTS_TTL_MS = 10_000;

export class ConnectAttributor {
  readonly counts = { atConnect: 0, later: 0, exeUnverified: 0, cmdlineCompleted: 0, argvTruncated: 0, processGone: 0, shed: 0 };
  private inflight = 0;
  private users: Promise<Map<number, string>> | null = null;
  private boot: Promise<number | null> | null = null;
  private hostMounts: { at: number; list: Promise<MountEntry[]> } | null = null;

  constructor(private readonly deps: AttributeDeps, private readonly warn: WarningCollector, private readonly opts: AttributeOptions) {}

  private p(...parts: string[]): string {
    return path.join(this.opts.procRoot, ...parts);
  }

  private async text(p: string): Promise<string | null> {
    return this.deps.readFile(p).then((b) => b.toString('utf8'), () => null);
  }

  private userName(uid: number): Promise<string | undefined> {
    this.users ??= this.deps.readFile(path.join(this.opts.etcRoot ?? '/etc', 'passwd')).then((b) => parsePasswd(b.toString('utf8')), () => new Map<number, string>());
    return this.users.then((u) => u.get(uid));
  }

  private bootSeconds(): Promise<number | null> {
    this.boot ??= this.text(this.p('stat')).then((t) => (t === null ? null : parseBootTime(t)));
    return this.boot;
  }

  /** The host's mount table (through pid 1), re-read at most every 10 s. */
  private mountsOfHost(): Promise<MountEntry[]> {
    const now = this.deps.now();
    if (!this.hostMounts || now - this.hostMounts.at > HOST_MOUNTS_TTL_MS) {
      this.hostMounts = { at: now, list: this.text(this.p('1', 'mountinfo')).then((t) => (t === null ? [] : parseMountinfo(t))) };
    }
    return this.hostMounts.list;
  }

  private async isFile(p: string, rec: ConnectRecord): Promise<boolean> {
    return this.deps.stat(p).then((st) => sameFile(st, rec.exeDev, rec.exeIno), () => false);
  }

  /** Resolves a connect to its process. Never throws: what cannot be read is left out and said. */
  async resolve(rec: ConnectRecord, parts: ConnectParts): Promise<EbpfProcessInfo> {
    const shed = this.inflight >= (this.opts.maxConcurrent ?? 64);
    if (shed) {
      this.counts.shed += 1;
      this.warn.add('ebpf-shed', 'connects came faster than they could be resolved; some were reported from kernel facts only (no /proc reads: parent and full command line missing)');
    }
    this.inflight += 1;
    try {
      return await this.build(rec, parts, shed);
    } finally {
      this.inflight -= 1;
    }
  }

  private async build(rec: ConnectRecord, parts: ConnectParts, shed: boolean): Promise<EbpfProcessInfo> {
    const pid = String(rec.pid);
    const readLater: string[] = [];
    const info: ProcessInfo = { pid: rec.pid, ppid: rec.ppid, name: rec.comm, uid: rec.uid };
    const user = await this.userName(rec.uid);
    if (user !== undefined) info.user = user;
    const boot = await this.bootSeconds();
    if (boot !== null) info.startTime = new Date((boot + rec.startTicks / 100) * 1000).toISOString();

    // Is /proc/<pid> still the process that connected (same start time)?
    const stat = shed ? null : await this.text(this.p(pid, 'stat'));
    const alive = stat !== null && parseProcStat(stat)?.startTicks === rec.startTicks;
    if (!shed && !alive) this.counts.processGone += 1;

    // The executable: the file the kernel named (device + inode), found under a path.
    let exe: string | undefined;
    let sameImage = false;
    if (alive && rec.exeIno !== 0 && (await this.isFile(this.p(pid, 'exe'), rec))) {
      const link = await this.deps.readlink(this.p(pid, 'exe')).catch(() => null);
      if (link !== null) {
        exe = parseExeLink(link).exe;
        sameImage = true;
      }
    }
    const complete = rec.pathComplete && parts.names.length === rec.pathNames && parts.names.length > 0 && !parts.namesCut;
    if (exe === undefined && complete) {
      const mountinfo = alive ? await this.text(this.p(pid, 'mountinfo')) : null;
      const mounts = mountinfo !== null ? parseMountinfo(mountinfo) : await this.mountsOfHost();
      const candidates = candidatePaths(fsPath(parts.names), rec.exeDev, mounts);
      // Seen from the process's root while it lives; from ours too (same device and inode = the same file).
      for (const c of candidates) {
        const views = [...(alive ? [this.p(pid, 'root', c)] : []), ...(this.opts.procRoot === '/proc' ? [c] : [])];
        for (const view of views) if (exe === undefined && (await this.isFile(view, rec))) exe = c;
        if (exe !== undefined) break;
      }
      if (exe === undefined && candidates[0] !== undefined) {
        exe = candidates[0];
        info.exeUnverified = true;
        this.counts.exeUnverified += 1;
        this.warn.add('ebpf-exe-unverified', 'the executable path of a connecting process was rebuilt from kernel names but could not be confirmed (file gone or moved); such processes are never approved by appContextFilter');
      }
    }
    if (exe === undefined && alive && rec.exeIno !== 0 && !complete) {
      // The path lines were lost or cut: the /proc link, only if the image has not changed since.
      const link = await this.deps.readlink(this.p(pid, 'exe')).catch(() => null);
      if (link !== null && (await this.isFile(this.p(pid, 'exe'), rec))) {
        exe = parseExeLink(link).exe;
        sameImage = true;
      }
      if (exe === undefined && link !== null) {
        exe = parseExeLink(link).exe;
        readLater.push('exe');
      }
    }
    if (exe !== undefined) info.exe = exe;
    if (exe !== undefined && rec.exeNlink === 0) info.exeDeleted = true;

    // argv: the kernel's capture; cut ones are completed from /proc when it is still the same image.
    if (parts.argv) {
      info.argv = parts.argv.argv;
      if (parts.argv.truncated) {
        const full = sameImage ? await this.deps.readFile(this.p(pid, 'cmdline')).catch(() => null) : null;
        const argv = full === null ? null : parseCmdline(full);
        if (argv !== null && argv.join('\0').startsWith(parts.argv.argv.join('\0'))) {
          info.argv = argv;
          readLater.push('argv');
          this.counts.cmdlineCompleted += 1;
        } else {
          info.argvTruncated = true;
          this.counts.argvTruncated += 1;
        }
      }
    } else if (alive) {
      const full = await this.deps.readFile(this.p(pid, 'cmdline')).catch(() => null);
      if (full !== null) {
        info.argv = parseCmdline(full);
        readLater.push('argv');
      }
    }
    if (info.argv) info.cmdline = info.argv.join(' ');

    if (!shed && rec.ppid > 0) {
      const link = await this.deps.readlink(this.p(String(rec.ppid), 'exe')).catch(() => null);
      if (link !== null) { info.parentExe = parseExeLink(link).exe; readLater.push('parentExe'); }
      const pstat = await this.text(this.p(String(rec.ppid), 'stat'));
      const parent = pstat === null ? null : parseProcStat(pstat);
      if (parent) { info.parentName = parent.comm; readLater.push('parentName'); }
    }

    const later = readLater.includes('exe') || (readLater.includes('argv') && !parts.argv);
    this.counts[later ? 'later' : 'atConnect'] += 1;
    return { ...info, attribution: later ? 'later' : 'connect', ...(readLater.length > 0 ? { readLater } : {}) };
  }
}
