/**
 * procfs I/O: reads /proc/net tables per network namespace and attributes candidate sockets to
 * processes through /proc/<pid>/fd. Parsing lives in parse.ts; this file only reads and stitches.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ConnectionEvent, Endpoint, ProcessInfo, Snapshot } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import {
  parseBootTime, parseCmdline, parseExeLink, parsePasswd, parseProcNet, parseProcStat, parseStatusUid, type ProcNetRow, socketInode,
} from './parse';

export interface ProcfsDeps {
  readFile(p: string): Promise<Buffer>;
  readdir(p: string): Promise<string[]>;
  readlink(p: string): Promise<string>;
  /**
   * The fd walk reads one link per open file of every process (tens of thousands on a busy host):
   * synchronous calls, where given, cost a fraction of a promise each and are used for it.
   */
  readdirSync?(p: string): string[];
  readlinkSync?(p: string): string;
  /**
   * The socket inodes held through the descriptors in a /proc/<pid>/fd folder, in one call (the
   * native walk, fd-walk.ts); throws with an fs-style code when the folder cannot be listed. Where
   * absent, the walk uses the readdir and readlink calls above.
   */
  socketInodes?(fdDir: string): number[];
  now(): Date;
}

/** fs's callback calls as promises: fs/promises costs a scan's start-up several milliseconds to load. */
function promised<T>(call: (p: string, done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): (p: string) => Promise<T> {
  return (p) => new Promise((resolve, reject) => call(p, (err, value) => (err ? reject(err) : resolve(value))));
}

export const realProcfsDeps: ProcfsDeps = {
  readFile: promised<Buffer>((p, done) => fs.readFile(p, done)),
  readdir: promised<string[]>((p, done) => fs.readdir(p, done)),
  readlink: promised<string>((p, done) => fs.readlink(p, done)),
  readdirSync: (p) => fs.readdirSync(p),
  readlinkSync: (p) => fs.readlinkSync(p),
  now: () => new Date(),
};

/** realProcfsDeps with the native fd walk where koffi loads (it is already loaded for netlink on Linux). */
export function realProcfsDepsWithNativeWalk(): ProcfsDeps {
  const walk = require('./fd-walk') as typeof import('./fd-walk');
  return walk.nativeFdWalkAvailable() ? { ...realProcfsDeps, socketInodes: walk.socketInodesIn } : realProcfsDeps;
}

export interface ProcfsOptions {
  procRoot: string;
  /** Folder holding passwd, for user names (default /etc; a fixture tree in tests). */
  etcRoot?: string;
  /** Is this remote endpoint worth attributing to a process? (the analyzer's pre-filter) */
  isCandidate(ip: string, port: number): boolean;
  /**
   * Pub/sub ports. An outbound socket to one that is not a candidate (internal, loopback) is
   * reported without its process and without an fd walk, so the analyzer can count it as ignored.
   */
  isPubSubPort?(port: number): boolean;
  /** Destination ports worth decoding at all (the analyzer's isWatchedPort); without it every row is decoded. */
  isWatchedPort?(port: number): boolean;
  /** Clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
  clockTicks?: number;
  /**
   * Connections another source already reported (by connectionKey), e.g. eBPF before it stopped:
   * the poller treats them as seen - not reported again, no fd walk.
   */
  reported?(key: string): boolean;
  /**
   * The destination ports isWatchedPort accepts, as a list: the in-kernel filter of the netlink
   * reader. Without it netlink dumps every socket and isWatchedPort filters here.
   */
  watchedPorts?: readonly number[];
  /**
   * Socket tables through netlink sock_diag (platform/linux/netlink) instead of /proc/net text:
   * by default when procRoot is /proc (a fixture tree or another host's /proc is text only).
   * false: text only. A namespace netlink cannot read is read as text, with one warning.
   */
  diag?: DiagReader | false;
}

/** Reads one namespace's socket tables: null = the agent's own namespace. Throws when it cannot. */
export type DiagReader = (ns: { path: string; inode: number } | null, ports: readonly number[] | undefined) => NsTables;

export interface NsTables {
  rows: ProcNetRow[];
  listening: Set<number>;
  total: number;
  problems: string[];
}

/** The namespace id (inode) in a /proc/<pid>/ns/net link text, "net:[4026531840]". */
export function nsInode(link: string): number | null {
  const m = /^net:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}

const TABLES: { file: string; transport: 'tcp' | 'udp'; family: 4 | 6 }[] = [
  { file: 'tcp', transport: 'tcp', family: 4 },
  { file: 'tcp6', transport: 'tcp', family: 6 },
  { file: 'udp', transport: 'udp', family: 4 },
  { file: 'udp6', transport: 'udp', family: 6 },
];

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
}

/**
 * Identity of one connection for "report once per lifetime": its namespace and 4-tuple. Not the
 * inode: when the owner closes the socket the kernel keeps the same 4-tuple in TIME_WAIT with
 * inode 0, and that is the same connection, not a new one.
 */
export function connectionKey(netns: string | undefined, transport: string, local: Endpoint, remote: Endpoint): string {
  return [netns, transport, local.ip, local.port, remote.ip, remote.port].join('|');
}

/** What to do about EACCES: as root it is a ptrace restriction (container, security module), not a missing sudo. */
function permissionHint(): string {
  return process.getuid?.() === 0
    ? 'denied even to root (a container or security module restricts ptrace access)'
    : 'run as root to see every process';
}

/** ENOENT/ESRCH mean the process exited while we read it: a race, not an error. */
function vanished(err: unknown): boolean {
  const c = errCode(err);
  return c === 'ENOENT' || c === 'ESRCH';
}

interface NsRows {
  netns: string;
  rows: ProcNetRow[];
  /** Every socket line read, decoded or not. */
  total: number;
  listening: Set<number>;
}

/** Outbound socket shapes: a connected TCP socket that is not listening, or a connected UDP socket. */
function isOutboundShape(row: ProcNetRow, listening: Set<number>): boolean {
  if (row.remote.port === 0) return false;
  if (row.transport === 'tcp' && (row.state === 'LISTEN' || row.state === 'CLOSE')) return false;
  if (row.transport === 'udp' && row.state !== 'ESTABLISHED') return false;
  // A socket whose local port is a listening port of its namespace was accepted: inbound.
  return !listening.has(row.local.port);
}

export class ProcfsReader {
  private users: Map<number, string> | null = null;
  private bootTime: number | null | undefined;

  constructor(private readonly opts: ProcfsOptions, private readonly deps: ProcfsDeps = realProcfsDeps) {}

  private p(...parts: string[]): string {
    return path.join(this.opts.procRoot, ...parts);
  }

  private async listPids(): Promise<number[]> {
    const names = await this.deps.readdir(this.opts.procRoot);
    return names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  /** One representative pid per network namespace, as osquery does. */
  private async namespaces(pids: number[], warn: WarningCollector): Promise<Map<string, number[]>> {
    const byNs = new Map<string, number[]>();
    const add = (pid: number, ns: string) => {
      const list = byNs.get(ns);
      if (list) list.push(pid); else byNs.set(ns, [pid]);
    };
    const refused = (err: unknown) => {
      if (errCode(err) === 'EACCES' || errCode(err) === 'EPERM') warn.add('proc-eacces', `cannot read the network namespace of some processes (EACCES: ${permissionHint()}); their namespaces' sockets may be missing`);
    };
    // Every poll reads one link per process: synchronous where possible (a promise each cost the idle daemon more than the reads).
    const readlinkSync = this.deps.readlinkSync;
    if (readlinkSync) {
      for (const pid of pids) {
        try {
          add(pid, readlinkSync(this.p(String(pid), 'ns', 'net')));
        } catch (err) {
          refused(err);
        }
      }
      return byNs;
    }
    await Promise.all(pids.map(async (pid) => {
      try {
        add(pid, await this.deps.readlink(this.p(String(pid), 'ns', 'net')));
      } catch (err) {
        refused(err);
      }
    }));
    return byNs;
  }

  private async readTables(dir: string, netns: string, warn: WarningCollector): Promise<NsRows | null> {
    const rows: ProcNetRow[] = [];
    const listening = new Set<number>();
    let total = 0;
    let readAny = false;
    for (const t of TABLES) {
      let text: string;
      try {
        text = (await this.deps.readFile(path.join(dir, t.file))).toString('utf8');
      } catch (err) {
        if (vanished(err) && t.family === 6) continue; // IPv6 disabled: no tcp6/udp6
        if (vanished(err) && dir !== this.p('net')) return readAny ? { netns, rows, total, listening } : null; // pid gone: try another
        warn.add('procnet-unreadable', `cannot read ${path.join(dir, t.file)}: ${errCode(err)}`);
        continue;
      }
      readAny = true;
      const parsed = parseProcNet(text, t.transport, t.family, true, this.opts.isWatchedPort);
      rows.push(...parsed.rows);
      total += parsed.total;
      for (const port of parsed.listeningPorts) listening.add(port);
      for (const problem of parsed.problems) warn.add('parse-malformed-line', `${t.file} (${netns}): ${problem}`);
    }
    return readAny ? { netns, rows, total, listening } : null;
  }

  /** The netlink reader, or null when this reader reads text only (see ProcfsOptions.diag). */
  private diagReader(): DiagReader | null {
    if (this.opts.diag === false) return null;
    if (this.opts.diag) return this.opts.diag;
    if (this.opts.procRoot !== '/proc' || process.platform !== 'linux') return null;
    return (ns, ports) => (require('../netlink/read') as typeof import('../netlink/read')).readNamespaceTables(ns, ports);
  }

  /** One namespace through netlink; null (and one warning) when netlink cannot read it. */
  private readDiag(diag: DiagReader, netns: string, own: boolean, members: number[], warn: WarningCollector): NsRows | null {
    const inode = nsInode(netns);
    if (inode === null) return null;
    let lastError = '';
    for (const pid of own ? [0] : members) {
      try {
        const t = diag(own ? null : { path: this.p(String(pid), 'ns', 'net'), inode }, this.opts.watchedPorts);
        for (const problem of t.problems) warn.add('parse-malformed-netlink', `sock_diag (${netns}): ${problem}`);
        return { netns, rows: t.rows, total: t.total, listening: t.listening };
      } catch (err) {
        if ((err as Error).name === 'NetlinkFatalError') throw err;
        lastError = (err as Error).message;
      }
    }
    warn.add('netlink-unavailable', `netlink sock_diag could not read some network namespaces (${lastError}); read from /proc/net text instead`);
    return null;
  }

  /** Reads every namespace's tables; a namespace whose representative exited is read through another of its pids. */
  private async readAllTables(pids: number[], warn: WarningCollector): Promise<NsRows[]> {
    const byNs = await this.namespaces(pids, warn);
    const diag = this.diagReader();
    let self: string | null = null;
    if (diag) self = await this.deps.readlink('/proc/thread-self/ns/net').catch(() => null);
    if (byNs.size === 0) {
      const own = diag && self ? this.readDiag(diag, self, true, [], warn) : null;
      if (own) return [own];
      const text = await this.readTables(this.p('net'), 'net:[self]', warn);
      return text ? [text] : [];
    }
    const out: NsRows[] = [];
    for (const [netns, members] of byNs) {
      const viaNetlink = diag ? this.readDiag(diag, netns, netns === self, members, warn) : null;
      if (viaNetlink) {
        out.push(viaNetlink);
        continue;
      }
      for (const pid of members) {
        const got = await this.readTables(this.p(String(pid), 'net'), netns, warn);
        if (got) { out.push(got); break; }
      }
    }
    return out;
  }

  /** A link of a file that closed meanwhile reads as nothing (the walk goes on). */
  private readlinkOrEmpty(p: string): string {
    try {
      return (this.deps.readlinkSync as (p: string) => string)(p);
    } catch {
      return '';
    }
  }

  /** The socket inodes held through the descriptors in fdDir; throws (with an fs code) when it cannot be listed. */
  private async socketInodesIn(fdDir: string): Promise<number[]> {
    if (this.deps.socketInodes) return this.deps.socketInodes(fdDir);
    const fds = this.deps.readdirSync ? this.deps.readdirSync(fdDir) : await this.deps.readdir(fdDir);
    // Plain concatenation: fd names are digits from the kernel, and path.join per link showed in profiles.
    const prefix = `${fdDir}/`;
    const links = this.deps.readlinkSync ? fds.map((fd) => this.readlinkOrEmpty(prefix + fd)) : await Promise.all(fds.map((fd) => this.deps.readlink(prefix + fd).catch(() => '')));
    const inodes: number[] = [];
    for (const link of links) {
      const inode = socketInode(link);
      if (inode !== null) inodes.push(inode);
    }
    return inodes;
  }

  /** inode -> pids holding it, walking /proc/<pid>/fd. Only called when there are candidates. */
  private async ownersOf(inodes: Set<number>, pids: number[], warn: WarningCollector, stats: Record<string, number>): Promise<Map<number, number[]>> {
    const owners = new Map<number, number[]>();
    // Every process is walked, also after each candidate has one holder: a socket shared after a
    // fork must list every holder, or an approved child could launder its parent's connection.
    for (const pid of pids) {
      let held: number[];
      try {
        held = await this.socketInodesIn(this.p(String(pid), 'fd'));
      } catch (err) {
        if (errCode(err) === 'EACCES' || errCode(err) === 'EPERM') warn.add('proc-eacces', `cannot list /proc/<pid>/fd of some processes (EACCES: ${permissionHint()}); sockets they hold stay unattributed`);
        continue; // vanished: nothing to attribute
      }
      stats.fdWalks = (stats.fdWalks ?? 0) + 1;
      for (const inode of held) {
        if (!inodes.has(inode)) continue;
        const list = owners.get(inode);
        if (list) { if (!list.includes(pid)) list.push(pid); } else owners.set(inode, [pid]);
      }
    }
    return owners;
  }

  private async userName(uid: number): Promise<string | undefined> {
    if (this.users === null) {
      try {
        this.users = parsePasswd((await this.deps.readFile(path.join(this.opts.etcRoot ?? '/etc', 'passwd'))).toString('utf8'));
      } catch {
        this.users = new Map();
      }
    }
    return this.users.get(uid);
  }

  private async bootSeconds(): Promise<number | null> {
    if (this.bootTime === undefined) {
      try {
        this.bootTime = parseBootTime((await this.deps.readFile(this.p('stat'))).toString('utf8'));
      } catch {
        this.bootTime = null;
      }
    }
    return this.bootTime;
  }

  private async readExe(pid: number): Promise<{ exe: string; deleted: boolean } | null> {
    try {
      return parseExeLink(await this.deps.readlink(this.p(String(pid), 'exe')));
    } catch {
      return null; // kernel thread, exited, or not permitted: the caller reports what is missing
    }
  }

  /** Process details; null when the process exited before its stat could be read. */
  async readProcess(pid: number, warn: WarningCollector): Promise<(ProcessInfo & { startTicks: number }) | null> {
    let statText: string;
    try {
      statText = (await this.deps.readFile(this.p(String(pid), 'stat'))).toString('utf8');
    } catch (err) {
      if (!vanished(err)) warn.add('proc-unreadable', `cannot read /proc/<pid>/stat: ${errCode(err)}`);
      return null;
    }
    const stat = parseProcStat(statText);
    if (!stat) {
      warn.add('parse-malformed-stat', `unparseable /proc/${pid}/stat`);
      return null;
    }
    const info: ProcessInfo & { startTicks: number } = { pid, ppid: stat.ppid, name: stat.comm, startTicks: stat.startTicks };
    const exe = await this.readExe(pid);
    if (exe) {
      info.exe = exe.exe;
      if (exe.deleted) info.exeDeleted = true;
    } else {
      warn.add('proc-exe-unreadable', 'the executable path of some socket owners could not be read (exited, or not root)');
    }
    try {
      const argv = parseCmdline(await this.deps.readFile(this.p(String(pid), 'cmdline')));
      info.argv = argv;
      info.cmdline = argv.join(' ');
    } catch { /* exited mid-read: keep what we have */ }
    try {
      const uid = parseStatusUid((await this.deps.readFile(this.p(String(pid), 'status'))).toString('utf8'));
      if (uid !== null) {
        info.uid = uid;
        const user = await this.userName(uid);
        if (user !== undefined) info.user = user;
      }
    } catch { /* exited mid-read */ }
    const boot = await this.bootSeconds();
    if (boot !== null) info.startTime = new Date((boot + stat.startTicks / (this.opts.clockTicks ?? 100)) * 1000).toISOString();
    if (stat.ppid > 0) {
      const parent = await this.readExe(stat.ppid);
      if (parent) info.parentExe = parent.exe;
      try {
        const pstat = parseProcStat((await this.deps.readFile(this.p(String(stat.ppid), 'stat'))).toString('utf8'));
        if (pstat) info.parentName = pstat.comm;
      } catch { /* parent exited */ }
    }
    return info;
  }

  /**
   * One pass over the host: every namespace's socket tables, then - only when some socket is a
   * candidate - the fd walk that finds its owner. An idle host pays for /proc/net only.
   * `known(key)` (the poller's memory of connections it already reported) spares the fd walk for
   * those: they are returned without their process.
   */
  async snapshot(known?: (key: string) => boolean): Promise<Snapshot> {
    const warn = new WarningCollector();
    const stats: Record<string, number> = { namespaces: 0, sockets: 0, candidates: 0, fdWalks: 0, processesRead: 0, unattributed: 0 };
    const time = this.deps.now().toISOString();
    const pids = await this.listPids();
    const tables = await this.readAllTables(pids, warn);
    stats.namespaces = tables.length;

    const candidateRows: { netns: string; row: ProcNetRow }[] = [];
    const ignoredRows: { netns: string; row: ProcNetRow }[] = [];
    for (const { netns, rows, total, listening } of tables) {
      stats.sockets = (stats.sockets as number) + total;
      for (const row of rows) {
        if (!isOutboundShape(row, listening)) continue;
        if (this.opts.isCandidate(row.remote.ip, row.remote.port)) candidateRows.push({ netns, row });
        else if (this.opts.isPubSubPort?.(row.remote.port)) ignoredRows.push({ netns, row });
      }
    }
    stats.candidates = candidateRows.length;

    const isKnown = (c: { netns: string; row: ProcNetRow }) => known?.(connectionKey(c.netns, c.row.transport, c.row.local, c.row.remote)) ?? false;
    const inodes = new Set(candidateRows.filter((c) => !isKnown(c)).map((c) => c.row.inode).filter((i) => i !== 0));
    const owners = inodes.size > 0 ? await this.ownersOf(inodes, pids, warn, stats) : new Map<number, number[]>();
    const procCache = new Map<number, Promise<(ProcessInfo & { startTicks: number }) | null>>();
    const proc = (pid: number) => {
      let p = procCache.get(pid);
      if (!p) { p = this.readProcess(pid, warn); procCache.set(pid, p); }
      return p;
    };

    const candidates: ConnectionEvent[] = [];
    for (const { netns, row } of candidateRows) {
      const event: ConnectionEvent = {
        time, adapter: 'procfs', transport: row.transport, family: row.family, state: row.state,
        source: row.local, destination: row.remote, inode: row.inode, uid: row.uid, netns,
      };
      if (isKnown({ netns, row })) {
        stats.known = (stats.known ?? 0) + 1;
        candidates.push(event);
        continue;
      }
      const holders = owners.get(row.inode) ?? [];
      // A socket inherited across fork (or passed over a unix socket) is held by several processes.
      // Any of them may use it, so all are reported; the oldest - the one that most likely opened
      // it - is the event's process, and the analyzer approves the socket only if it approves all.
      const infos = (await Promise.all(holders.map(proc))).filter((i): i is ProcessInfo & { startTicks: number } => i !== null);
      infos.sort((a, b) => a.startTicks - b.startTicks || a.pid - b.pid);
      const all = infos.map(({ startTicks: _ticks, ...info }) => info);
      if (all[0]) {
        event.process = all[0];
        if (all.length > 1) {
          event.holders = all;
          stats.sharedSockets = (stats.sharedSockets ?? 0) + 1;
        }
      } else {
        stats.unattributed = (stats.unattributed as number) + 1;
        if (row.inode !== 0) {
          warn.add('socket-unowned', holders.length > 0
            ? 'a socket owner exited while it was being read; the connection is reported without its process'
            : 'no readable process holds a candidate socket (it closed mid-scan, or /proc/<pid>/fd was not readable)');
        }
      }
      candidates.push(event);
    }
    // Not worth an owner lookup, but the analyzer counts them (ignoredInternal, ignoredLoopback).
    for (const { netns, row } of ignoredRows) {
      candidates.push({
        time, adapter: 'procfs', transport: row.transport, family: row.family, state: row.state,
        source: row.local, destination: row.remote, inode: row.inode, uid: row.uid, netns,
      });
    }
    stats.processesRead = procCache.size;
    return { connections: candidates, warnings: warn.list(), stats };
  }
}
