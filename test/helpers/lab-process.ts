/**
 * Processes started by the test lab: spawned with argument arrays (never a shell), their output
 * kept for error messages, stopped by pid (SIGTERM, then SIGKILL).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

const OUTPUT_LIMIT = 64 * 1024;

/** Where Debian puts ip and mosquitto; a PATH without them (sudo, cron, a user's shell) still finds them. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of a command found in PATH, then the sbin folders, or null. Absolute input is checked as is. */
export function findExecutable(command: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  const candidates = command.includes('/') ? [command] : dirs.map((d) => path.join(d, command));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return path.resolve(c);
    } catch { /* not here */ }
  }
  return null;
}

/** Like findExecutable, but throws a clear error when the command is missing. */
export function requireExecutable(command: string): string {
  const found = findExecutable(command);
  if (found === null) throw new Error(`test lab: ${command} not found in PATH`);
  return found;
}

/**
 * The real python3 binary. Version managers (pyenv, asdf) put shell-script shims in PATH; a shim
 * would make the connection's owner a different executable than the one the test expects.
 */
export async function realPython3(): Promise<string> {
  const shim = requireExecutable('python3');
  const { stdout } = await execFileP(shim, ['-c', 'import os, sys; print(os.path.realpath(sys.executable))']);
  return stdout.trim();
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Written to stdin right after the start. stdin stays open (the process keeps running) unless closeStdin. */
  stdin?: string | Buffer;
  closeStdin?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** One process the lab started. `pid` is the process itself: no shell or wrapper in between. */
export class LabProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | null = null;
  private out = '';

  constructor(readonly child: ChildProcess, readonly label: string, readonly netns: string | null) {
    if (child.pid === undefined) throw new Error(`test lab: could not start ${label}`);
    this.pid = child.pid;
    const keep = (chunk: Buffer) => {
      this.out = (this.out + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.stdin?.on('error', () => undefined); // EPIPE when the process exits first
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.status = { code, signal };
        resolve(this.status);
      });
      child.on('error', (err) => {
        this.out += `\n[spawn error] ${err.message}`;
      });
    });
  }

  get running(): boolean {
    return this.status === null;
  }

  /** stdout and stderr so far (last 64 KiB), for failure messages. */
  output(): string {
    return this.out;
  }

  describe(): string {
    const state = this.status ? `exited (code ${this.status.code}, signal ${this.status.signal})` : 'running';
    return `${this.label} [pid ${this.pid}${this.netns ? ` in ${this.netns}` : ''}] ${state}; output: ${JSON.stringify(this.out.slice(-2000))}`;
  }

  write(data: string | Buffer): void {
    this.child.stdin?.write(data);
  }

  /** Resolves with the first match of `re` in the output; rejects on timeout or exit. */
  async waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (!this.running) throw new Error(`test lab: ${this.describe()} before printing ${re}`);
      if (Date.now() > deadline) throw new Error(`test lab: timed out after ${timeoutMs} ms waiting for ${re} from ${this.describe()}`);
      await sleep(25);
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. Safe to call twice. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort (process 'exit' handler). */
  killNow(): void {
    if (this.running) this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch { /* already gone */ }
  }
}

/** Starts `command args` with stdin/stdout/stderr piped. `command` must be an absolute path. */
export function spawnProcess(command: string, args: readonly string[], label: string, netns: string | null, opts: SpawnOptions = {}): LabProcess {
  const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  const proc = new LabProcess(child, label, netns);
  if (opts.stdin !== undefined) proc.write(opts.stdin);
  if (opts.closeStdin) child.stdin?.end();
  return proc;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
