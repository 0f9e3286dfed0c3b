/**
 * The win-x64 release binary and its .msi, built here by the real release build: the Node base
 * binary loses its Authenticode signature before the blob goes in (byte for byte what
 * `osslsigncode remove-signature` makes), and the .msi, read back with msiinfo, installs the exe,
 * koffi.node, default.yaml and a config that upgrades keep, and registers the service.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { buildMsi } from '../../installers/windows/msi';
import { extractMember, fetchTarball } from '../../installers/release/fetch';
import { peSignature, stripAuthenticode } from '../../installers/release/pe';
import { targetById } from '../../installers/release/targets';
import { REPO_ROOT } from '../helpers/cli';
import { findExecutable } from '../helpers/lab';
import { needs } from '../control/needs';
import { ensureRelease, RELEASE_DIR, run } from './build-helper';

const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const WIN = path.join(RELEASE_DIR, 'win-x64');
let buildError: Error | null = null;
let tmp = '';

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-win-'));
  await ensureRelease('win-x64', '').catch((err: Error) => { buildError = err; });
});

test('the Authenticode signature is stripped exactly as osslsigncode does, and the release exe carries none', async (t) => {
  if (!needs(t, [findExecutable('osslsigncode') ? null : 'osslsigncode not found (apt-get install osslsigncode)'])) return;
  if (buildError) throw buildError;
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const target = targetById('win-x64');
  const signed = path.join(tmp, 'node.exe');
  extractMember(fetchTarball(target.node, path.join(REPO_ROOT, '.cache', 'release'), () => undefined), target.node.binary, signed);
  const bytes = fs.readFileSync(signed);
  assert.ok(peSignature(bytes).size > 0, 'node.exe from the registry is signed');
  const ossl = path.join(tmp, 'ossl.exe');
  const r = await run('osslsigncode', ['remove-signature', '-in', signed, '-out', ossl]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(stripAuthenticode(bytes).equals(fs.readFileSync(ossl)), 'the same bytes as osslsigncode remove-signature');
  const exe = fs.readFileSync(path.join(WIN, 'brokerwatch.exe'));
  assert.deepEqual(peSignature(exe), { offset: 0, size: 0 });
  const verify = await run('osslsigncode', ['verify', '-in', path.join(WIN, 'brokerwatch.exe')]);
  assert.notEqual(verify.code, 0);
  assert.match(verify.stdout + verify.stderr, /No signature found|Unable to extract existing signature/);
});

test('the .msi installs the exe, koffi.node and a kept config, and registers the brokerwatch service', async (t) => {
  if (!needs(t, [findExecutable('wixl') ? null : 'wixl not found (apt-get install wixl)', findExecutable('msiinfo') ? null : 'msiinfo not found (apt-get install msitools)'])) return;
  if (buildError) throw buildError;
  const out = fs.mkdtempSync(path.join(RELEASE_DIR, '.msi-test-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const msi = await buildMsi({ target: targetById('win-x64'), dir: WIN, version: VERSION, outDir: out, workDir: out });
  const table = async (name: string) => {
    const r = await run('msiinfo', ['export', msi, name]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split(/\r?\n/).slice(3).map((l) => l.split('\t'));
  };
  const files = await table('File');
  const names = new Map(files.map((f) => [f[2], Number(f[3])]));
  assert.equal(names.get('brokerwatch.exe'), fs.statSync(path.join(WIN, 'brokerwatch.exe')).size);
  assert.equal(names.get('koffi.node'), fs.statSync(path.join(WIN, 'koffi.node')).size);
  assert.ok(names.has('default.yaml') && names.has('config.yaml'));
  const components = new Map((await table('Component')).map((c) => [c[0], { dir: c[2], attrs: Number(c[3]) }]));
  assert.equal(components.get('Exe')?.dir, 'INSTALLDIR');
  assert.equal(components.get('Config')?.dir, 'DATADIR');
  assert.equal((components.get('Config')?.attrs ?? 0) & (16 | 128), 16 | 128, 'config.yaml is Permanent and NeverOverwrite');
  const dirs = new Map((await table('Directory')).map((d) => [d[0], { parent: d[1], name: d[2] }]));
  assert.deepEqual(dirs.get('INSTALLDIR'), { parent: 'ProgramFiles64Folder', name: 'brokerwatch' });
  assert.deepEqual(dirs.get('DATADIR'), { parent: 'CommonAppDataFolder', name: 'brokerwatch' });
  const [svc] = await table('ServiceInstall');
  assert.equal(svc?.[1], 'brokerwatch');
  assert.equal(svc?.[3], '16', 'SERVICE_WIN32_OWN_PROCESS');
  assert.equal(svc?.[4], '2', 'SERVICE_AUTO_START');
  assert.equal(svc?.[8], 'LocalSystem');
  assert.equal(svc?.[10], 'run --service --config "[CommonAppDataFolder]brokerwatch\\config.yaml"', 'the SCM entry point, as `brokerwatch install` registers it');
  assert.equal(svc?.[11], 'Exe');
  const [ctl] = await table('ServiceControl');
  // 163 = start on install (1) + stop on install and uninstall (2 + 32) + delete on uninstall (128).
  assert.equal(ctl?.[2], '163');
  const upgrade = await table('Upgrade');
  assert.ok(upgrade.length >= 1, 'a major upgrade replaces older versions');
});
