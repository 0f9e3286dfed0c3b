/**
 * `brokerwatch selftest` with real parts: the real CLI, real mosquitto, mosquitto_pub/_sub and nc,
 * eBPF or procfs capture. Each run happens inside a fresh network namespace made by the test
 * (loopback only), so the listeners on 127.0.0.1:1883/5222 never meet another test's.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { main } from '../../src/cli/main';
import type { SelftestReport } from '../../src/engine/selftest';
import { REPO_ROOT } from '../helpers/cli';
import { findExecutable } from '../helpers/lab-process';

const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');
const TOOLS = ['ip', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'nc'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-selftest-'));
const namespaces: string[] = [];
let counter = 0;

after(() => {
  for (const ns of namespaces) {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Skips (fails under CI=true) without root or a tool; returns a fresh namespace with loopback up. */
function freshNamespace(t: TestContext): string | null {
  const missing = TOOLS.filter((x) => !findExecutable(x));
  const why = process.getuid?.() !== 0 ? 'needs root' : missing.length ? `needs ${missing.join(', ')} (apt-get install iproute2 mosquitto mosquitto-clients netcat-openbsd)` : null;
  if (why) {
    if (process.env.CI === 'true') throw new Error(`selftest test ${why} (CI=true: a missing prerequisite fails)`);
    t.skip(why);
    return null;
  }
  const ns = `bwself-${process.pid}-${counter++}`;
  execFileSync('ip', ['netns', 'add', ns]);
  namespaces.push(ns);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

function pidsIn(ns: string): string[] {
  return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '');
}

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

function selftest(ns: string, args: string[], onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', ENTRY, 'selftest', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); onStderr?.(stderr, (s) => c.kill(s)); });
    c.on('error', reject);
    c.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function config(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

test('the seed tests on their own ports (real mosquitto, the default capture): all three detected, exit 0, nothing left running', async (t) => {
  const ns = freshNamespace(t);
  if (!ns) return;
  const r = await selftest(ns, ['--json']);
  assert.equal(r.code, 0, `exit 0: ${r.stderr}\n${r.stdout}`);
  const report = JSON.parse(r.stdout) as SelftestReport;
  assert.deepEqual(report.tests.map((x) => x.status), ['detected', 'detected', 'detected']);
  assert.match(report.listeners[0] ?? '', /^mosquitto \(pid \d+\) on 127\.0\.0\.1:1883$/);
  assert.deepEqual(report.tests.map((x) => x.client?.command.split(' ')[0]), ['mosquitto_pub', 'nc', 'mosquitto_sub']);
  for (const x of report.tests) {
    assert.equal(x.finding?.pid, x.client?.pid, `${x.name}: the finding names the client's pid`);
    assert.ok(x.finding?.rules.includes('PUBSUB-EXTERNAL'));
    assert.ok(x.finding?.rules.includes('AN0003'), 'an unusual process on Linux');
  }
  assert.match(report.tests[0]?.finding?.process ?? '', /mosquitto_pub$/);
  assert.ok(report.tests[0]?.finding?.rules.includes('TOPIC-ANOMALY'), 'c2/beacon is a C2-flavoured topic');
  assert.match(report.tests[2]?.expected ?? '', /c2\/commands\/#/);
  assert.deepEqual(pidsIn(ns), [], 'every process it started is gone');
});

test('procfs polling, its own listeners, ports chosen by the caller: all three detected', async (t) => {
  const ns = freshNamespace(t);
  if (!ns) return;
  const r = await selftest(ns, ['--json', '--own-listeners', '--mqtt-port', '11883', '--xmpp-port', '15222', '--config', config('procfs.yaml', 'adapter: procfs\npollInterval: 200ms\n')]);
  assert.equal(r.code, 0, `exit 0: ${r.stderr}\n${r.stdout}`);
  const report = JSON.parse(r.stdout) as SelftestReport;
  assert.equal(report.capture.source, 'procfs');
  assert.deepEqual(report.listeners, ['own MQTT listener on 127.0.0.1:11883', 'own XMPP listener on 127.0.0.1:15222']);
  assert.deepEqual(report.tests.map((x) => x.status), ['detected', 'detected', 'detected']);
  assert.deepEqual(pidsIn(ns), []);
});

test('a test that is not detected: exit 1, the rest skipped without --keep-going, all run with it', async (t) => {
  const ns = freshNamespace(t);
  if (!ns) return;
  // Allowlisting loopback's MQTT port turns the MQTT tests into "allowed": no finding.
  const allow = config('allow.yaml', 'brokerAllowList: [{ broker: 127.0.0.1, ports: [1883] }]\n');
  const r = await selftest(ns, ['--json', '--timeout', '3', '--config', allow]);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as SelftestReport;
  assert.deepEqual(report.tests.map((x) => x.status), ['missed', 'skipped', 'skipped']);
  assert.match(report.tests[0]?.note ?? '', /no finding for pid \d+ to port 1883 within 3s/);
  const all = await selftest(ns, ['--json', '--timeout', '3', '--keep-going', '--config', allow]);
  assert.equal(all.code, 1);
  assert.deepEqual((JSON.parse(all.stdout) as SelftestReport).tests.map((x) => x.status), ['missed', 'detected', 'missed']);
  assert.deepEqual(pidsIn(ns), []);
});

test('Ctrl-C: exit 2, and every process and listener it started is stopped', async (t) => {
  const ns = freshNamespace(t);
  if (!ns) return;
  let sent = false;
  const r = await selftest(ns, ['--timeout', '30', '--config', config('allow2.yaml', 'brokerAllowList: [{ broker: 127.0.0.1, ports: [1883] }]\n')], (text, kill) => {
    if (!sent && /listening: own XMPP listener/.test(text)) {
      sent = true;
      kill('SIGINT');
    }
  });
  assert.ok(sent, `it got as far as its listeners: ${r.stderr}`);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /interrupted by SIGINT: stopped every process and listener it started/);
  assert.deepEqual(pidsIn(ns), [], 'no mosquitto, client or listener left in the namespace');
});

test('usage errors exit 2 and name the option', async () => {
  const io = { out: '', err: '', stdout(s: string) { io.out += s; }, stderr(s: string) { io.err += s; } };
  assert.equal(await main(['selftest', '--mqtt-port', '70000'], io), 2);
  assert.match(io.err, /--mqtt-port must be a port number/);
  assert.equal(await main(['selftest', '--mqtt-port', '5222'], io), 2);
  assert.match(io.err, /must differ/);
});
