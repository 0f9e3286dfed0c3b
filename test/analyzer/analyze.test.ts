import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeSnapshot, correlate } from '../../src/analyzer/analyze';
import { isCandidate, judge, judgeYaral, RULE } from '../../src/analyzer/judge';
import type { Rules } from '../../src/analyzer/rules';
import { event, type EventSpec, rulesWith } from './_events';

const yaral = rulesWith({ mode: 'yaral-parity' });
const yaralLoop = rulesWith({ mode: 'yaral-parity' }, { includeLoopback: true });
const det = rulesWith();
const app = '/opt/vendor/bin/sync-agent';

function yaralOutcome(spec: EventSpec, rules: Rules = yaral): string | undefined {
  return judgeYaral(event(spec), rules)?.verdict.outcome;
}

describe('yaral-parity: the event filter verbatim', () => {
  const regexCases: [string, string][] = [
    ['172.15.0.1', 'finding'], ['172.16.0.1', 'ignored'], ['172.31.255.255', 'ignored'], ['172.32.0.1', 'finding'],
    ['10.1.2.3', 'ignored'], ['192.168.1.1', 'ignored'], ['127.0.0.1', 'ignored'],
    ['100.64.0.1', 'finding'], ['198.51.100.7', 'finding'],
    // Not in the regex, so external for the rule (det0002 calls them internal):
    ['169.254.1.1', 'finding'], ['0.1.2.3', 'finding'],
    // The regex is IPv4-only: every IPv6 destination is "external", even loopback and ULA.
    ['2001:db8::7', 'finding'], ['::1', 'finding'], ['fd00::1', 'finding'], ['fe80::1', 'finding'],
  ];
  for (const [ip, expected] of regexCases) {
    test(`${ip}: ${expected}`, () => assert.equal(yaralOutcome({ ip, port: 5222, exe: app }), expected));
  }

  test('the private regex is anchored and needs the dot: 1.10.x and 100.x do not count as 10/8', () => {
    assert.equal(yaralOutcome({ ip: '100.1.2.3', port: 5222, exe: app }), 'finding');
    assert.equal(yaralOutcome({ ip: '1.10.2.3', port: 5222, exe: app }), 'finding');
    assert.equal(yaralOutcome({ ip: '172.3.0.1', port: 5222, exe: app }), 'finding');
  });

  test('includeLoopback drops 127. from the regex, nothing else', () => {
    assert.equal(yaralOutcome({ ip: '127.0.0.1', port: 1883, exe: app }, yaralLoop), 'finding');
    assert.equal(yaralOutcome({ ip: '10.1.2.3', port: 1883, exe: app }, yaralLoop), 'ignored');
  });

  test('only the rule\'s nine ports, whatever protocolPortList says; always HIGH, tls from the port', () => {
    const custom = rulesWith({ mode: 'yaral-parity', protocolPortList: { MQTT: [1884] }, severityByProtocol: { AMQP: 'LOW' } });
    assert.equal(judgeYaral(event({ ip: '198.51.100.7', port: 1884, exe: app }), custom), null);
    const amqp = judgeYaral(event({ ip: '198.51.100.7', port: 5671, exe: app }), yaral);
    assert.equal(amqp?.finding?.severity, 'HIGH');
    assert.equal(amqp?.finding?.protocol, 'AMQP');
    assert.equal(amqp?.finding?.tls, true);
    assert.deepEqual(amqp?.finding?.rules, [RULE.yaral]);
    assert.equal(judgeYaral(event({ ip: '198.51.100.7', port: 5672, exe: app }), custom)?.finding?.severity, 'HIGH');
  });

  test('mosquitto, mosquitto_pub, mosquitto_sub are excluded on 1883/8883 only', () => {
    for (const exe of ['/usr/bin/mosquitto_pub', '/usr/bin/mosquitto_sub', '/usr/sbin/mosquitto']) {
      assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe }), 'allowed', exe);
      assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 8883, exe }), 'allowed', exe);
      assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 5222, exe }), 'finding', `${exe} on XMPP`);
    }
    assert.deepEqual(judgeYaral(event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub' }), yaral)?.verdict.reasons,
      ['YARA-L excludes mosquitto/mosquitto_pub/mosquitto_sub on MQTT ports']);
  });

  test('the exclusion is (?i) and allows .exe: full Windows paths in any case', () => {
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 8883, exe: 'C:\\Program Files\\mosquitto\\MOSQUITTO_PUB.EXE' }), 'allowed');
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe: 'C:\\Program Files\\mosquitto\\mosquitto_sub.exe' }), 'allowed');
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/Mosquitto_Pub' }), 'allowed');
  });

  test('the exclusion reads the full path only: the end of the path counts, a name alone does not', () => {
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, name: 'mosquitto_pub' }), 'finding', 'no exe: full_path is empty');
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub.sh' }), 'finding');
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_passwd' }), 'finding');
    // Unanchored at the start, exactly like the rule: anything ending in "mosquitto" is excluded.
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 1883, exe: '/tmp/notmosquitto' }), 'allowed');
  });

  test('no allowlists, no approved apps, no reputation in parity mode', () => {
    const rules = rulesWith({ mode: 'yaral-parity', brokerAllowList: ['198.51.100.7'], appContextFilter: [{ process: '.*' }] });
    assert.equal(yaralOutcome({ ip: '198.51.100.7', port: 5222, exe: app }, rules), 'finding');
  });

  test('isCandidate follows the rule\'s regex in parity mode', () => {
    assert.equal(isCandidate('::1', 5222, yaral), true);
    assert.equal(isCandidate('::1', 5222, det), false);
    assert.equal(isCandidate('169.254.1.1', 5222, yaral), true);
    assert.equal(isCandidate('172.20.0.1', 5222, yaral), false);
    assert.equal(isCandidate('198.51.100.7', 443, yaral), false);
    assert.equal(isCandidate('127.0.0.1', 1883, yaralLoop), true);
  });
});

describe('yaral-parity through analyzeSnapshot: #net > 1 per host', () => {
  test('a single matching event is not a finding', () => {
    const a = analyzeSnapshot([event({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/python3.11' })], yaral, 'ws1');
    assert.deepEqual(a.findings, []);
    assert.deepEqual(a.correlations, []);
    assert.equal(a.connections.length, 1);
    assert.equal(a.connections[0]?.verdict.outcome, 'allowed');
    assert.ok(a.connections[0]?.verdict.reasons.some((r) => r.includes('#net > 1')));
    assert.deepEqual(a.counts, { judged: 1, findings: 0, allowed: 1, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 });
  });

  test('two events: both are findings, plus one correlation with the rule\'s outcome variables', () => {
    const a = analyzeSnapshot([
      event({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/python3.11' }),
      event({ ip: '2001:db8::7', port: 61613, exe: '/usr/bin/nc.openbsd' }),
      event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub' }),
      event({ ip: '10.1.2.3', port: 5672, exe: '/usr/bin/python3.11' }),
      event({ ip: '198.51.100.7', port: 443, exe: '/usr/bin/curl' }),
    ], yaral, 'ws1');
    assert.equal(a.findings.length, 2);
    assert.ok(a.findings.every((f) => f.severity === 'HIGH' && f.rules[0] === RULE.yaral));
    assert.equal(a.correlations.length, 1);
    const c = a.correlations[0];
    assert.deepEqual(c, {
      rule: 't1071_005_pubsub_protocol_external_c2',
      technique: 'T1071.005',
      host: 'ws1',
      window: 'snapshot',
      severity: 'HIGH',
      event_count: 2,
      connection_count: 2,
      protocols_seen: ['STOMP', 'XMPP'],
      initiating_process: ['/usr/bin/nc.openbsd', '/usr/bin/python3.11'],
      target_ips: ['198.51.100.7', '2001:db8::7'],
    });
    assert.deepEqual(a.counts, { judged: 3, findings: 2, allowed: 1, ignoredInternal: 1, ignoredLoopback: 0, inbound: 0 });
  });

  test('connection_count is distinct target IPs; processes without exe are left out of initiating_process', () => {
    const a = analyzeSnapshot([
      event({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/python3.11' }),
      event({ ip: '198.51.100.7', port: 5672, exe: '/usr/bin/python3.11' }),
      event({ ip: '198.51.100.7', port: 5671, process: false, state: 'TIME_WAIT' }),
    ], yaral, 'ws1');
    const c = a.correlations[0];
    assert.equal(c?.event_count, 3);
    assert.equal(c?.connection_count, 1);
    assert.deepEqual(c?.protocols_seen, ['AMQP', 'XMPP']);
    assert.deepEqual(c?.initiating_process, ['/usr/bin/python3.11']);
  });
});

describe('det0002 and yaral-parity disagree on mosquitto_pub (documented)', () => {
  const pub = () => event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-h', '198.51.100.7', '-t', 'c2/beacon', '-m', 'x'] });

  test('det0002: a CRITICAL finding (AN0003 + TOPIC-ANOMALY); yaral-parity: excluded', () => {
    const d = judge(pub(), det);
    assert.equal(d?.verdict.outcome, 'finding');
    assert.deepEqual(d?.finding?.rules, [RULE.external, 'AN0003', RULE.topic]);
    assert.equal(d?.finding?.severity, 'CRITICAL');
    assert.equal(judge(pub(), yaral)?.verdict.outcome, 'allowed');
    const both = [pub(), pub()];
    assert.equal(analyzeSnapshot(both, det, 'ws1').findings.length, 2);
    assert.equal(analyzeSnapshot(both, yaral, 'ws1').findings.length, 0);
  });
});

describe('analyzeSnapshot in det0002 mode', () => {
  test('counts: judged, findings, allowed, ignored internal and loopback; other ports are not counted at all', () => {
    const rules = rulesWith({ brokerAllowList: ['198.51.100.8'] });
    const a = analyzeSnapshot([
      event({ ip: '198.51.100.7', port: 5672, exe: app }),
      event({ ip: '2001:db8::7', port: 5222, exe: '/usr/bin/python3.11' }),
      event({ ip: '198.51.100.8', port: 1883, exe: app }),
      event({ ip: '10.1.2.3', port: 1883, exe: app }),
      event({ ip: 'fd00::5', port: 1883, exe: app }),
      event({ ip: '127.0.0.1', port: 1883, exe: app }),
      event({ ip: '::1', port: 5222, exe: app }),
      event({ ip: '198.51.100.7', port: 22, exe: app }),
    ], rules, 'ws1');
    assert.deepEqual(a.counts, { judged: 3, findings: 2, allowed: 1, ignoredInternal: 2, ignoredLoopback: 2, inbound: 0 });
    assert.equal(a.connections.length, 3, 'only judged connections are listed');
    assert.ok(a.connections.every((c) => c.direction === 'outbound'));
    assert.deepEqual(a.connections.map((c) => c.verdict.outcome), ['finding', 'finding', 'allowed']);
  });

  test('one finding stands alone (no #net rule); two add a correlation at the highest severity', () => {
    const one = analyzeSnapshot([event({ ip: '198.51.100.7', port: 5672, exe: app })], det, 'ws1');
    assert.equal(one.findings.length, 1);
    assert.deepEqual(one.correlations, []);
    const two = analyzeSnapshot([
      event({ ip: '198.51.100.7', port: 5672, exe: app }),
      event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/nc.openbsd' }),
    ], det, 'ws1');
    assert.equal(two.correlations.length, 1);
    assert.equal(two.correlations[0]?.severity, 'CRITICAL');
    assert.equal(two.correlations[0]?.rule, RULE.yaral);
    assert.deepEqual(two.correlations[0]?.protocols_seen, ['AMQP', 'MQTT']);
  });

  test('correlate needs more than one finding', () => {
    assert.equal(correlate([], 'ws1', 'snapshot', 'det0002'), null);
    const f = analyzeSnapshot([event({ ip: '198.51.100.7', port: 5672, exe: app })], det, 'ws1').findings;
    assert.equal(correlate(f, 'ws1', 'snapshot', 'det0002'), null);
    const window = { start: '2026-11-22T05:00:00.000Z', end: '2026-11-22T06:00:00.000Z' };
    assert.deepEqual(correlate([...f, ...f], 'ws1', window, 'det0002')?.window, window);
  });
});
