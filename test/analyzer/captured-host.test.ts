/**
 * The shipped rules over the captured two-namespace host (test/fixtures/linux/proctree): the procfs
 * reader's events, judged end to end, in both modes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Analysis, analyzeSnapshot } from '../../src/analyzer/analyze';
import { isCandidate, RULE } from '../../src/analyzer/judge';
import type { Rules } from '../../src/analyzer/rules';
import type { Finding } from '../../src/core/types';
import { ProcfsReader } from '../../platform/linux/procfs/read';
import { materializeProctree, type Proctree } from '../fixtures/linux/materialize-proctree';
import { rulesWith } from './_events';

async function analyzeTree(tree: Proctree, rules: Rules): Promise<Analysis> {
  const reader = new ProcfsReader({ procRoot: tree.root, etcRoot: tree.etc, isCandidate: (ip, port) => isCandidate(ip, port, rules) });
  return analyzeSnapshot((await reader.snapshot()).connections, rules, 'capture-host');
}

const at = (a: Analysis, ip: string, port: number, state = 'ESTABLISHED'): Finding => {
  const hits = a.findings.filter((f) => f.destination.ip === ip && f.destination.port === port && f.state === state);
  assert.equal(hits.length, 1, `one finding for ${ip}:${port} ${state}`);
  return hits[0] as Finding;
};

describe('captured host, det0002 (shipped defaults)', () => {
  let tree: Proctree;
  let a: Analysis;
  before(async () => {
    tree = materializeProctree();
    a = await analyzeTree(tree, rulesWith());
  });
  after(() => tree.cleanup());

  test('every outbound pub/sub socket to an external broker is a finding', () => {
    assert.deepEqual(a.counts, { judged: 18, findings: 18, allowed: 0, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 });
    assert.equal(a.correlations.length, 1);
    assert.equal(a.correlations[0]?.severity, 'CRITICAL');
  });

  test('mosquitto_sub on c2/commands/# and mosquitto_pub on c2/beacon: AN0003 + TOPIC-ANOMALY', () => {
    const sub = a.findings.find((f) => f.process?.exe === '/usr/bin/mosquitto_sub');
    assert.deepEqual(sub?.rules, [RULE.external, 'AN0003', RULE.topic]);
    assert.equal(sub?.severity, 'CRITICAL');
    const pub = at(a, '2001:db8::7', 1883);
    assert.deepEqual(pub.rules, [RULE.external, 'AN0003', RULE.topic]);
    assert.deepEqual(pub.details?.topics, ['c2/beacon']);
    assert.equal(pub.details?.payloadSource, 'stdin-lines');
  });

  test('the benign mosquitto_pub (sensors/kitchen/temp) scores 0', () => {
    const benign = a.findings.find((f) => f.process?.argv?.includes('sensors/kitchen/temp'));
    assert.deepEqual(benign?.rules, [RULE.external, 'AN0003']);
    assert.equal(benign?.details?.topicAnomalyScore, 0);
  });

  test('the deleted implant posing as kworker/0:1 is flagged by path and by deletion', () => {
    const implant = at(a, '198.51.100.7', 61614);
    assert.equal(implant.process?.name, 'kworker/0:1');
    assert.deepEqual(implant.rules, [RULE.external, 'AN0003']);
    assert.equal(implant.severity, 'CRITICAL');
    assert.equal(implant.details?.exeDeleted, true);
    assert.ok(implant.reasons.some((r) => r.includes('unusualProcessList.linux (^/(tmp|var/tmp|dev/shm)/)')));
  });

  test('every state of the python client is judged; the IPv4-mapped one as 198.51.100.7 over TLS', () => {
    const mine = a.findings.filter((f) => f.process?.exe === '/tmp/bwu-capture/a b) c');
    assert.deepEqual(mine.map((f) => f.state).sort(), ['CLOSE_WAIT', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'SYN_SENT', 'SYN_SENT', 'SYN_SENT']);
    const mapped = at(a, '198.51.100.7', 8883);
    assert.equal(mapped.tls, true);
    assert.equal(mapped.protocol, 'MQTT');
    assert.equal(at(a, '198.51.100.7', 5672).severity, 'HIGH', 'AMQP MEDIUM + /tmp path');
  });

  test('unattributed sockets: TIME_WAIT says why, the vanished nc says see warnings', () => {
    const tw = at(a, '198.51.100.7', 1883, 'TIME_WAIT');
    assert.equal(tw.process, null);
    assert.ok(tw.reasons.some((r) => r.includes('(TIME_WAIT)')));
    const nc = at(a, '198.51.100.7', 5222);
    assert.equal(nc.process, null);
    assert.ok(nc.reasons.some((r) => r.includes('see warnings')));
  });

  test('allowlisting the broker network clears everything but keeps the counts honest', async () => {
    const allowed = await analyzeTree(tree, rulesWith({ brokerAllowList: ['198.51.100.0/24', '2001:db8::/32'] }));
    assert.deepEqual(allowed.counts, { judged: 18, findings: 0, allowed: 18, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 });
  });
});

describe('captured host, yaral-parity', () => {
  test('mosquitto clients on 1883 are excluded; the rest correlate into one host-level result', async () => {
    const tree = materializeProctree();
    try {
      const a = await analyzeTree(tree, rulesWith({ mode: 'yaral-parity' }));
      assert.equal(a.counts.judged, 18);
      assert.equal(a.counts.allowed, 3, 'mosquitto_sub and both mosquitto_pub');
      assert.equal(a.findings.length, 15);
      assert.deepEqual(a.correlations[0], {
        rule: RULE.yaral,
        technique: 'T1071.005',
        host: 'capture-host',
        window: 'snapshot',
        severity: 'HIGH',
        event_count: 15,
        connection_count: 5,
        protocols_seen: ['AMQP', 'MQTT', 'STOMP', 'XMPP'],
        initiating_process: ['/tmp/bwu-capture/a b) c', '/tmp/bwu-capture/implant'],
        target_ips: ['198.51.100.200', '198.51.100.7', '198.51.100.8', '2001:db8::7', '2001:db8:dead::1'],
      });
    } finally {
      tree.cleanup();
    }
  });
});
