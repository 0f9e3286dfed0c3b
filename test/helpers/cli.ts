/**
 * Runs the real brokerwatch CLI in a child process (from the sources, through tsx) and returns its
 * exit code and output; runScanJson() also parses the `scan --json` document.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { ScanReport } from '../../src/format/report';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `brokerwatch ARGS...` as a separate process (no shell); never throws on a non-zero exit. */
export function runCli(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', ENTRY, ...args], { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`brokerwatch ${args.join(' ')}: ${err.message}\nstderr: ${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

/** `brokerwatch scan --json ARGS...`: the exit code and the parsed report. */
export async function runScanJson(args: readonly string[] = []): Promise<CliResult & { report: ScanReport }> {
  const r = await runCli(['scan', '--json', ...args]);
  let report: ScanReport;
  try {
    report = JSON.parse(r.stdout) as ScanReport;
  } catch {
    throw new Error(`brokerwatch scan exited ${r.code} without a JSON report; stderr: ${r.stderr}\nstdout: ${r.stdout.slice(0, 2000)}`);
  }
  return { ...r, report };
}
