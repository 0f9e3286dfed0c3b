/**
 * Running the tools: execFile with argument arrays and absolute paths (never a shell), and the
 * Linux kernel supplement that ps cannot replace. I/O only.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parseCmdline, parseExeLink } from '../../linux/procfs/parse';

/** Where the tools live: macOS first (/usr/sbin/lsof, /bin/ps), then the Linux distributions'. */
export const LSOF_PATHS: readonly string[] = ['/usr/sbin/lsof', '/usr/bin/lsof', '/sbin/lsof', '/bin/lsof'];
export const PS_PATHS: readonly string[] = ['/bin/ps', '/usr/bin/ps'];

export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Facts only the kernel can give and ps cannot: the executable's path, argv kept apart. */
export interface ProcessFacts {
  exe?: string;
  exeDeleted?: boolean;
  argv?: string[];
}

const MAX_OUTPUT = 256 * 1024 * 1024;

/** execFile with a Buffer stdout, a timeout, and a result instead of an error for non-zero exits. */
export function runTool(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: 'buffer', env, timeout: timeoutMs, maxBuffer: MAX_OUTPUT, windowsHide: true }, (err, stdout, stderr) => {
      // A non-zero exit puts the exit code (a number) in err.code; a spawn failure puts an errno name there.
      const e = err as { code?: unknown; killed?: boolean; message: string } | null;
      const code = e ? e.code : 0;
      if (typeof code !== 'number' || e?.killed) {
        reject(new Error(`${path.basename(file)} did not run to completion: ${e?.killed ? `killed after ${timeoutMs} ms` : e?.message}`));
        return;
      }
      resolve({ code, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/** The first of `candidates` that is an executable file, or null. */
export function locateTool(candidates: readonly string[], isExecutable: (p: string) => boolean = executableFile): string | null {
  return candidates.find((c) => isExecutable(c)) ?? null;
}

function executableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Linux supplement: the executable from /proc/<pid>/exe and argv from /proc/<pid>/cmdline. */
export function procfsProcessFacts(procRoot: string): (pid: number) => Promise<ProcessFacts | null> {
  return async (pid) => {
    const facts: ProcessFacts = {};
    try {
      const exe = parseExeLink(await fsp.readlink(path.join(procRoot, String(pid), 'exe')));
      facts.exe = exe.exe;
      if (exe.deleted) facts.exeDeleted = true;
    } catch { /* exited, kernel thread, or not permitted */ }
    try {
      facts.argv = parseCmdline(await fsp.readFile(path.join(procRoot, String(pid), 'cmdline')));
    } catch { /* exited */ }
    return facts.exe === undefined && facts.argv === undefined ? null : facts;
  };
}
