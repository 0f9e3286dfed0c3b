/**
 * The release build the release tests check: dist/release/<target>/ built once per test process
 * with the real build (installers/release/build.ts), so the tests see what `npm run release` makes.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/cli';

export const RELEASE_DIR = path.join(REPO_ROOT, 'dist', 'release');
const built = new Map<string, Promise<void>>();

/** Builds the targets (and package kinds) once; rejects with the build's output when it fails. */
export function ensureRelease(targets: string, packages: string): Promise<void> {
  const key = `${targets}|${packages}`;
  let p = built.get(key);
  if (!p) {
    p = new Promise((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'installers', 'release', 'build.ts'), '--targets', targets, '--packages', packages],
        { cwd: REPO_ROOT, timeout: 20 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`release build failed: ${err.message}\n${stdout}${stderr}`));
          else resolve();
        });
    });
    built.set(key, p);
  }
  return p;
}

export function run(file: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: REPO_ROOT, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, ...(opts.env ? { env: opts.env } : {}) }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
