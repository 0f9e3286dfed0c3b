/**
 * Wire inspection with real parts: wire.bt under the real bpftrace, a real mosquitto on a lab host
 * (plain on 8080, TLS on 8883), a Python implant speaking raw MQTT with nothing on its command
 * line, real nc/socat/curl/openssl clients; the events go through the real analyzer.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judge } from '../../src/analyzer/judge';
import { loadConfig } from '../../src/config/load';
import type { ConnectionEvent, Finding, WireInfo } from '../../src/core/types';
import { WireSource, wirePorts } from '../../platform/linux/wire/source';
import { rulesWith } from '../analyzer/_events';
import { type Lab, realPython3, requireExecutable, sleep, useLab, waitForPort } from '../helpers/lab';
import { makeTestPki } from '../helpers/test-pki';

const labs = useLab(['mosquitto', 'bpftrace', 'openssl', 'nc', 'socat', 'curl', 'python3']);
const IMPLANT = path.join(__dirname, '..', 'helpers', 'mqtt-implant.py');
const rules = rulesWith();
const config = loadConfig().config;
const events: ConnectionEvent[] = [];
let source: WireSource | null = null;

async function eventFor(pid: number, port: number, timeoutMs = 15_000): Promise<ConnectionEvent> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const e = events.find((x) => x.process?.pid === pid && x.destination.port === port);
    if (e) return e;
    if (Date.now() > end) throw new Error(`no wire event for pid ${pid} port ${port} (events: ${events.map((x) => `${x.process?.pid}:${x.destination.port}`).join(' ')})`);
    await sleep(100);
  }
}

/** One unique /etc/hosts line, removed exactly (other tests may edit the file meanwhile). */
function addHostsLine(ip: string): { name: string; remove(): void } {
  const name = `bw-wire-${crypto.randomBytes(4).toString('hex')}.test`;
  const line = `${ip} ${name}`;
  fs.appendFileSync('/etc/hosts', `${line}\n`);
  return {
    name,
    remove() {
      const text = fs.readFileSync('/etc/hosts', 'utf8');
      const kept = text.split('\n').filter((l) => l !== line);
      if (kept.length !== text.split('\n').length) fs.writeFileSync('/etc/hosts', kept.join('\n'));
    },
  };
}

function findingOf(e: ConnectionEvent): Finding {
  const j = judge(e, rules);
  assert.ok(j?.finding, `a finding for ${JSON.stringify(e.wire)}: ${j?.verdict.reasons.join('; ')}`);
  return j.finding;
}

describe('wire inspection on real connections', () => {
  let lab: Lab | undefined;
  before(async () => {
    source = new WireSource({ settings: { ...config.wireInspection, enabled: true }, ports: wirePorts(config) });
  });
  after(async () => { await source?.close(); });

  test('a Python MQTT implant on port 8080: MQTT from the wire, AN0005, topic, rate, entropy, and the host name it resolved', async (t) => {
    lab = labs.get(t);
    if (!lab) return;
    t.after(() => lab?.stopAll());
    await source!.start((e) => events.push(e));
    await lab.startMosquitto(lab.external, 8080);
    const hosts = addHostsLine(lab.external.ipv4);
    t.after(() => hosts.remove());
    const topic = `c2/beacon/${crypto.randomBytes(6).toString('base64url')}`;
    const implant = lab.spawnRoot(await realPython3(), [IMPLANT], { stdin: `${JSON.stringify({ host: hosts.name, port: 8080, topic, count: 0, interval: 0.2 })}\n` });
    await implant.waitForOutput(/published 3/);
    const e = await eventFor(implant.pid, 8080);
    assert.equal(e.inspection, 'plaintext');
    assert.equal(e.destination.hostname, hosts.name);
    assert.equal(e.process?.exe, await realPython3());
    const f = findingOf(e);
    assert.equal(f.protocol, 'MQTT');
    assert.ok(f.rules.includes('PUBSUB-UNUSUAL-PORT'), f.rules.join());
    assert.ok(f.rules.includes('TOPIC-ANOMALY'), f.rules.join());
    assert.ok(f.rules.includes('HIGH-FREQUENCY-PUBLISH'), f.rules.join());
    const w = f.details?.wire as WireInfo;
    assert.deepEqual(w.topics, [topic]);
    assert.ok(w.publishCount >= 5, `publishes ${w.publishCount}`);
    assert.ok(w.publishRate !== null && w.publishRate > 3 && w.publishRate < 7, `rate ${w.publishRate}`);
    assert.ok((w.payload?.meanEntropy ?? 0) > 4.5, `entropy ${w.payload?.meanEntropy}`);
    assert.equal(f.details?.hostname, hosts.name);
    assert.match(f.reasons.join('\n'), /"bw-wire-[0-9a-f]{8}\.test"/);
  });

  test('the same implant over TLS on 8883: topics through the libssl probes; Node (static OpenSSL) is none, static TLS', async (t) => {
    lab = labs.get(t);
    if (!lab) return;
    t.after(() => lab?.stopAll());
    if (source!.libraries.libssl.length === 0) assert.fail('no libssl found to probe');
    const pki = await makeTestPki(requireExecutable('openssl'), path.join(lab.tmpDir, 'pki'));
    const conf = lab.writeFile('mosquitto-tls.conf', [`listener 8883 ${lab.external.ipv4}`, 'allow_anonymous true', 'persistence false', 'user root',
      `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, ''].join('\n'));
    const broker = lab.spawnIn(lab.external, 'mosquitto', ['-c', conf]);
    await waitForPort(lab.external.ipv4, 8883, 10_000, broker);
    const topic = `c2/beacon/${crypto.randomBytes(6).toString('base64url')}`;
    const implant = lab.spawnRoot(await realPython3(), [IMPLANT], {
      stdin: `${JSON.stringify({ host: lab.external.ipv4, port: 8883, tls: true, cafile: pki.caFile, servername: null, topic, count: 0, interval: 0.2 })}\n`,
    });
    await implant.waitForOutput(/published 3/);
    const e = await eventFor(implant.pid, 8883);
    assert.equal(e.inspection, 'tls-plaintext');
    const f = findingOf(e);
    assert.equal(f.protocol, 'MQTT');
    assert.equal(f.tls, true);
    assert.deepEqual((f.details?.wire as WireInfo).topics, [topic]);
    assert.match(f.reasons.join('\n'), /TLS plaintext, through libssl|confirm MQTT/);

    // Node carries its own, statically linked OpenSSL: no libssl to probe, and the event says so.
    const nodeScript = [
      "const tls = require('node:tls');",
      `const s = tls.connect({ host: ${JSON.stringify(lab.external.ipv4)}, port: 8883, ca: require('node:fs').readFileSync(${JSON.stringify(pki.caFile)}), checkServerIdentity: () => undefined }, () => {`,
      "  s.write(Buffer.from([0x10, 0x10, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 4, 0x6e, 0x6f, 0x64, 0x65]));",
      "  setInterval(() => s.write(Buffer.from([0x30, 5, 0, 1, 0x74, 0x68, 0x69])), 200);",
      "  console.log('tls up');",
      '});',
    ].join('\n');
    const staticTls = lab.spawnRoot(process.execPath, ['-e', nodeScript]);
    await staticTls.waitForOutput(/tls up/);
    const st = await eventFor(staticTls.pid, 8883);
    assert.equal(st.inspection, 'none, static TLS');
    assert.equal(st.wire?.protocol, 'TLS');
    assert.match(findingOf(st).reasons.join('\n'), /could not be inspected \(none, static TLS\)/);
  });

  test('STOMP, AMQP and XMPP first bytes from nc, socat and python on unusual ports; HTTP and TLS to 1883 are not taken for MQTT', async (t) => {
    lab = labs.get(t);
    if (!lab) return;
    t.after(() => lab?.stopAll());
    const ip = lab.external.ipv4;
    await lab.startTcpSink(lab.external, [8000, 8888, 9000, 1883].map((port) => ({ ip, port })));
    const stomp = lab.spawnRoot('nc', ['-q', '3', ip, '8000'], { stdin: 'CONNECT\naccept-version:1.2\nhost:stomp.example.test\n\n\u0000SEND\ndestination:/queue/c2.tasks\n\nhi\u0000', closeStdin: true });
    const amqp = lab.spawnRoot(await realPython3(), ['-c', `import socket,time;s=socket.create_connection(("${ip}",8888));s.sendall(b"AMQP\\x00\\x00\\x09\\x01");time.sleep(3)`]);
    const xmpp = lab.spawnRoot('socat', ['-t', '3', '-', `TCP:${ip}:9000`], { stdin: "<?xml version='1.0'?><stream:stream to='chat.example.test' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", closeStdin: true });
    const curl = lab.spawnRoot('curl', ['-s', '-m', '3', `http://${ip}:1883/status`]);
    const tls = lab.spawnRoot('openssl', ['s_client', '-connect', `${ip}:1883`, '-servername', 'broker.example.test'], { stdin: '' });
    const [es, ea, ex, eh, et] = await Promise.all([eventFor(stomp.pid, 8000), eventFor(amqp.pid, 8888), eventFor(xmpp.pid, 9000), eventFor(curl.pid, 1883), eventFor(tls.pid, 1883)]);
    assert.deepEqual([es.wire?.protocol, es.wire?.topics], ['STOMP', ['/queue/c2.tasks']]);
    assert.deepEqual([ea.wire?.protocol, ea.wire?.version], ['AMQP', '0-9-1']);
    assert.deepEqual([ex.wire?.protocol, ex.wire?.serverName], ['XMPP', 'chat.example.test']);
    for (const e of [es, ea, ex]) assert.ok(findingOf(e).rules.includes('PUBSUB-UNUSUAL-PORT'));
    assert.equal(eh.wire?.protocol, 'HTTP');
    assert.match(findingOf(eh).reasons.join('\n'), /lower confidence: the first bytes are HTTP, not MQTT/);
    assert.equal(et.wire?.protocol, 'TLS');
    assert.equal(et.wire?.serverName, 'broker.example.test');
    assert.equal(et.inspection, 'none, TLS plaintext not seen', 'openssl maps the probed libssl, but sends no application data');
    assert.match(findingOf(et).reasons.join('\n'), /lower confidence: the first bytes are TLS, not MQTT/);
  });
});

