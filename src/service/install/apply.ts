/**
 * Carries out a Plan: for real, under another root (--root: files only, no service commands), or
 * as a printout (--dry-run: every file with its content and every command, nothing touched).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isLink, writeFileAtomicSync } from '../../core/safe-fs';
import { safeText } from '../../core/text';
import type { Command, Plan, Step } from './plan';
import { underRoot, WRAPPER_MARKER } from './plan';

export interface ApplyOptions {
  root: string;
  dryRun: boolean;
  out(text: string): void;
  /** Runs a service command; default execFile with a 2-minute limit. Resolves null on success, else why it failed. */
  run?: (cmd: Command) => Promise<string | null>;
}

export interface ApplyResult {
  /** Commands that failed or could not run; the caller says what the user must run. */
  failed: { cmd: Command; why: string }[];
}

const mode = (m: number) => m.toString(8).padStart(4, '0');
const cmdText = (c: Command) => [c.file, ...c.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

export function defaultRun(cmd: Command): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd.file, cmd.args, { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve(null);
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (e.code === 'ENOENT') return resolve(`${cmd.file} not found`);
      const detail = String(stderr).split('\n').map((l) => l.trim()).find((l) => l !== '') ?? e.message;
      resolve(safeText(detail, 300));
    });
  });
}

function describe(step: Step, target: string): string {
  switch (step.op) {
    case 'mkdir':
      return `mkdir ${target} (${mode(step.mode)})`;
    case 'package': {
      const groups = new Map<string, number>();
      for (const e of step.listing.entries) {
        const top = e.rel.split('/')[0] as string;
        groups.set(top, (groups.get(top) ?? 0) + 1);
      }
      const isDir = (g: string) => step.listing.entries.some((e) => e.rel.startsWith(`${g}/`));
      const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
      const parts = [...groups].map(([g, n]) => (g === 'node_modules'
        ? `node_modules/ (${step.listing.modules.length} production packages, ${files(n)})`
        : isDir(g) ? `${g}/ (${files(n)})` : g));
      return `copy the runtime package ${step.from} -> ${target}: ${parts.join(', ')}${step.node ? `; node binary ${step.node.from} -> ${step.node.to}` : ''}`;
    }
    case 'write':
      return `write ${target} (${mode(step.mode)}${step.keep === 'existing' ? ', only if missing: kept on upgrade' : step.keep === 'foreign' ? ', unless it is not ours' : ''})${step.why ? ` - ${step.why}` : ''}`;
    case 'remove':
      return `remove ${target}${step.recursive ? ' (and everything in it)' : ''}`;
  }
}

function writeAtomic(file: string, content: string, m: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  writeFileAtomicSync(file, content, m, 'the install'); // random temp name, no links followed, exact mode
}

/** Copies the package into a fresh folder beside the target, then swaps it in: an upgrade leaves no stale files. */
function copyPackage(step: Extract<Step, { op: 'package' }>, target: string): void {
  const staging = `${target}.new-${process.pid}`;
  const old = `${target}.old-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true, mode: 0o755 });
  for (const e of step.listing.entries) {
    const from = path.join(step.from, e.rel);
    const to = path.join(staging, e.rel);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    if (e.kind === 'symlink') fs.symlinkSync(fs.readlinkSync(from), to);
    else {
      fs.copyFileSync(from, to);
      fs.chmodSync(to, fs.statSync(from).mode & 0o755); // nobody but root may change what root runs
    }
  }
  if (step.node) {
    const to = path.join(staging, path.relative(step.to, step.node.to));
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    fs.copyFileSync(step.node.from, to);
    fs.chmodSync(to, 0o755);
  }
  const had = fs.existsSync(target);
  if (had) fs.renameSync(target, old);
  try {
    fs.renameSync(staging, target);
  } catch (err) {
    if (had) fs.renameSync(old, target);
    throw err;
  }
  fs.rmSync(old, { recursive: true, force: true });
}

/** Runs one step; returns a remark for the output when it did not do the obvious thing. */
function runStep(step: Step, root: string): string | null {
  const target = underRoot(root, step.op === 'package' ? step.to : step.path);
  switch (step.op) {
    case 'mkdir':
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 }); // parents (/var/lib, /etc) stay ordinary
      fs.mkdirSync(target, { recursive: true, mode: step.mode });
      fs.chmodSync(target, step.mode);
      return null;
    case 'package':
      copyPackage(step, target);
      return null;
    case 'write':
      if (fs.existsSync(target)) {
        if (step.keep === 'existing') return 'kept (already there)';
        if (step.keep === 'foreign' && !fs.readFileSync(target, 'utf8').includes(WRAPPER_MARKER)) return 'not replaced: it is not one brokerwatch wrote';
      }
      writeAtomic(target, step.content, step.mode);
      return null;
    case 'remove':
      if (!fs.existsSync(target) && !isLink(target)) return 'already gone';
      if (step.onlyIfContains && !fs.readFileSync(target, 'utf8').includes(step.onlyIfContains)) return 'kept: it is not one brokerwatch wrote';
      fs.rmSync(target, { recursive: step.recursive, force: true });
      return null;
  }
}

/** Prints and (unless dryRun) performs the plan. Service commands run only on the live system ("/"). */
export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  const { root, dryRun, out } = options;
  const live = root === '/' && !dryRun;
  const failed: ApplyResult['failed'] = [];
  /** Runs commands in order; with stopOnFailure the rest are reported as not run after one fails. */
  const runCommands = async (cmds: Command[], stopOnFailure: boolean) => {
    for (const cmd of cmds) {
      if (!live) {
        out(`${dryRun ? 'would run' : 'not run (--root)'}: ${cmdText(cmd)}   # ${cmd.why}\n`);
        continue;
      }
      if (stopOnFailure && failed.length > 0) {
        failed.push({ cmd, why: 'not run: an earlier command failed' });
        continue;
      }
      const why = await (options.run ?? defaultRun)(cmd);
      out(`run: ${cmdText(cmd)}${why === null ? '' : `   FAILED${cmd.optional ? ` (carrying on without it: ${cmd.why})` : ''}: ${why}`}\n`);
      if (why !== null && !cmd.optional) failed.push({ cmd, why });
    }
  };
  // Before the files: stopping an old version. Its failure (nothing was running) does not stop the install.
  await runCommands(plan.before, false);
  if (plan.action === 'install') failed.length = 0;
  for (const step of plan.steps) {
    const target = underRoot(root, step.op === 'package' ? step.to : step.path);
    if (dryRun) {
      out(`${describe(step, target)}\n`);
      if (step.op === 'write') out(`${step.content.replace(/\n$/, '').split('\n').map((l) => `  | ${l}`).join('\n')}\n`);
      continue;
    }
    const remark = runStep(step, root);
    out(`${describe(step, target)}${remark ? `: ${remark}` : ''}\n`);
  }
  await runCommands(plan.after, true);
  return { failed };
}

export { cmdText };
