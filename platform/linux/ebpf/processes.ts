/**
 * Attribution for eBPF events: keeps the ProcessCache filled from /proc (through the procfs
 * adapter's readProcess) at exec time, and answers "who is pid N" for a connect line. I/O only
 * through the injected ProcfsReader and deps; the merge rules live in cache.ts.
 */
import path from 'node:path';
import type { WarningCollector } from '../../../src/core/warnings';
import { parsePasswd } from '../procfs/parse';
import type { ProcfsReader } from '../procfs/read';
import { type CachedProcess, type KernelFacts, mergeProcess, type ProcessCache } from './cache';
import type { ArgvRecord, ConnectRecord, ExecRecord } from './parse';

export interface AttributorDeps {
  readFile(p: string): Promise<Buffer>;
  realpath(p: string): Promise<string>;
  now(): number;
}

export interface AttributorOptions {
  /** Folder holding passwd, for user names of processes known only from the kernel. */
  etcRoot?: string;
  /** Exec-time /proc reads in flight at most; beyond it an exec is cached from kernel facts only. */
  maxConcurrentReads?: number;
  /** argv captures kept for pids (default 8192). */
  maxArgv?: number;
}

export class ProcessAttributor {
  private readonly reading = new Map<number, Promise<void>>();
  /** argv captured by the probe at exec, until the pid execs again (bounded, oldest dropped first). */
  private readonly kernelArgv = new Map<number, { argv: string[]; truncated: boolean }>();
  private users: Promise<Map<number, string>> | null = null;
  readonly counts = { execReads: 0, execReadsSkipped: 0, pidReuse: 0 };

  constructor(
    private readonly reader: ProcfsReader,
    private readonly cache: ProcessCache,
    private readonly deps: AttributorDeps,
    private readonly warn: WarningCollector,
    private readonly opts: AttributorOptions = {},
  ) {}

  private async userName(uid: number | undefined): Promise<string | undefined> {
    if (uid === undefined) return undefined;
    this.users ??= this.deps.readFile(path.join(this.opts.etcRoot ?? '/etc', 'passwd'))
      .then((b) => parsePasswd(b.toString('utf8')), () => new Map<number, string>());
    return (await this.users).get(uid);
  }

  /** The execve file name as an exe path: only when absolute and not cut by BPFTRACE_STRLEN. */
  private async execPath(rec: ExecRecord): Promise<string | undefined> {
    if (rec.truncated || !rec.filename.startsWith('/')) return undefined;
    return this.deps.realpath(rec.filename).catch(() => rec.filename);
  }

  /** A new program image for pid: replace its entry, then read /proc while the process still exists. */
  onExec(rec: ExecRecord): void {
    this.kernelArgv.delete(rec.pid); // its A line follows
    const raw = rec.truncated || !rec.filename.startsWith('/') ? undefined : rec.filename;
    this.cache.set(rec.pid, mergeProcess(null, { pid: rec.pid, ppid: rec.ppid, uid: rec.uid, exe: raw }));
    if (this.reading.size >= (this.opts.maxConcurrentReads ?? 64)) {
      this.counts.execReadsSkipped += 1;
      return;
    }
    this.counts.execReads += 1;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => { finished = resolve; });
    this.reading.set(rec.pid, done);
    (async () => {
      const [read, exe, user] = await Promise.all([this.reader.readProcess(rec.pid, this.warn), this.execPath(rec), this.userName(rec.uid)]);
      if (this.reading.get(rec.pid) !== done) return; // a newer exec of the same pid won
      const entry = mergeProcess(read, { pid: rec.pid, ppid: rec.ppid, uid: rec.uid, user, exe, ...this.argvFacts(rec.pid) });
      const current = this.cache.get(rec.pid, this.deps.now());
      if (current?.exitedAt !== undefined) entry.exitedAt = current.exitedAt;
      this.cache.set(rec.pid, entry);
    })().catch(() => undefined).finally(() => {
      if (this.reading.get(rec.pid) === done) this.reading.delete(rec.pid);
      finished();
    });
  }

  /** The A line that follows an E line: argv of the new image. */
  onArgv(rec: ArgvRecord): void {
    this.kernelArgv.delete(rec.pid);
    this.kernelArgv.set(rec.pid, { argv: rec.argv, truncated: rec.truncated });
    if (this.kernelArgv.size > (this.opts.maxArgv ?? 8192)) this.kernelArgv.delete(this.kernelArgv.keys().next().value as number);
    const entry = this.cache.get(rec.pid, this.deps.now());
    if (entry && (entry.info.argv?.length ?? 0) === 0) {
      entry.info.argv = rec.argv;
      entry.info.cmdline = rec.argv.join(' ');
      if (rec.truncated) entry.argvTruncated = true;
    }
  }

  private argvFacts(pid: number): Pick<KernelFacts, 'argv' | 'argvTruncated'> {
    const got = this.kernelArgv.get(pid);
    return got ? { argv: got.argv, argvTruncated: got.truncated } : {};
  }

  onExit(pid: number): void {
    this.cache.markExited(pid, this.deps.now());
  }

  /** Parent details for a process known only from the kernel: the cache, else /proc (the parent usually lives on). */
  private async parentFacts(ppid: number): Promise<Pick<KernelFacts, 'parentExe' | 'parentName'>> {
    let parent = this.cache.get(ppid, this.deps.now());
    if (!parent && ppid > 0) {
      const read = await this.reader.readProcess(ppid, this.warn);
      if (read) this.cache.set(ppid, (parent = mergeProcess(read, { pid: ppid })));
    }
    return { parentExe: parent?.info.exe, parentName: parent?.info.name };
  }

  /** Who made this connect: the cached process, or /proc read now, or the kernel's facts. */
  async forConnect(rec: ConnectRecord): Promise<CachedProcess> {
    await this.reading.get(rec.pid);
    const cached = this.cache.get(rec.pid, this.deps.now());
    if (cached && cached.attribution !== 'kernel' && cached.exitedAt === undefined) return cached;
    const read = await this.reader.readProcess(rec.pid, this.warn);
    if (cached && cached.attribution !== 'kernel') {
      // Exited: the connect belongs to it unless /proc now shows a different, newer process (pid reuse).
      if (read === null || cached.startTicks === undefined || read.startTicks === cached.startTicks) return cached;
      this.counts.pidReuse += 1;
    }
    const facts: KernelFacts = {
      pid: rec.pid, ppid: rec.ppid, uid: rec.uid, comm: rec.comm, user: await this.userName(rec.uid),
      exe: cached?.info.exe, ...this.argvFacts(rec.pid), ...(read === null ? await this.parentFacts(rec.ppid) : {}),
    };
    const entry: CachedProcess = mergeProcess(read, facts);
    if (cached?.exitedAt !== undefined && read === null) entry.exitedAt = cached.exitedAt;
    this.cache.set(rec.pid, entry);
    return entry;
  }
}
