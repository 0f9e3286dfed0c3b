/**
 * An install or uninstall as data: the files to write, copy or remove and the commands to run.
 * Each platform's installer only builds a Plan; applyPlan (apply.ts) carries it out, prints it
 * (--dry-run), or writes it under another root (--root). So a new platform is one more builder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listPackage, listRelease, type PackageListing } from './package-files';

/** Where things go on a platform (absolute paths on the target system, before any --root). */
export interface Layout {
  installDir: string;
  /** The systemd unit or launchd plist. */
  serviceFile: string;
  configDir: string;
  configFile: string;
  stateDir: string;
  logDir: string;
  /** A small sh script in PATH that runs the installed CLI with the service's node. */
  wrapper: string;
}

export type Step =
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'package'; from: string; to: string; listing: PackageListing; node?: { from: string; to: string } }
  | { op: 'write'; path: string; content: string; mode: number; keep?: 'existing' | 'foreign'; why?: string }
  | { op: 'remove'; path: string; recursive: boolean; onlyIfContains?: string };

export interface Command {
  file: string;
  args: string[];
  /** What it does, for the output and for the "run this yourself" message. */
  why: string;
  /** Its failure is reported but does not fail the install (a nicety, or stopping what may not run). */
  optional?: boolean;
}

export interface Plan {
  action: 'install' | 'uninstall';
  layout: Layout;
  /** Commands before the file steps (uninstall: stop the service first). */
  before: Command[];
  steps: Step[];
  /** Commands after them (install: load and start the service). */
  after: Command[];
  /** Lines printed at the end (what to do next). */
  notes: string[];
}

export interface PlanContext {
  platform: NodeJS.Platform;
  /** Everything is written under this directory; "/" is the live system. */
  root: string;
  /** The package to install (its package.json, bin/, dist/, ...). */
  packageDir: string;
  /** The node binary running now (process.execPath). */
  nodePath: string;
  /**
   * The package is a release binary (a single executable application): packageDir holds the
   * binary and its native FFI module, and the service runs the binary itself instead of node + main.
   */
  release?: { binary: string };
  /** install --config FILE: its text (already validated). */
  configText?: string;
  purge?: boolean;
}

/** A target path under the root (--root DIR); "/" leaves it as is. */
export function underRoot(root: string, target: string): string {
  return root === '/' ? target : path.join(root, target);
}

/** Marks files install writes that may share a name with someone else's (the wrapper): only ours are replaced or removed. */
export const WRAPPER_MARKER = '# written by `brokerwatch install`';

/**
 * Whether the service must get its own copy of node: when the binary lives where the sandbox
 * hides it (homes, /tmp) or where someone other than root could replace it - a root service
 * running a user-writable binary would hand that user root.
 */
export function nodeNeedsCopy(nodePath: string, platform: NodeJS.Platform): boolean {
  const hidden = platform === 'linux' ? ['/root/', '/home/', '/run/user/', '/tmp/', '/var/tmp/'] : ['/tmp/', '/private/tmp/', '/Users/'];
  if (hidden.some((p) => nodePath.startsWith(p))) return true;
  if (/["'\\\s]/.test(nodePath)) return true; // systemd refuses quotes and backslashes in an executable name
  for (let p = nodePath; ; p = path.dirname(p)) {
    try {
      const st = fs.statSync(p);
      if (st.uid !== 0 || (st.mode & 0o022) !== 0) return true;
    } catch {
      return true;
    }
    if (p === path.dirname(p)) return false;
  }
}

/**
 * What the service runs, as argv words before the command ("run ..."): the release binary alone,
 * or node and the package's launcher - with a copy of node where the installed one is unsafe.
 */
export function commonPaths(layout: Layout, ctx: PlanContext): { command: string[]; nodeCopy?: { from: string; to: string } } {
  if (ctx.release) return { command: [path.posix.join(layout.installDir, ctx.release.binary)] };
  const main = path.posix.join(layout.installDir, 'bin', 'brokerwatch.js');
  if (!nodeNeedsCopy(ctx.nodePath, ctx.platform)) return { command: [ctx.nodePath, main] };
  const to = path.posix.join(layout.installDir, 'node', 'bin', 'node');
  return { command: [to, main], nodeCopy: { from: ctx.nodePath, to } };
}

/**
 * The steps every platform's install takes, in order: the package, the config (kept when one
 * exists), state and log folders, the service definition and the wrapper in PATH.
 */
export function installSteps(layout: Layout, ctx: PlanContext, content: { config: string; service: string; wrapper: string }): Step[] {
  const { nodeCopy } = commonPaths(layout, ctx);
  return [
    { op: 'package', from: ctx.packageDir, to: layout.installDir, listing: ctx.release ? listRelease(ctx.packageDir, ctx.release.binary) : listPackage(ctx.packageDir), ...(nodeCopy ? { node: nodeCopy } : {}) },
    { op: 'mkdir', path: layout.configDir, mode: 0o750 },
    { op: 'write', path: layout.configFile, content: content.config, mode: 0o640, keep: 'existing', why: ctx.configText !== undefined ? 'from --config' : 'starter config' },
    { op: 'mkdir', path: layout.stateDir, mode: 0o700 },
    { op: 'mkdir', path: layout.logDir, mode: 0o750 },
    { op: 'write', path: layout.serviceFile, content: content.service, mode: 0o644 },
    { op: 'write', path: layout.wrapper, content: content.wrapper, mode: 0o755, keep: 'foreign' },
  ];
}

/** The wrapper script in PATH (sh, single-quoted words). */
export function wrapperScript(command: string[], shWord: (v: string) => string): string {
  return `#!/bin/sh\n${WRAPPER_MARKER}; removed by \`brokerwatch uninstall\`.\n# Runs the installed agent the way its service does.\nexec ${command.map(shWord).join(' ')} "$@"\n`;
}
