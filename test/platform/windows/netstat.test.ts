/** `netstat -ano` parser on Wine's real output and on English and German layouts (states are never translated). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseEndpoint, parseNetstat } from '../../../platform/windows/netstat/parse';
import { NetstatSource } from '../../../platform/windows/netstat/source';

const DIR = path.join(__dirname, '..', '..', 'fixtures', 'windows', 'netstat');
/** As the adapter reads it: OEM code page bytes decoded as latin1. */
const read = (f: string) => fs.readFileSync(path.join(DIR, f)).toString('latin1');

test('English layout: TCP rows with states and pids, IPv6 and IPv4-mapped rows, UDP without a state, the invalid address reported', () => {
  const r = parseNetstat(read('windows10-en-ano.txt'));
  assert.equal(r.noPidColumn, false);
  assert.equal(r.rows.length, 15);
  assert.deepEqual(r.problems, ['line 20: unreadable address in "TCP    10.0.2.15:49730        999.1.2.3:5222         ESTABLISHED     1"']);
  const xmpp = r.rows.find((x) => x.remote?.port === 5222);
  assert.deepEqual(xmpp, { transport: 'tcp', family: 4, local: { ip: '10.0.2.15', port: 49702 }, remote: { ip: '198.51.100.7', port: 5222 }, state: 'ESTABLISHED', pid: 6120, listening: false });
  const v6 = r.rows.find((x) => x.remote?.port === 61613);
  assert.deepEqual([v6?.family, v6?.local.ip, v6?.remote?.ip, v6?.pid], [6, '2001:db8::15', '2001:db8:77::2', 8120]);
  const mapped = r.rows.find((x) => x.remote?.port === 5223);
  assert.deepEqual([mapped?.local.ip, mapped?.remote?.ip], ['10.0.2.15', '198.51.100.8']);
  const udp = r.rows.filter((x) => x.transport === 'udp');
  assert.deepEqual(udp.map((x) => [x.local.ip, x.local.port, x.remote, x.state, x.pid]), [['0.0.0.0', 500, null, '', 3080], ['::', 500, null, '', 3080]]);
  assert.equal(r.rows.filter((x) => x.listening).length, 7, '5 TCP listeners and 2 UDP sockets, known by their foreign address, not by the word LISTENING');
});

test('German layout: the same rows, states kept as printed (code page 850 read as latin1)', () => {
  const r = parseNetstat(read('windows10-de-ano.txt'));
  assert.deepEqual(r.problems, []);
  assert.equal(r.rows.length, 9);
  const listening = r.rows.filter((x) => x.listening && x.transport === 'tcp');
  assert.equal(listening.length, 3);
  assert.ok(listening.every((x) => x.state === 'ABH\u0099REN'), 'ABHÖREN as cp850 bytes, untranslated');
  const xmpp = r.rows.find((x) => x.remote?.port === 5222);
  assert.deepEqual([xmpp?.state, xmpp?.pid, xmpp?.local.ip], ['HERGESTELLT', 6120, '10.0.2.20']);
  assert.equal(r.rows.find((x) => x.remote?.port === 61613)?.state, 'SCHLIESSEN_WARTEN');
});

test('Wine output: no PID column is detected and said, rows still parse', () => {
  const r = parseNetstat(read('wine8-ano.txt'));
  assert.equal(r.noPidColumn, true);
  assert.equal(r.rows.length, 2);
  assert.ok(r.rows.every((x) => x.pid === undefined && x.state === 'TIME_WAIT'));
});

test('malformed rows: missing state, bad ports, brackets without a port - each a problem, never a crash', () => {
  const r = parseNetstat(['  TCP    10.0.0.5:1', '  TCP    10.0.0.5:70000   198.51.100.7:5222   ESTABLISHED  1', '  TCP    [2001:db8::1]   [::]:0   LISTENING  4', '  TCP    10.0.0.5:50000  198.51.100.7:5222', 'garbage', ''].join('\r\n'));
  assert.equal(r.rows.length, 0);
  assert.equal(r.problems.length, 4);
  assert.equal(parseEndpoint('[2001:db8::7%12]:8883') && (parseEndpoint('[2001:db8::7%12]:8883') as { ip: string }).ip, '2001:db8::7');
});

test('the netstat adapter: outbound candidates only (no listeners, no accepted sockets), pids without the Win32 API, a warning that says so', async () => {
  const src = new NetstatSource(
    { isCandidate: (ip, port) => ip.startsWith('198.51.100.') && [1883, 5222, 8883, 5223].includes(port), isPubSubPort: (port) => [1883, 5222, 8883, 5223, 5672, 61613].includes(port) },
    { run: async () => read('windows10-en-ano.txt'), processes: () => null, now: () => new Date('2026-01-02T03:04:05Z') },
  );
  const snap = await src.snapshot();
  const byPort = new Map(snap.connections.map((c) => [c.destination.port, c]));
  assert.deepEqual([...byPort.keys()].sort((a, b) => a - b), [1883, 5222, 5223, 8883, 61613]);
  assert.deepEqual(byPort.get(5222)?.process, { pid: 6120 });
  assert.equal(byPort.get(1883)?.process, undefined, 'TIME_WAIT with pid 0: no owner');
  assert.equal(byPort.get(61613)?.process, undefined, 'not a candidate: counted, not attributed');
  assert.ok(!snap.connections.some((c) => c.source.port === 5672), 'the accepted AMQP connection is inbound');
  assert.deepEqual(snap.warnings.map((w) => w.code).sort(), ['parse-malformed-line', 'proc-api-unavailable']);
});
