/**
 * lsof I/O: runs `lsof -F` once per snapshot, then `ps` for the owners of candidate sockets only.
 * Parsing lives in parse.ts; this file runs the tools (execFile, argument arrays, absolute paths,
 * never a shell) and stitches the results into ConnectionEvents.
 */
import type { ConnectionEvent, ProcessInfo, Snapshot } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import { lsofSockets, type LsofProcess, type LsofSocket, parseLsofFields } from './parse';
import { parsePsOutput, type PsRow } from './ps';
import { type ExecResult, type ProcessFacts, runTool } from './tools';

export { type ExecResult, LSOF_PATHS, locateTool, type ProcessFacts, procfsProcessFacts, PS_PATHS, runTool } from './tools';

/**
 * The lsof invocation. -n -P: numbers, no DNS or service lookups. -w: lsof's own warnings (about
 * file systems it cannot stat) say nothing about sockets; errors still reach stderr. -iTCP -iUDP:
 * Internet sockets of these two protocols only. -F fields, NUL-terminated (0): p pid, c command,
 * R ppid, u uid, L login name (ps truncates long user names, lsof does not), f fd (lsof >= 4.94
 * prints it only when asked), t type, d device (socket identity: inode on Linux, control block
 * address on macOS), P protocol, n addresses, T TCP state.
 */
export const LSOF_ARGS: readonly string[] = ['-n', '-P', '-w', '-iTCP', '-iUDP', '-FpcRuLftdPnT0'];

/** ps -p takes a list; long lists are split so no argument list gets near the system's limit. */
const PS_BATCH = 256;

export interface LsofDeps {
  /** Runs a program without a shell; resolves with its exit code (non-zero is not an error), rejects when it cannot run or times out. */
  run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ExecResult>;
  now(): Date;
  /** Is the agent root? (lsof and ps see only this user's processes otherwise.) */
  isRoot(): boolean;
  /** Optional kernel supplement: Linux reads /proc/<pid>, macOS asks libproc. Without it, ps alone. */
  processFacts?(pid: number): Promise<ProcessFacts | null>;
}

export interface LsofOptions {
  /** Absolute paths of the tools (see locateTool). */
  lsofPath: string;
  psPath: string;
  /** Is this remote endpoint worth attributing to a process? (the analyzer's pre-filter) */
  isCandidate(ip: string, port: number): boolean;
  /** Pub/sub ports: non-candidate sockets to them are reported without their process, for the analyzer's counts. */
  isPubSubPort?(port: number): boolean;
  /** Locale for ps, so non-ASCII arguments come out as UTF-8 (default C.UTF-8; macOS: en_US.UTF-8). */
  psLocale?: string;
  timeoutMs?: number;
}

export function realLsofDeps(processFacts?: (pid: number) => Promise<ProcessFacts | null>, timeoutMs?: number): LsofDeps {
  const deps: LsofDeps = {
    run: (file, args, env) => runTool(file, args, env, timeoutMs),
    now: () => new Date(),
    isRoot: () => process.getuid?.() === 0,
  };
  if (processFacts) deps.processFacts = processFacts;
  return deps;
}

/** A socket's identity across the processes that share it (fork inheritance, fd passing). */
function shareKey(s: LsofSocket): string {
  return [s.device ?? `${s.pid}/${s.fd}`, s.transport, s.local.ip, s.local.port, s.remote.ip, s.remote.port].join('|');
}

/** Outbound shapes: connected and not listening; a socket on a listening port was accepted (inbound). */
function isOutboundShape(s: LsofSocket, listening: ReadonlySet<number>): boolean {
  if (s.remote.port === 0) return false;
  if (s.transport === 'tcp' && (s.state === 'LISTEN' || s.state === 'CLOSE')) return false;
  if (s.transport === 'udp' && s.state !== 'ESTABLISHED') return false;
  return !listening.has(s.local.port);
}

/**
 * Among processes sharing one socket, the one most likely using it: a child that inherited it
 * rather than its parent, then the higher pid. It is the event's process; every holder is listed
 * in `holders` too, and the analyzer approves the socket only if it approves all of them (a
 * finding names the first holder, by pid, that it does not approve).
 */
export function pickHolder(holders: readonly LsofSocket[], procs: ReadonlyMap<number, LsofProcess>): LsofSocket {
  const isParentOfAnother = (pid: number) => holders.some((h) => h.pid !== pid && procs.get(h.pid)?.ppid === pid);
  const leaves = holders.filter((h) => !isParentOfAnother(h.pid));
  const pool = leaves.length > 0 ? leaves : [...holders];
  return pool.reduce((best, h) => (h.pid > best.pid ? h : best));
}

export class LsofReader {
  constructor(private readonly opts: LsofOptions, private readonly deps: LsofDeps) {}

  private async runLsof(warn: WarningCollector): Promise<Buffer> {
    const r = await this.deps.run(this.opts.lsofPath, LSOF_ARGS, { ...process.env, LC_ALL: 'C' });
    const stderr = r.stderr.trim();
    // Exit 1 with nothing on either stream is lsof's "no matching files": an empty table.
    if (r.code === 0 || (r.code === 1 && stderr === '')) return r.stdout;
    const first = stderr.split('\n')[0] ?? '';
    if (r.stdout.length === 0) throw new Error(`lsof failed (exit ${r.code}): ${first || 'no output'}`);
    warn.add('lsof-partial', `lsof exited ${r.code} after printing some sockets; results may be incomplete: ${first}`);
    return r.stdout;
  }

  /** ps for the given pids, in batches; rows by pid. Pids that ps did not print have exited. */
  private async runPs(pids: number[], warn: WarningCollector): Promise<Map<number, PsRow>> {
    const rows = new Map<number, PsRow>();
    const env = { ...process.env, LC_ALL: this.opts.psLocale ?? 'C.UTF-8' };
    for (let i = 0; i < pids.length; i += PS_BATCH) {
      const batch = pids.slice(i, i + PS_BATCH);
      const r = await this.deps.run(this.opts.psPath, ['-ww', '-o', 'pid=,ppid=,args=', '-p', batch.join(',')], env);
      // ps exits 1 when none of the pids exists any more: that is not an error.
      if (r.code !== 0 && !(r.code === 1 && r.stderr.trim() === '')) {
        warn.add('ps-failed', `ps failed (exit ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}; command lines are missing`);
        continue;
      }
      const parsed = parsePsOutput(r.stdout.toString('utf8'), new Set(batch));
      for (const [pid, row] of parsed.rows) rows.set(pid, row);
      if (parsed.ambiguous.length > 0) {
        warn.add('ps-ambiguous', `ps printed more than one line for pid(s) ${parsed.ambiguous.join(', ')} (a command line imitates ps output); their command lines are left out`);
      }
      for (const p of parsed.problems) warn.add('parse-malformed-line', `ps: ${p}`);
    }
    return rows;
  }

  private async facts(pid: number): Promise<ProcessFacts | null> {
    if (!this.deps.processFacts) return null;
    try {
      return await this.deps.processFacts(pid);
    } catch {
      return null;
    }
  }

  /** Process details from lsof's process set, ps's command line and the kernel supplement. */
  private async describe(p: LsofProcess, ps: PsRow | undefined, warn: WarningCollector): Promise<ProcessInfo> {
    const info: ProcessInfo = { pid: p.pid };
    if (p.ppid !== undefined) info.ppid = p.ppid;
    if (p.command !== undefined) info.name = p.command;
    if (p.uid !== undefined) info.uid = p.uid;
    if (p.login !== undefined && p.login !== '') info.user = p.login;
    const facts = await this.facts(p.pid);
    if (facts?.exe !== undefined) {
      info.exe = facts.exe;
      if (facts.exeDeleted) info.exeDeleted = true;
    } else if (this.deps.processFacts) {
      warn.add('proc-exe-unreadable', 'the executable path of some socket owners could not be read (exited, or not root)');
    }
    if (ps && p.ppid !== undefined && ps.ppid !== p.ppid) {
      // The pid now names another process (it exited and the pid was reused), or it was re-parented.
      warn.add('pid-reused', 'a socket owner changed (parent pid differs between lsof and ps); its command line is left out');
      ps = undefined;
    }
    if (facts?.argv && facts.argv.length > 0) {
      info.argv = facts.argv;
      info.cmdline = facts.argv.join(' ');
    } else if (ps) {
      info.cmdline = ps.args; // ps joins argv with spaces: the words cannot be told apart again
    } else {
      warn.add('proc-vanished', 'some socket owners exited before their command line could be read');
    }
    if (p.ppid !== undefined && p.ppid > 0) {
      const parent = await this.facts(p.ppid);
      if (parent?.exe !== undefined) info.parentExe = parent.exe;
    }
    return info;
  }

  /**
   * One pass: lsof over every TCP/UDP socket, then - only when some socket is a candidate - ps for
   * the owners of the candidates. An idle host pays for one lsof run.
   */
  async snapshot(): Promise<Snapshot> {
    const warn = new WarningCollector();
    const stats: Record<string, number> = { processes: 0, sockets: 0, undecodedSockets: 0, candidates: 0, processesRead: 0, unattributed: 0 };
    const time = this.deps.now().toISOString();
    if (!this.deps.isRoot()) warn.add('not-root', 'not running as root: lsof and ps see only this user\'s processes, so other users\' connections are missing');

    const parsed = parseLsofFields(await this.runLsof(warn));
    for (const p of parsed.problems) warn.add('parse-malformed-line', `lsof: ${p}`);
    const procs = new Map(parsed.rows.map((p) => [p.pid, p]));
    const sockets = lsofSockets(parsed.rows);
    for (const p of sockets.problems) warn.add('parse-malformed-line', `lsof: ${p}`);
    stats.processes = parsed.rows.length;
    stats.sockets = sockets.rows.length;
    stats.undecodedSockets = parsed.rows.reduce((n, p) => n + p.files.filter((f) => f.type === 'sock').length, 0);
    if (stats.undecodedSockets > 0) {
      warn.add('lsof-undecoded-sockets', 'lsof could not decode some sockets (on Linux: sockets in other network namespaces, such as containers); the procfs adapter reads those');
    }

    const listening = new Set(sockets.rows.filter((s) => s.transport === 'tcp' && s.state === 'LISTEN').map((s) => s.local.port));
    const candidates = new Map<string, LsofSocket[]>();
    const ignored = new Map<string, LsofSocket>();
    for (const s of sockets.rows) {
      if (!isOutboundShape(s, listening)) continue;
      const key = shareKey(s);
      if (this.opts.isCandidate(s.remote.ip, s.remote.port)) {
        const list = candidates.get(key);
        if (list) list.push(s); else candidates.set(key, [s]);
      } else if (this.opts.isPubSubPort?.(s.remote.port)) {
        ignored.set(key, s);
      }
    }
    stats.candidates = candidates.size;

    const groups = [...candidates.values()];
    const chosen = groups.map((holders) => pickHolder(holders, procs));
    // Every holder of a shared socket is described: the analyzer approves it only if it approves all.
    const ownerPids = [...new Set(groups.flat().map((s) => s.pid))].sort((a, b) => a - b);
    if (ownerPids.length > 0 && !this.deps.processFacts) {
      warn.add('exe-unknown', 'no kernel source for executable paths here (ps shows only argv[0], which a process chooses): exe is left out, so appContextFilter approves nothing');
    }
    const psRows = ownerPids.length > 0 ? await this.runPs(ownerPids, warn) : new Map<number, PsRow>();
    const infos = new Map<number, ProcessInfo>();
    for (const pid of ownerPids) infos.set(pid, await this.describe(procs.get(pid) as LsofProcess, psRows.get(pid), warn));
    stats.processesRead = infos.size;

    const toEvent = (s: LsofSocket): ConnectionEvent => {
      const e: ConnectionEvent = { time, adapter: 'lsof', transport: s.transport, family: s.family, state: s.state, source: s.local, destination: s.remote };
      if (s.device !== undefined && /^\d+$/.test(s.device)) e.inode = Number(s.device); // Linux: the socket inode
      return e;
    };
    const events: ConnectionEvent[] = chosen.map((s, i) => {
      const e: ConnectionEvent = { ...toEvent(s), process: infos.get(s.pid) as ProcessInfo };
      const pids = [...new Set((groups[i] as LsofSocket[]).map((h) => h.pid))].sort((a, b) => a - b);
      if (pids.length > 1) e.holders = pids.map((pid) => infos.get(pid) as ProcessInfo);
      return e;
    });
    // Not worth an owner lookup, but the analyzer counts them (ignoredInternal, ignoredLoopback).
    for (const s of ignored.values()) events.push(toEvent(s));
    return { connections: events, warnings: warn.list(), stats };
  }
}
