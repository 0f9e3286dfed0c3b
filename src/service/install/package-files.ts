/**
 * The runtime package `install` copies: package.json, the paths package.json's "files" names
 * (bin, dist, config, installers, platform/**\/*.bt) and the production node_modules - the
 * package-lock.json entries not marked "dev" that are installed here. Nothing else: no sources,
 * tests or dev tools on the endpoint.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface PackageEntry {
  /** Path relative to the package root, with "/" separators. */
  rel: string;
  kind: 'file' | 'symlink';
}

export interface PackageListing {
  entries: PackageEntry[];
  /** The production packages from package-lock.json that were found on disk. */
  modules: string[];
}

export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageError';
  }
}

/** Every file and symlink under `dir` (relative to `root`), skipping folders for which skip() is true. */
function walk(root: string, dir: string, out: PackageEntry[], skip: (rel: string) => boolean = () => false): void {
  for (const ent of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir === '' ? ent.name : `${dir}/${ent.name}`;
    if (ent.isSymbolicLink()) out.push({ rel, kind: 'symlink' });
    else if (ent.isDirectory()) {
      if (!skip(rel)) walk(root, rel, out, skip);
    } else if (ent.isFile()) out.push({ rel, kind: 'file' });
  }
}

/** A "files" pattern as a regex over relative paths: a double star and slash match any folders, a star stays within one name. */
export function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c !== '*') re += c.replace(/[.+^${}()|[\]\\?]/g, '\\$&');
    else if (pattern[i + 1] !== '*') re += '[^/]*';
    else if (pattern[i + 2] === '/') {
      re += '(?:.*/)?';
      i += 2;
    } else {
      re += '.*';
      i += 1;
    }
  }
  return new RegExp(`^${re}$`);
}

function filesFromPattern(root: string, pattern: string, out: PackageEntry[]): void {
  const clean = pattern.replace(/^\.?\//, '').replace(/\/$/, '');
  const segs = clean.split('/');
  const firstGlob = segs.findIndex((s) => s.includes('*'));
  if (firstGlob === -1) {
    const abs = path.join(root, clean);
    if (!fs.existsSync(abs)) return;
    if (fs.lstatSync(abs).isDirectory()) walk(root, clean, out);
    else out.push({ rel: clean, kind: fs.lstatSync(abs).isSymbolicLink() ? 'symlink' : 'file' });
    return;
  }
  const base = segs.slice(0, firstGlob).join('/');
  if (!fs.existsSync(path.join(root, base))) return;
  const re = patternRegex(clean);
  const found: PackageEntry[] = [];
  walk(root, base, found, (rel) => rel.split('/').includes('node_modules'));
  out.push(...found.filter((e) => re.test(e.rel)));
}

interface LockPackage {
  dev?: boolean;
  link?: boolean;
}

/** The production package folders (e.g. node_modules/winston) listed in package-lock.json and present on disk. */
export function productionModules(root: string): string[] {
  let lock: { packages?: Record<string, LockPackage> };
  try {
    lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as typeof lock;
  } catch (err) {
    throw new PackageError(`cannot read ${path.join(root, 'package-lock.json')}: ${(err as Error).message} (install needs the lock file to tell production packages from dev ones)`);
  }
  if (!lock.packages || typeof lock.packages !== 'object') throw new PackageError('package-lock.json has no "packages" map (lockfileVersion 2 or 3 is needed)');
  return Object.entries(lock.packages)
    .filter(([key, meta]) => key.startsWith('node_modules/') && !meta.dev && !meta.link)
    .map(([key]) => key)
    .filter((key) => fs.existsSync(path.join(root, key, 'package.json')))
    .sort();
}

/** Lists what to copy from the package at `root`. Throws PackageError when it is not built. */
export function listPackage(root: string): PackageListing {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files?: unknown };
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new PackageError(`${root} is not built: dist/src/cli/main.js is missing (run npm run build there first)`);
  }
  const entries: PackageEntry[] = [{ rel: 'package.json', kind: 'file' }];
  const patterns = Array.isArray(pkg.files) ? pkg.files.filter((f): f is string => typeof f === 'string') : ['bin', 'dist', 'config'];
  for (const p of patterns) filesFromPattern(root, p, entries);
  const modules = productionModules(root);
  for (const mod of modules) {
    // A package's own node_modules holds packages listed separately in the lock (copied or skipped on their own merits).
    walk(root, mod, entries, (rel) => rel === `${mod}/node_modules`);
  }
  const seen = new Set<string>();
  return { entries: entries.filter((e) => (seen.has(e.rel) ? false : (seen.add(e.rel), true))), modules };
}

/** The native FFI module a release binary loads from its own folder (installers/release/README.md). */
export const RELEASE_NATIVE = 'koffi.node';

/**
 * What a release install copies from the folder holding a release binary: the binary, the native
 * FFI module beside it (when the release has one) and default.yaml (the embedded default config,
 * as documentation). The .deb, .rpm and .msi are staged from this same list.
 */
export function listRelease(dir: string, binary: string): PackageListing {
  if (!fs.existsSync(path.join(dir, binary))) throw new PackageError(`${dir} holds no release binary ${binary}`);
  const entries: PackageEntry[] = [{ rel: binary, kind: 'file' }];
  for (const rel of [RELEASE_NATIVE, 'default.yaml']) {
    if (fs.existsSync(path.join(dir, rel))) entries.push({ rel, kind: 'file' });
  }
  return { entries, modules: [] };
}
