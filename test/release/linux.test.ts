/**
 * The linux-x64 release binary and its .deb, built here by the real release build: the binary
 * runs without node_modules, embeds its default config, and judges a live test host's connection
 * exactly like the source checkout; the .deb installs on this machine with the files, modes and
 * unit `brokerwatch install` writes, keeps a changed config on upgrade and purges cleanly; the
 * .rpm holds the same files.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import type { ScanReport } from '../../src/format/report';
import { buildRpm } from '../../installers/linux/rpm';
import { targetById } from '../../installers/release/targets';
import { runCli, runScanJson, REPO_ROOT } from '../helpers/cli';
import { findExecutable, useLab, waitForEstablished } from '../helpers/lab';
import { needs } from '../control/needs';
import { until } from '../helpers/until';
import { ensureRelease, RELEASE_DIR, run } from './build-helper';

const labs = useLab(['nc', 'bpftrace', 'dpkg', 'dpkg-deb', 'rpm', 'rpmbuild', 'systemd-analyze']);
const BIN = path.join(RELEASE_DIR, 'linux-x64', 'brokerwatch');
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = path.join(RELEASE_DIR, `brokerwatch_${VERSION}_amd64.deb`);
let buildError: Error | null = null;

before(async () => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  await ensureRelease('linux-x64', 'deb').catch((err: Error) => { buildError = err; });
});

const mode = (p: string) => fs.statSync(p).mode & 0o7777;

test('the release binary runs on its own: version, help, and the embedded default config', async (t) => {
  if (!needs(t, [process.platform === 'linux' && process.arch === 'x64' ? null : 'the linux-x64 binary runs on linux-x64 only'])) return;
  if (buildError) throw buildError;
  // An environment without node or npm on PATH, and an empty working folder: nothing to lean on.
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin'.split(':').filter((d) => !fs.existsSync(path.join(d, 'node'))).join(':'), HOME: '/nonexistent' };
  // BROKERWATCH_DEBUG names each third-party package the binary loads from its assets (vendor-load.ts):
  // --version loads none of them, a config file loads the YAML parser and the schema, each with its code cache.
  const v = await run(BIN, ['--version'], { env: { ...env, BROKERWATCH_DEBUG: '1' } });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), VERSION);
  assert.equal(v.stderr, '', 'the version loads no vendored package');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-release-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'c.yaml'), 'mode: yaral-parity\n');
  const withFile = await run(BIN, ['validate-config', '--config', path.join(dir, 'c.yaml')], { env: { ...env, BROKERWATCH_DEBUG: '1' } });
  assert.equal(withFile.code, 0, withFile.stderr);
  assert.match(withFile.stderr, /loaded yaml from the binary \(code cache used\)/);
  assert.match(withFile.stderr, /loaded zod from the binary \(code cache used\)/);
  const badFile = path.join(dir, 'bad.yaml');
  fs.writeFileSync(badFile, 'mode: [\n');
  const bad = await run(BIN, ['validate-config', '--config', badFile], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad\.yaml:2:1: YAML error/);
  const help = await run(BIN, ['scan', '--help'], { env });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: brokerwatch scan/);
  const valid = await run(BIN, ['validate-config', '--json'], { env });
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  assert.match(valid.stdout, /embedded default config\/default\.yaml/);
  // The binary's default config was validated at build time (it loads no schema): the same settings as the checkout's.
  const printed = await run(BIN, ['validate-config', '--json', '--print'], { env });
  assert.equal(printed.code, 0, printed.stderr);
  const fromCheckout = await runCli(['validate-config', '--json', '--print']);
  assert.equal(fromCheckout.code, 0, fromCheckout.stderr);
  assert.deepEqual(JSON.parse(printed.stdout), JSON.parse(fromCheckout.stdout));
  assert.equal(mode(BIN), 0o755);
  assert.equal(mode(path.join(RELEASE_DIR, 'linux-x64', 'koffi.node')), 0o644);
  const sums = fs.readFileSync(path.join(RELEASE_DIR, 'SHA256SUMS'), 'utf8');
  assert.match(sums, new RegExp(`^[0-9a-f]{64}  brokerwatch_${VERSION.replace(/\./g, '\\.')}_amd64\\.deb$`, 'm'));
  assert.match(sums, new RegExp(`^[0-9a-f]{64}  brokerwatch-${VERSION.replace(/\./g, '\\.')}-linux-x64\\.tar\\.gz$`, 'm'));
});

test('scan --json of the release binary judges a live test host\'s connection as the source checkout does', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  if (buildError) throw buildError;
  t.after(() => lab.stopAll());
  const port = 20000 + (process.pid % 20000); // the test host's namespace is this lab's own: any port is free there
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port }]);
  const nc = lab.spawnRoot('nc', [lab.external.ipv4, String(port)]);
  await waitForEstablished(nc, lab.external.ipv4, port);
  // Only this test's random port is a pub/sub port (every protocol's list, so MQTT names it):
  // other labs' connections are not judged.
  const config = lab.writeFile('release.yaml', JSON.stringify({ protocolPortList: { MQTT: [port], XMPP: [port], AMQP: [port], STOMP: [port] } }));
  const bin = await run(BIN, ['scan', '--json', '--config', config]);
  let report: ScanReport;
  try {
    report = JSON.parse(bin.stdout) as ScanReport;
  } catch {
    throw new Error(`the release binary printed no JSON (exit ${bin.code}): ${bin.stderr}${bin.stdout.slice(0, 1000)}`);
  }
  assert.equal(bin.code, 1, `exit 1 means findings; stderr: ${bin.stderr}`);
  const mine = (r: ScanReport) => r.findings.filter((f) => f.process?.pid === nc.pid).map((f) => ({ rules: f.rules, severity: f.severity, protocol: f.protocol, destination: f.destination, exe: f.process?.exe }));
  const fromBinary = mine(report);
  assert.equal(fromBinary.length, 1, JSON.stringify(report.findings));
  assert.deepEqual(fromBinary[0]?.destination, { ip: lab.external.ipv4, port });
  assert.equal(fromBinary[0]?.exe, fs.realpathSync(findExecutable('nc') as string));
  const src = await runScanJson(['--config', config]);
  assert.deepEqual(fromBinary, mine(src.report));
  assert.equal(report.adapter, src.report.adapter);
  // koffi.node beside the binary loaded, so netlink read every namespace (setns as root, outside a sandbox).
  assert.deepEqual(report.warnings.filter((w) => w.code === 'netlink-unavailable'), []);
});

test('the release binary runs the agent: eBPF capture, a finding in the file sink, status over the control socket, a clean stop', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  if (buildError) throw buildError;
  t.after(() => lab.stopAll());
  const port = 20000 + ((process.pid + 7) % 20000);
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port }]);
  const events = path.join(lab.tmpDir, 'release-run.jsonl');
  const socket = path.join(lab.tmpDir, 'release-ctl', 'bw.sock');
  const config = lab.writeFile('release-run.yaml', [
    `protocolPortList: { MQTT: [${port}], XMPP: [${port}], AMQP: [${port}], STOMP: [${port}] }`,
    `control: { socket: ${JSON.stringify(socket)} }`,
    `stateDir: ${JSON.stringify(path.join(lab.tmpDir, 'release-state'))}`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
  ].join('\n'));
  const agent = lab.spawnRoot(BIN, ['run', '--config', config]);
  await agent.waitForOutput(/capturing with eBPF/, 60_000);
  const nc = lab.spawnRoot('nc', [lab.external.ipv4, String(port)]);
  await waitForEstablished(nc, lab.external.ipv4, port);
  const line = await until('the connection in the sink', () => (fs.existsSync(events) ? fs.readFileSync(events, 'utf8').split('\n').find((l) => l.includes(`"pid":"${nc.pid}"`) || l.includes(`"pid":${nc.pid}`)) : undefined), 30_000);
  assert.match(line, /PUBSUB-EXTERNAL/);
  const status = await run(BIN, ['status', '--json', '--socket', socket]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, agent.pid);
  process.kill(agent.pid, 'SIGTERM');
  const exit = await agent.exited;
  assert.equal(exit.code, 0, agent.describe());
});

test('koffi.node is never loaded from a world-writable place or when it is not the one built with; the scan says so and reads /proc/net text', async (t) => {
  if (!needs(t, [process.platform === 'linux' && process.arch === 'x64' ? null : 'linux-x64 only', process.getuid?.() === 0 ? null : 'must run as root'])) return;
  if (buildError) throw buildError;
  const copy = (dir: string) => {
    for (const f of ['brokerwatch', 'koffi.node']) fs.copyFileSync(path.join(RELEASE_DIR, 'linux-x64', f), path.join(dir, f));
    fs.chmodSync(path.join(dir, 'brokerwatch'), 0o755);
  };
  const scanWarnings = async (dir: string) => {
    const r = await run(path.join(dir, 'brokerwatch'), ['scan', '--json']);
    assert.ok(r.code === 0 || r.code === 1, `scan ran (exit ${r.code}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as ScanReport).warnings.filter((w) => w.code === 'netlink-unavailable').map((w) => w.message).join('\n');
  };
  // A folder under /tmp (mode 1777): anyone could have planted koffi.node there.
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-release-'));
  t.after(() => fs.rmSync(temp, { recursive: true, force: true }));
  copy(temp);
  assert.match(await scanWarnings(temp), /\/tmp is writable by group or others \(mode 1777\); refusing to load .*koffi\.node/);
  // A root-owned folder, but a koffi.node that is not the one this binary was built with.
  const owned = fs.mkdtempSync(path.join(RELEASE_DIR, '.tampered-'));
  t.after(() => fs.rmSync(owned, { recursive: true, force: true }));
  copy(owned);
  fs.chmodSync(owned, 0o755);
  fs.appendFileSync(path.join(owned, 'koffi.node'), Buffer.from([0]));
  assert.match(await scanWarnings(owned), /is not the koffi 3\.3\.4 module this binary was built with/);
});

test('the .deb installs what `brokerwatch install` installs, keeps a changed config on upgrade and purges cleanly', async (t) => {
  if (!needs(t, [process.getuid?.() === 0 ? null : 'must run as root (dpkg -i)', findExecutable('dpkg') ? null : 'dpkg not found'])) return;
  if (buildError) throw buildError;
  const status = await run('dpkg-query', ['-W', '-f', '${Status}', 'brokerwatch']);
  assert.ok(status.code !== 0 || !status.stdout.includes('installed'), 'a brokerwatch package is already installed on this machine; this test installs and purges its own');
  t.after(async () => { await run('dpkg', ['--purge', 'brokerwatch']); });
  const inst = await run('dpkg', ['-i', DEB]);
  assert.equal(inst.code, 0, inst.stdout + inst.stderr);
  const expected: [string, number][] = [
    ['/opt/brokerwatch/brokerwatch', 0o755], ['/opt/brokerwatch/koffi.node', 0o644], ['/opt/brokerwatch/default.yaml', 0o644],
    ['/usr/bin/brokerwatch', 0o755], ['/usr/lib/systemd/system/brokerwatch.service', 0o644],
    ['/etc/brokerwatch', 0o750], ['/etc/brokerwatch/config.yaml', 0o640], ['/var/lib/brokerwatch', 0o700], ['/var/log/brokerwatch', 0o750],
  ];
  for (const [p, m] of expected) {
    assert.equal(mode(p), m, `${p} mode`);
    assert.equal(fs.statSync(p).uid, 0, `${p} owner`);
  }
  const listed = (await run('dpkg', ['-L', 'brokerwatch'])).stdout.split('\n');
  for (const [p] of expected) assert.ok(listed.includes(p), `dpkg -L lists ${p}`);
  assert.equal((await run('dpkg-query', ['-W', '-f', '${Conffiles}', 'brokerwatch'])).stdout.trim().split(' ')[0], '/etc/brokerwatch/config.yaml');
  const unit = fs.readFileSync('/usr/lib/systemd/system/brokerwatch.service', 'utf8');
  assert.match(unit, /^ExecStart="\/opt\/brokerwatch\/brokerwatch" run --config "\/etc\/brokerwatch\/config\.yaml"$/m);
  const verify = await run('systemd-analyze', ['verify', '/usr/lib/systemd/system/brokerwatch.service']);
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify has nothing to say about the unit');
  // The installed command works, and the installed config is valid.
  const v = await run('/usr/bin/brokerwatch', ['--version']);
  assert.equal(v.stdout.trim(), VERSION);
  const valid = await run('/usr/bin/brokerwatch', ['validate-config', '--config', '/etc/brokerwatch/config.yaml']);
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  // Upgrade (the same package again): a changed config stays.
  fs.appendFileSync('/etc/brokerwatch/config.yaml', '# changed by the admin\n');
  const again = await run('dpkg', ['-i', '--force-confold', DEB]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(fs.readFileSync('/etc/brokerwatch/config.yaml', 'utf8'), /# changed by the admin/);
  const purge = await run('dpkg', ['--purge', 'brokerwatch']);
  assert.equal(purge.code, 0, purge.stderr);
  for (const [p] of expected) assert.equal(fs.existsSync(p), false, `${p} is gone after purge`);
});

test('the .rpm holds the same files with the same modes, the config marked %config(noreplace)', async (t) => {
  if (!needs(t, [findExecutable('rpmbuild') ? null : 'rpmbuild not found (apt-get install rpm)', findExecutable('dpkg-deb') ? null : 'dpkg-deb not found'])) return;
  if (buildError) throw buildError;
  const work = fs.mkdtempSync(path.join(RELEASE_DIR, '.rpm-test-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const rpmFile = await buildRpm({ target: targetById('linux-x64'), dir: path.join(RELEASE_DIR, 'linux-x64'), version: VERSION, outDir: work, workDir: work });
  const dump = (await run('rpm', ['-qp', '--dump', rpmFile])).stdout.trim().split('\n').map((l) => l.split(' '));
  // --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
  const rpmFiles = new Map(dump.map((f) => [f[0] as string, { mode: Number.parseInt(f[4] as string, 8) & 0o7777, config: f[7] === '1', owner: f[5] }]));
  const deb = (await run('dpkg-deb', ['-c', DEB])).stdout.trim().split('\n').map((l) => l.split(/\s+/));
  const toMode = (s: string) => [1, 4, 7].reduce((m, i) => m * 8 + (s[i] === 'r' ? 4 : 0) + (s[i + 1] === 'w' ? 2 : 0) + (s[i + 2] === 'x' ? 1 : 0), 0);
  const debFiles = new Map(deb.map((f) => [(f[5] as string).replace(/^\.\//, '/').replace(/\/$/, ''), toMode(f[0] as string)]));
  const ql = (await run('rpm', ['-qlp', rpmFile])).stdout.trim().split('\n');
  assert.deepEqual([...rpmFiles.keys()].sort(), ql.sort());
  for (const [p, f] of rpmFiles) {
    assert.equal(debFiles.get(p), f.mode, `${p}: the .deb and the .rpm agree on the mode`);
    assert.equal(f.owner, 'root');
    assert.equal(f.config, p === '/etc/brokerwatch/config.yaml', `${p} config flag`);
  }
  assert.ok(rpmFiles.has('/opt/brokerwatch/brokerwatch') && rpmFiles.has('/usr/lib/systemd/system/brokerwatch.service'));
  assert.match((await run('rpm', ['-qp', '--scripts', rpmFile])).stdout, /systemctl enable --now brokerwatch\.service/);
});
