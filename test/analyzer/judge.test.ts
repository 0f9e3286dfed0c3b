import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isCandidate, judgeDet0002, RULE } from '../../src/analyzer/judge';
import type { Rules } from '../../src/analyzer/rules';
import type { Finding } from '../../src/core/types';
import { event, type EventSpec, rulesWith } from './_events';

const linux = rulesWith();
const windows = rulesWith({}, { platform: 'win32' });
const darwin = rulesWith({}, { platform: 'darwin' });

function finding(spec: EventSpec, rules: Rules = linux): Finding {
  const j = judgeDet0002(event(spec), rules);
  assert.ok(j, `port ${spec.port} is a pub/sub port`);
  assert.equal(j.verdict.outcome, 'finding', j.verdict.reasons.join('; '));
  assert.ok(j.finding);
  return j.finding;
}

const plainApp = '/opt/vendor/bin/sync-agent';

describe('PUBSUB-EXTERNAL: base severity per protocol (shipped severityByProtocol)', () => {
  const cases: [number, string, string, boolean][] = [
    [1883, 'MQTT', 'HIGH', false], [8883, 'MQTT', 'HIGH', true],
    [5222, 'XMPP', 'HIGH', false], [5223, 'XMPP', 'HIGH', true], [5269, 'XMPP', 'HIGH', false],
    [61613, 'STOMP', 'HIGH', false], [61614, 'STOMP', 'HIGH', true],
    [5672, 'AMQP', 'MEDIUM', false], [5671, 'AMQP', 'MEDIUM', true],
  ];
  for (const [port, protocol, severity, tls] of cases) {
    test(`${protocol} on ${port}: ${severity}${tls ? ', tls' : ''}`, () => {
      const f = finding({ ip: '198.51.100.7', port, exe: plainApp });
      assert.deepEqual(f.rules, [RULE.external]);
      assert.equal(f.protocol, protocol);
      assert.equal(f.severity, severity);
      assert.equal(f.tls, tls);
      assert.equal(f.technique, 'T1071.005');
      assert.match(f.reasons[0] as string, new RegExp(`outbound ${protocol}${tls ? ' over TLS' : ''} connection from sync-agent`));
    });
  }

  test('a port outside protocolPortList is not judged; a protocol added by config gets defaultSeverity', () => {
    assert.equal(judgeDet0002(event({ ip: '198.51.100.7', port: 22, exe: plainApp }), linux), null);
    const custom = rulesWith({ protocolPortList: { MQTT: [1883], NATS: [4222] } });
    assert.equal(judgeDet0002(event({ ip: '198.51.100.7', port: 8883, exe: plainApp }), custom), null, 'lists replace: 8883 is gone');
    const f = finding({ ip: '198.51.100.7', port: 4222, exe: plainApp }, custom);
    assert.equal(f.protocol, 'NATS');
    assert.equal(f.severity, 'MEDIUM');
  });

  test('the finding id is stable for the same socket and differs for another destination', () => {
    const a = finding({ ip: '198.51.100.7', port: 1883, exe: plainApp, pid: 11 });
    const b = finding({ ip: '198.51.100.7', port: 1883, exe: plainApp, pid: 11 });
    const c = finding({ ip: '198.51.100.8', port: 1883, exe: plainApp, pid: 11 });
    assert.match(a.id, /^[0-9a-f]{16}$/);
    assert.equal(a.id, b.id);
    assert.notEqual(a.id, c.id);
  });
});

describe('unusualProcessList raises one step and names the analytic of the OS', () => {
  test('linux AN0003: python, nc, mosquitto_pub, anything in /tmp', () => {
    const py = finding({ ip: '198.51.100.7', port: 5672, exe: '/usr/bin/python3.11' });
    assert.deepEqual(py.rules, [RULE.external, 'AN0003']);
    assert.equal(py.severity, 'HIGH', 'AMQP MEDIUM raised one step');
    assert.ok(py.reasons.some((r) => r.includes('file name "python3.11" is on unusualProcessList.linux')));
    assert.equal(finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/nc.openbsd' }).severity, 'CRITICAL', 'MQTT HIGH raised to CRITICAL');
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/tmp/.x/agent' }).rules, [RULE.external, 'AN0003']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/dev/shm/kthreadd' }).rules, [RULE.external, 'AN0003']);
  });

  test('linux matching is case-sensitive; the process name counts when there is no exe', () => {
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5672, exe: '/opt/x/Python3' }).rules, [RULE.external]);
    const byName = finding({ ip: '198.51.100.7', port: 5672, name: 'socat' });
    assert.deepEqual(byName.rules, [RULE.external, 'AN0003']);
    assert.ok(byName.reasons.some((r) => r.startsWith('process name "socat"')));
  });

  test('windows AN0002: case-insensitive names and backslash path patterns', () => {
    const ps = finding({ ip: '198.51.100.7', port: 5672, exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.exe' }, windows);
    assert.deepEqual(ps.rules, [RULE.external, 'AN0002']);
    assert.equal(ps.severity, 'HIGH');
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 8883, exe: 'C:\\Python311\\PYTHONW.EXE' }, windows).rules, [RULE.external, 'AN0002']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 8883, exe: 'C:\\Windows\\System32\\rundll32.exe' }, windows).rules, [RULE.external, 'AN0002']);
    const pub = finding({ ip: '198.51.100.7', port: 5222, exe: 'C:\\Users\\Public\\x.exe' }, windows);
    assert.deepEqual(pub.rules, [RULE.external, 'AN0002']);
    assert.ok(pub.reasons.some((r) => r.startsWith('exe "C:\\\\Users\\\\Public\\\\x.exe"')), pub.reasons.join('\n'));
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: 'C:\\USERS\\PUBLIC\\X.EXE' }, windows).rules, [RULE.external, 'AN0002']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: 'C:\\Users\\alice\\AppData\\Local\\Temp\\u.exe' }, windows).rules, [RULE.external, 'AN0002']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: 'C:\\Program Files\\Vendor\\agent.exe' }, windows).rules, [RULE.external]);
  });

  test('darwin AN0004: osascript, curl in any case, /Users/Shared', () => {
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/osascript' }, darwin).rules, [RULE.external, 'AN0004']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/CURL' }, darwin).rules, [RULE.external, 'AN0004']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/Users/Shared/updater' }, darwin).rules, [RULE.external, 'AN0004']);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/Applications/Slack.app/Contents/MacOS/Slack' }, darwin).rules, [RULE.external]);
  });

  test('each OS uses only its own list', () => {
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/osascript' }, linux).rules, [RULE.external]);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: 'C:\\Users\\Public\\x.exe' }, linux).rules, [RULE.external]);
    assert.deepEqual(finding({ ip: '198.51.100.7', port: 5222, exe: '/usr/bin/bash' }, windows).rules, [RULE.external]);
  });
});

describe('brokerSoftware caps at MEDIUM', () => {
  test('mosquitto bridge, beam.smp, prosody federation', () => {
    const bridge = finding({ ip: '198.51.100.7', port: 8883, exe: '/usr/sbin/mosquitto' });
    assert.equal(bridge.severity, 'MEDIUM', 'MQTT HIGH capped');
    assert.ok(bridge.reasons.some((r) => r.includes('broker software')));
    assert.equal(finding({ ip: '198.51.100.7', port: 5672, exe: '/usr/lib/erlang/erts-13.1/bin/beam.smp' }).severity, 'MEDIUM');
    assert.equal(finding({ ip: '2001:db8::7', port: 5269, exe: '/usr/bin/prosody' }).severity, 'MEDIUM');
  });

  test('only the executable path counts: a process calling itself mosquitto is not capped', () => {
    assert.equal(finding({ ip: '198.51.100.7', port: 1883, name: 'mosquitto' }).severity, 'HIGH');
    assert.equal(finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/sbin/mosquitto-helper', name: 'mosquitto' }).severity, 'HIGH');
  });
});

describe('BROKER-REPUTATION', () => {
  const rules = rulesWith({
    brokerReputationList: ['198.51.100.66', { broker: '2001:db8:bad::/48', comment: 'feed X' }, '10.6.6.6'],
    brokerAllowList: ['198.51.100.66'],
    appContextFilter: [{ process: '^/opt/agent/bin/agent$' }, { process: '(^|/)mosquitto$' }],
  });

  test('CRITICAL even for an approved app on an allowlisted broker', () => {
    const f = finding({ ip: '198.51.100.66', port: 5672, exe: '/opt/agent/bin/agent' }, rules);
    assert.deepEqual(f.rules, [RULE.reputation]);
    assert.equal(f.severity, 'CRITICAL');
    assert.match(f.reasons[0] as string, /brokerReputationList \(198\.51\.100\.66\)/);
    const approved = judgeDet0002(event({ ip: '198.51.100.7', port: 5672, exe: '/opt/agent/bin/agent' }), rules);
    assert.equal(approved?.verdict.outcome, 'allowed', 'the same app elsewhere is approved');
  });

  test('CRITICAL for broker software too, with the entry comment, and for an internal address on the list', () => {
    const f = finding({ ip: '2001:db8:bad::1', port: 8883, exe: '/usr/sbin/mosquitto' }, rules);
    assert.equal(f.severity, 'CRITICAL');
    assert.match(f.reasons[0] as string, /\(2001:db8:bad::\/48: feed X\)/);
    assert.equal(finding({ ip: '10.6.6.6', port: 61613, exe: plainApp }, rules).severity, 'CRITICAL');
    assert.equal(judgeDet0002(event({ ip: '10.6.6.7', port: 61613, exe: plainApp }), rules)?.verdict.outcome, 'ignored');
  });

  test('isCandidate keeps a reputation-listed internal broker, drops other internal ones', () => {
    assert.equal(isCandidate('10.6.6.6', 61613, rules), true);
    assert.equal(isCandidate('10.6.6.7', 61613, rules), false);
    assert.equal(isCandidate('198.51.100.7', 61613, rules), true);
    assert.equal(isCandidate('198.51.100.7', 22, rules), false);
  });
});

describe('TOPIC-ANOMALY from mosquitto_pub/_sub argv', () => {
  const pubArgv = (...rest: string[]) => ['mosquitto_pub', '-h', '198.51.100.7', ...rest];
  // Base MQTT severity LOW here so that each raise is visible.
  const low = rulesWith({ severityByProtocol: { MQTT: 'LOW' } });

  test('c2/beacon topic: AN0003 for the CLI client, TOPIC-ANOMALY on top', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'c2/beacon', '-m', 'hostname=ws1') }, low);
    assert.deepEqual(f.rules, [RULE.external, 'AN0003', RULE.topic]);
    assert.equal(f.severity, 'HIGH', 'LOW + unusual + topic');
    assert.deepEqual(f.details?.topics, ['c2/beacon']);
    assert.equal(f.details?.topicAnomalyScore, 1);
    assert.ok(f.reasons.some((r) => r.startsWith('TopicAnomalyScore: topic "c2/beacon" matches')));
  });

  test('shipped defaults: mosquitto_pub c2/beacon to an external broker is CRITICAL', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'c2/beacon', '-m', 'x') });
    assert.equal(f.severity, 'CRITICAL');
  });

  test('benign sensors/kitchen/temp scores 0: no TOPIC-ANOMALY', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'sensors/kitchen/temp', '-m', '21.5') }, low);
    assert.deepEqual(f.rules, [RULE.external, 'AN0003']);
    assert.equal(f.details?.topicAnomalyScore, 0);
    assert.equal(f.details?.messageBytes, 4);
    assert.equal(f.severity, 'MEDIUM');
  });

  test('a long -m message over payloadLengthThreshold is an indicator', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'sensors/kitchen/temp', '-m', 'a'.repeat(513)) }, low);
    assert.deepEqual(f.rules, [RULE.external, 'AN0003', RULE.topic]);
    assert.equal(f.details?.messageBytes, 513);
    assert.ok(f.reasons.includes('TopicAnomalyScore: message of 513 bytes exceeds payloadLengthThreshold 512'));
    const atLimit = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'sensors/kitchen/temp', '-m', 'a'.repeat(512)) }, low);
    assert.equal(atLimit.details?.topicAnomalyScore, 0, 'exactly the threshold is not over it');
    const lowered = rulesWith({ payloadLengthThreshold: 16 });
    assert.equal(finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'a/b', '-m', 'x'.repeat(17)) }, lowered).details?.topicAnomalyScore, 1);
  });

  test('a high-entropy topic segment is an indicator; a hex device id is not', () => {
    const random = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'dev/Zx9Qm2Lr7Tb4Wk8Np1Vc6Hs3Jd5Fg0Ya', '-m', '1') }, low);
    assert.ok(random.rules.includes(RULE.topic));
    assert.ok(random.reasons.some((r) => /topic segment "Zx9Qm2Lr7Tb4Wk8Np1Vc6Hs3Jd5Fg0Ya" looks random or encoded \(entropy 5\.00 bits\/char\)/.test(r)), random.reasons.join('\n'));
    const hex = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'devices/3f2a9c4e1b7d0a6f8e5c2b1a9d4f7e0c/state', '-m', '1') }, low);
    assert.equal(hex.details?.topicAnomalyScore, 0);
  });

  test('mosquitto_sub on "#" and c2/commands/#, and the -L URL form', () => {
    const all = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_sub', argv: ['mosquitto_sub', '-t', '#'] }, low);
    assert.ok(all.rules.includes(RULE.topic));
    const cmds = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_sub', argv: ['mosquitto_sub', '-h', '198.51.100.7', '-t', 'c2/commands/#'] }, low);
    assert.deepEqual(cmds.details?.topics, ['c2/commands/#']);
    assert.ok(cmds.rules.includes(RULE.topic));
    const url = finding({ ip: '198.51.100.7', port: 8883, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-L', 'mqtts://u:p@198.51.100.7:8883/c2/beacon', '-l'] }, low);
    assert.deepEqual(url.details?.topics, ['c2/beacon']);
    assert.equal(url.details?.payloadSource, 'stdin-lines');
    assert.ok(url.rules.includes(RULE.topic));
  });

  test('threshold 2 needs two indicators; enabled: false turns it off', () => {
    const two = rulesWith({ topicAnomalyScore: { threshold: 2 } });
    const argv = pubArgv('-t', 'c2/beacon', '-m', 'x');
    assert.ok(!finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv }, two).rules.includes(RULE.topic));
    assert.ok(finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv: pubArgv('-t', 'c2/beacon', '-m', 'y'.repeat(600)) }, two).rules.includes(RULE.topic));
    const off = rulesWith({ topicAnomalyScore: { enabled: false } });
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/mosquitto_pub', argv }, off);
    assert.ok(!f.rules.includes(RULE.topic));
    assert.equal(f.details, undefined);
  });

  test('argv of any other program is not read for topics', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/python3', argv: ['python3', 'pub.py', '-t', 'c2/beacon'] });
    assert.ok(!f.rules.includes(RULE.topic));
    assert.equal(f.details, undefined);
  });
});

describe('owner unknown or suspicious', () => {
  test('TIME_WAIT without a process: a finding that says why the owner is unknown', () => {
    const f = finding({ ip: '198.51.100.7', port: 1883, process: false, state: 'TIME_WAIT' });
    assert.equal(f.process, null);
    assert.deepEqual(f.rules, [RULE.external]);
    assert.equal(f.severity, 'HIGH');
    assert.equal(f.state, 'TIME_WAIT');
    assert.ok(f.reasons.some((r) => r.includes('TIME_WAIT') && r.includes('owner is unknown')));
    assert.match(f.reasons[0] as string, /from an unknown process/);
    const other = finding({ ip: '198.51.100.7', port: 1883, process: false, state: 'ESTABLISHED' });
    assert.ok(other.reasons.some((r) => r.includes('could not be identified (see warnings)')));
  });

  test('exeDeleted adds the analytic and one raise, but not a second one for an unusual process', () => {
    const del = finding({ ip: '198.51.100.7', port: 5672, exe: '/usr/lib/x/agent', exeDeleted: true });
    assert.deepEqual(del.rules, [RULE.external, 'AN0003']);
    assert.equal(del.severity, 'HIGH');
    assert.equal(del.details?.exeDeleted, true);
    assert.ok(del.reasons.includes('the executable was deleted from disk after the process started'));
    const both = finding({ ip: '198.51.100.7', port: 5672, exe: '/tmp/bwu-capture/implant', name: 'kworker/0:1', exeDeleted: true });
    assert.deepEqual(both.rules, [RULE.external, 'AN0003']);
    assert.equal(both.severity, 'HIGH', 'MEDIUM raised once');
  });
});

describe('the shipped appContextFilter default: macOS push notifications on port 5223', () => {
  const darwin = rulesWith({}, { platform: 'darwin' });
  const apsd = '/System/Library/PrivateFrameworks/ApplePushService.framework/apsd';

  test("apsd to Apple's network is approved; the same port elsewhere, or another binary, is not", () => {
    assert.equal(judgeDet0002(event({ ip: '17.57.146.20', port: 5223, exe: apsd }), darwin)?.verdict.outcome, 'allowed');
    assert.equal(judgeDet0002(event({ ip: '198.51.100.7', port: 5223, exe: apsd }), darwin)?.verdict.outcome, 'finding');
    assert.equal(judgeDet0002(event({ ip: '17.57.146.20', port: 5223, exe: '/tmp/apsd' }), darwin)?.verdict.outcome, 'finding');
    assert.equal(judgeDet0002(event({ ip: '17.57.146.20', port: 5223, name: 'apsd' }), darwin)?.verdict.outcome, 'finding', 'a process name alone approves nothing');
  });
});
