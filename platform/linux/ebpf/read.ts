/**
 * eBPF I/O: finds bpftrace, checks that it can run here (probe), mounts tracefs when absent, and
 * runs the bpftrace child. Parsing lives in parse.ts, the program text in program.ts. No shell is
 * ever involved: every command is an absolute path with an argument array.
 */
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { realProcfsDeps, type ProcfsDeps } from '../procfs/read';
import {
  BPFTRACE_STRLEN, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, hasCap, LineSplitter, parseBpftraceVersion, parseCapEff, parseKernelRelease,
} from './parse';

export interface EbpfDeps extends ProcfsDeps {
  realpath(p: string): Promise<string>;
  /** stat() following links: device and inode of the target. */
  stat(p: string): Promise<{ dev: number; ino: number }>;
  /** Resolves when p exists and is an executable file. */
  isExecutable(p: string): Promise<boolean>;
  exists(p: string): Promise<boolean>;
  execFile(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }>;
  spawn(file: string, args: string[], opts: SpawnOptions): ChildProcess;
  geteuid(): number;
  kernelRelease(): string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
}

export const realEbpfDeps: EbpfDeps = {
  ...realProcfsDeps,
  realpath: (p) => fsp.realpath(p),
  stat: (p) => fsp.stat(p),
  isExecutable: async (p) => {
    try {
      await fsp.access(p, fs.constants.X_OK);
      return (await fsp.stat(p)).isFile();
    } catch {
      return false;
    }
  },
  exists: (p) => fsp.access(p).then(() => true, () => false),
  execFile: (file, args, timeoutMs) => new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  }),
  spawn: (file, args, opts) => spawn(file, args, opts),
  geteuid: () => process.geteuid?.() ?? -1,
  kernelRelease: () => os.release(),
  platform: process.platform,
  env: process.env,
};

/** Where to look after PATH (a daemon's PATH often lacks the sbin folders). */
export const DEFAULT_SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export interface LocateOptions {
  /** Explicit bpftrace path: no search. */
  bpftrace?: string;
  /** Folders tried after PATH. */
  searchDirs?: string[];
}

/** First executable `name` in PATH, then searchDirs; only absolute folders are tried. */
export async function findExecutable(name: string, deps: EbpfDeps, searchDirs = DEFAULT_SEARCH_DIRS): Promise<string | null> {
  const fromPath = (deps.env.PATH ?? '').split(':').filter((d) => path.isAbsolute(d));
  for (const dir of [...new Set([...fromPath, ...searchDirs])]) {
    const candidate = path.join(dir, name);
    if (await deps.isExecutable(candidate)) return candidate;
  }
  return null;
}

export const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const TRACEPOINT = path.join('events', 'sock', 'inet_sock_set_state');

export type ProbeResult =
  | { ok: true; bpftrace: string; version: string; tracefs: 'mounted' | 'mountable' }
  | { ok: false; reason: string };

async function privilegeProblem(deps: EbpfDeps): Promise<string | null> {
  const euid = deps.geteuid();
  let caps: bigint | null = null;
  try {
    caps = parseCapEff((await deps.readFile('/proc/self/status')).toString('utf8'));
  } catch { /* no procfs: judged by uid alone */ }
  const capable = caps === null ? euid === 0 : hasCap(caps, CAP_SYS_ADMIN) || (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
  if (euid === 0 && capable) return null;
  if (euid === 0) return 'running as root but without CAP_SYS_ADMIN or CAP_BPF + CAP_PERFMON (a container dropped them?)';
  return `needs root (bpftrace refuses other users; the kernel needs CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN), running as uid ${euid}`;
}

async function tracefsState(deps: EbpfDeps): Promise<'mounted' | 'mountable' | string> {
  for (const dir of TRACEFS_DIRS) {
    if (await deps.exists(path.join(dir, 'events'))) {
      return (await deps.exists(path.join(dir, TRACEPOINT))) ? 'mounted' : 'the kernel has no sock:inet_sock_set_state tracepoint (needs Linux 4.16 or later)';
    }
  }
  let filesystems = '';
  try {
    filesystems = (await deps.readFile('/proc/filesystems')).toString('utf8');
  } catch { /* judged below */ }
  if (/\btracefs$/m.test(filesystems) && (await deps.exists(TRACEFS_DIRS[0] as string))) return 'mountable';
  return 'tracefs is neither mounted nor available in this kernel';
}

/**
 * Can eBPF tracing run here? Checks, in order: Linux, bpftrace, privileges, kernel version, BTF,
 * tracefs, and that bpftrace starts. Side-effect free (it does not mount anything). On failure the
 * reason is one line, for the "falling back to procfs" message.
 */
export async function probe(deps: EbpfDeps = realEbpfDeps, opts: LocateOptions = {}): Promise<ProbeResult> {
  const fail = (reason: string): ProbeResult => ({ ok: false, reason });
  if (deps.platform !== 'linux') return fail(`eBPF tracing needs Linux, this is ${deps.platform}`);
  const dirs = opts.searchDirs ?? DEFAULT_SEARCH_DIRS;
  const bpftrace = opts.bpftrace ?? (await findExecutable('bpftrace', deps, dirs));
  if (bpftrace === null) {
    return fail(`bpftrace not found in PATH${dirs.length > 0 ? ` or ${dirs.join(', ')}` : ''} (install the bpftrace package)`);
  }
  if (opts.bpftrace !== undefined && !(await deps.isExecutable(bpftrace))) return fail(`bpftrace path is not an executable file: ${JSON.stringify(bpftrace)}`);
  const priv = await privilegeProblem(deps);
  if (priv) return fail(priv);
  const kernel = parseKernelRelease(deps.kernelRelease());
  if (kernel && (kernel[0] < 4 || (kernel[0] === 4 && kernel[1] < 16))) return fail(`kernel ${kernel.join('.')} is too old (sock:inet_sock_set_state needs 4.16 or later)`);
  if (!(await deps.exists('/sys/kernel/btf/vmlinux'))) return fail('no kernel BTF at /sys/kernel/btf/vmlinux (the program reads task and socket fields through BTF; needs CONFIG_DEBUG_INFO_BTF)');
  const tracefs = await tracefsState(deps);
  if (tracefs !== 'mounted' && tracefs !== 'mountable') return fail(tracefs);
  let version: string | null;
  try {
    version = parseBpftraceVersion((await deps.execFile(bpftrace, ['--version'], 10_000)).stdout);
  } catch (err) {
    return fail(`${bpftrace} --version failed: ${(err as Error).message.split('\n')[0]}`);
  }
  if (version === null) return fail(`${bpftrace} --version printed no version`);
  return { ok: true, bpftrace, version, tracefs };
}

/** Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted; returns what it did. */
export async function ensureTracefs(deps: EbpfDeps, searchDirs = DEFAULT_SEARCH_DIRS): Promise<'present' | 'mounted'> {
  for (const dir of TRACEFS_DIRS) if (await deps.exists(path.join(dir, 'events'))) return 'present';
  const mount = await findExecutable('mount', deps, searchDirs);
  if (mount === null) throw new Error('tracefs is not mounted and no mount command was found');
  const target = TRACEFS_DIRS[0] as string;
  try {
    await deps.execFile(mount, ['-t', 'tracefs', 'nodev', target], 10_000);
  } catch (err) {
    const detail = String((err as { stderr?: string }).stderr ?? '').trim().split('\n')[0] || (err as Error).message.split('\n')[0];
    throw new Error(`tracefs is not mounted and mounting it at ${target} failed: ${detail}`);
  }
  return 'mounted';
}

export interface BpftraceHandlers {
  stdoutLine(line: string): void;
  stderrLine(line: string): void;
  /** After the child exited and both its streams closed (every line was delivered). */
  closed(code: number | null, signal: NodeJS.Signals | null): void;
}

/** One bpftrace child. stop() signals exactly this child's pid, never a group or a name. */
export class BpftraceProcess {
  readonly child: ChildProcess;
  private readonly done: Promise<void>;
  private readonly out = new LineSplitter();
  private readonly err = new LineSplitter();

  constructor(deps: EbpfDeps, bpftrace: string, program: string, handlers: BpftraceHandlers, extraEnv: Record<string, string> = {}) {
    const env = { PATH: deps.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', BPFTRACE_STRLEN: String(BPFTRACE_STRLEN), ...extraEnv };
    this.child = deps.spawn(bpftrace, ['-f', 'json', '-B', 'line', '-e', program], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => { for (const l of this.out.push(chunk)) handlers.stdoutLine(l); });
    this.child.stderr?.on('data', (chunk: string) => { for (const l of this.err.push(chunk)) handlers.stderrLine(l); });
    this.done = new Promise((resolve) => {
      let spawnError: Error | null = null;
      this.child.on('error', (e) => { spawnError = e; });
      this.child.on('close', (code, signal) => {
        const restOut = this.out.end();
        if (restOut !== null) handlers.stdoutLine(restOut);
        const restErr = this.err.end();
        if (restErr !== null) handlers.stderrLine(restErr);
        if (spawnError) handlers.stderrLine(`ERROR: cannot run ${bpftrace}: ${spawnError.message}`);
        handlers.closed(code, signal);
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Lines dropped for being longer than the splitter allows. */
  get overlongLines(): number {
    return this.out.overlong + this.err.overlong;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** SIGTERM (bpftrace detaches its probes and exits), SIGKILL after graceMs; resolves once closed. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.pid !== undefined && !this.exited) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!this.exited) this.child.kill('SIGKILL'); }, graceMs);
      await this.done;
      clearTimeout(timer);
    }
    await this.done;
  }
}
