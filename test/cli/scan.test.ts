/**
 * `brokerwatch scan` end to end on the captured procfs tree (procRoot in a --config file), with the
 * host facts and the DNS resolver injected through ScanDeps.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixedResolver } from '../analyzer/_events';
import { scanCommand, type ScanDeps } from '../../src/cli/scan';
import { DEFAULT_CONFIG_NAME } from '../../src/config/embedded';
import type { Finding, Warning } from '../../src/core/types';
import { materializeProctree, type Proctree, readCapture } from '../fixtures/linux/materialize-proctree';

interface Report {
  adapter: string;
  mode: string;
  host: { hostname: string };
  configFiles: string[];
  warnings: Warning[];
  stats: Record<string, number>;
  summary: Record<string, number>;
  findings: Finding[];
  correlations: { event_count: number; initiating_process: string[] }[];
}

let tree: Proctree;
let out: string;
const resolver = fixedResolver({ 'fleet.example.com': ['2001:db8::7'] });

function deps(): ScanDeps & { out: string; err: string } {
  const d = {
    out: '', err: '',
    io: { stdout: (t: string) => { d.out += t; }, stderr: (t: string) => { d.err += t; } },
    resolver,
    host: async () => ({ hostname: 'capture-host', platform: 'linux' as const }),
  };
  return d;
}

function config(name: string, yaml: string): string {
  const p = path.join(out, name);
  fs.writeFileSync(p, `procRoot: ${JSON.stringify(tree.root)}\n${yaml}`);
  return p;
}

before(() => {
  // "self" makes the tree look like a procfs to the adapter check, as /proc/self does.
  tree = materializeProctree({ self: readCapture().roles['client:a b) c'] as number });
  out = fs.mkdtempSync(path.join(tree.root, '..', 'bw-scan-out-'));
});
after(() => {
  tree.cleanup();
  fs.rmSync(out, { recursive: true, force: true });
});

describe('scan on the captured tree', () => {
  test('--json: exit 1 (findings), the whole report', async () => {
    const cfg = config('plain.yaml', '');
    const d = deps();
    const code = await scanCommand(['--json', '--config', cfg], d);
    assert.equal(code, 1);
    assert.equal(d.err, '');
    const r = JSON.parse(d.out) as Report;
    assert.equal(r.adapter, 'procfs');
    assert.equal(r.mode, 'det0002');
    assert.equal(r.host.hostname, 'capture-host');
    assert.deepEqual(r.configFiles, [DEFAULT_CONFIG_NAME, cfg]);
    assert.equal(r.stats.namespaces, 2);
    assert.equal(r.findings.length, 18);
    assert.equal(r.summary.findings, 18);
    assert.equal(r.summary.ignoredInternal, 2, '10.1.2.3:5672, plain and IPv4-mapped');
    assert.equal(r.summary.ignoredLoopback, 2, '127.0.0.1:1883, plain and IPv4-mapped');
    assert.ok(r.warnings.some((w) => w.code === 'socket-unowned'), 'the vanished nc is said, not swallowed');
    assert.equal(r.correlations[0]?.event_count, 18);
    const implant = r.findings.find((f) => f.process?.exeDeleted);
    assert.equal(implant?.process?.name, 'kworker/0:1');
  });

  test('--include-loopback: the loopback connections become findings', async () => {
    const d = deps();
    assert.equal(await scanCommand(['--json', '--include-loopback', '--config', config('loop.yaml', '')], d), 1);
    const r = JSON.parse(d.out) as Report;
    assert.equal(r.findings.length, 20);
    assert.equal(r.findings.filter((f) => f.destination.ip === '127.0.0.1').length, 2);
    assert.equal(r.summary.ignoredLoopback, 0);
  });

  test('host names in the allowlist go through the injected resolver; an unresolvable one is a warning', async () => {
    const cfg = config('allow.yaml', 'brokerAllowList: [198.51.100.0/24, fleet.example.com, nowhere.example.com]\n');
    const d = deps();
    assert.equal(await scanCommand(['--json', '--config', cfg], d), 1);
    const r = JSON.parse(d.out) as Report;
    assert.deepEqual(r.findings.map((f) => `${f.destination.ip}:${f.destination.port}`).sort(), ['2001:db8:dead::1:1883']);
    assert.ok(r.warnings.some((w) => w.code === 'broker-unresolved' && w.message.includes('nowhere.example.com')));
    assert.ok(resolver.calls.includes('fleet.example.com'));
  });

  test('nothing to report: exit 0', async () => {
    const cfg = config('quiet.yaml', 'brokerAllowList: [198.51.100.0/24, 2001:db8::/32]\n');
    const d = deps();
    assert.equal(await scanCommand(['--json', '--config', cfg], d), 0);
    assert.equal((JSON.parse(d.out) as Report).findings.length, 0);
  });

  test('--output writes the report to a file and nothing to stdout', async () => {
    const file = path.join(out, 'report.json');
    const d = deps();
    assert.equal(await scanCommand(['--json', '--output', file, '--config', config('out.yaml', '')], d), 1);
    assert.equal(d.out, '');
    assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as Report).findings.length, 18);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
  });

  test('the table form names the processes, including the hostile name, as data', async () => {
    const d = deps();
    assert.equal(await scanCommand(['--config', config('table.yaml', '')], d), 1);
    assert.ok(d.out.includes('mosquitto_sub'), d.out);
    assert.ok(d.out.includes('a b) c'));
    assert.ok(d.out.includes('198.51.100.7'));
  });
});
