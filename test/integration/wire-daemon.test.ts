/**
 * Wire inspection inside the `run` daemon: the real agent with wireInspection on, the eBPF connect
 * tracer and wire.bt side by side, a real mosquitto on a lab host, the Python raw-MQTT implant.
 * One socket stays one record: a connection on a pub/sub port is reported once, with its wire facts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli';
import { realPython3, useLab } from '../helpers/lab';
import { until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 30000): Promise<T> => waitUntil(what, fn, timeoutMs, 200);

const labs = useLab(['mosquitto', 'bpftrace', 'python3']);
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');
const IMPLANT = path.join(__dirname, '..', 'helpers', 'mqtt-implant.py');

interface UdmLine {
  principal?: { process?: { pid?: string } };
  target?: { hostname?: string; port?: number };
  security_result?: { rule_id?: string }[];
}

test('the daemon with wireInspection on: AN0005 on 8080 with its topic; one record per socket on 1883', async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const events = path.join(lab.tmpDir, 'events.jsonl');
  const config = lab.writeFile('wire-daemon.yaml', [
    'adapter: ebpf',
    `control: { socket: ${JSON.stringify(path.join(lab.tmpDir, 'ctl', 'bw.sock'))} }`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
    'wireInspection: { enabled: true }',
  ].join('\n'));
  const daemon = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
  await daemon.waitForOutput(/wire inspection on/, 60_000);
  await daemon.waitForOutput(/capturing with/, 60_000);
  await lab.startMosquitto(lab.external, 8080);
  await lab.startMosquitto(lab.external, 1883);
  const python = await realPython3();
  const topic = `c2/beacon/${crypto.randomBytes(6).toString('base64url')}`;
  const unusual = lab.spawnRoot(python, [IMPLANT], { stdin: `${JSON.stringify({ host: lab.external.ipv4, port: 8080, topic, count: 0, interval: 0.2 })}\n` });
  const usual = lab.spawnRoot(python, [IMPLANT], { stdin: `${JSON.stringify({ host: lab.external.ipv4, port: 1883, topic, count: 0, interval: 0.2 })}\n` });
  const read = (): { line: UdmLine; text: string }[] => (fs.existsSync(events) ? fs.readFileSync(events, 'utf8').split('\n').filter((l) => l !== '').map((text) => ({ line: JSON.parse(text) as UdmLine, text })) : []);
  const of = (pid: number) => read().filter((r) => r.line.principal?.process?.pid === String(pid));
  const a = await until('the 8080 finding', () => of(unusual.pid)[0]);
  assert.match(a.text, /PUBSUB-UNUSUAL-PORT/);
  assert.ok(a.text.includes(topic), 'the topic from the wire is in the record');
  assert.equal(a.line.target?.port, 8080);
  const b = await until('the 1883 finding', () => of(usual.pid)[0]);
  assert.ok(b.text.includes(topic), 'the connect event waited for its wire facts');
  assert.match(b.text, /HIGH-FREQUENCY-PUBLISH/);
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(of(usual.pid).length, 1, 'one socket, one record');
  assert.equal(of(unusual.pid).length, 1, 'one socket, one record');
  process.kill(daemon.pid, 'SIGTERM');
  assert.equal((await daemon.exited).code, 0, daemon.describe());
});
