/**
 * Fetches a pinned npm package tarball with npm itself (`npm pack NAME@VERSION`, through the
 * user's npm cache and registry settings) into the ignored build cache, checks it against the
 * pinned integrity and extracts one file. Nothing is downloaded when the tarball is cached.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NpmPin } from './targets';

/** The registry's integrity string (sha512-BASE64) of a tarball's bytes. */
export function integrityOf(bytes: Buffer): string {
  return `sha512-${crypto.createHash('sha512').update(bytes).digest('base64')}`;
}

function tarballName(pin: NpmPin): string {
  return `${pin.name.replace(/^@/, '').replace('/', '-')}-${pin.version}.tgz`;
}

/** The verified tarball of `pin` in `cacheDir`, packed by npm when missing. */
export function fetchTarball(pin: NpmPin, cacheDir: string, log: (s: string) => void): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, tarballName(pin));
  if (!fs.existsSync(file)) {
    log(`npm pack ${pin.name}@${pin.version}`);
    execFileSync('npm', ['pack', `${pin.name}@${pin.version}`, '--pack-destination', cacheDir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const got = integrityOf(fs.readFileSync(file));
  if (got !== pin.integrity) {
    fs.rmSync(file, { force: true });
    throw new Error(`${pin.name}@${pin.version}: the tarball's integrity ${got} is not the pinned ${pin.integrity} (removed it; a new build fetches it again)`);
  }
  return file;
}

/** Extracts `member` (a path inside the package, e.g. bin/node) of a verified tarball to `to`. */
export function extractMember(tarball: string, member: string, to: string): void {
  const dir = fs.mkdtempSync(path.join(path.dirname(to), '.extract-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', dir, `package/${member}`]);
    // Copy then rename: a build running at the same time never sees half a file.
    const tmp = `${to}.${process.pid}.tmp`;
    fs.copyFileSync(path.join(dir, 'package', member), tmp);
    fs.renameSync(tmp, to);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
