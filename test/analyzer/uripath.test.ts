import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeSnapshot } from '../../src/analyzer/analyze';
import { isCandidate, judge } from '../../src/analyzer/judge';
import { compileRules, type Rules } from '../../src/analyzer/rules';
import { findBrokerUri, protocolOfPath } from '../../src/analyzer/uripath';
import { loadConfig, mergeConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import type { ConnectionEvent } from '../../src/core/types';

const shipped = loadConfig().config;

function rules(override: Record<string, unknown> = {}, platform: NodeJS.Platform = 'linux'): Rules {
  return compileRules(mergeConfig(shipped, override) as Config, { platform });
}

function conn(port: number, argv: string[] | null, exe = '/usr/local/bin/widget', ip = '198.51.100.7'): ConnectionEvent {
  const e: ConnectionEvent = {
    time: '2026-01-02T03:04:05.000Z', adapter: 'test', transport: 'tcp', family: ip.includes(':') ? 6 : 4, state: 'ESTABLISHED',
    source: { ip: '10.0.0.5', port: 50000 }, destination: { ip, port },
  };
  if (argv) e.process = { pid: 4242, exe, name: exe.split('/').pop() as string, argv, cmdline: argv.join(' ') };
  return e;
}

const defaults = rules().uriPathRegex;

describe('findBrokerUri', () => {
  test('URLs with a scheme: the path is matched, user info and query never leave', () => {
    assert.deepEqual(findBrokerUri('client --url wss://user:secret@broker.example:8084/mqtt?token=abc', defaults), {
      url: 'wss://broker.example:8084/mqtt', path: '/mqtt', pattern: '/mqtt(\\b|/|$)', tls: true,
    });
    assert.equal(findBrokerUri('curl http://198.51.100.7:8083/MQTT', defaults)?.path, '/MQTT', 'case-insensitive');
    assert.equal(findBrokerUri("python3 -c connect('ws://[2001:db8::7]:15675/ws')", defaults)?.url, 'ws://[2001:db8::7]:15675/ws');
    assert.equal(findBrokerUri('x --bosh=https://chat.example/http-bind/', defaults)?.path, '/http-bind/');
    assert.equal(findBrokerUri('x https://chat.example/xmpp-websocket', defaults)?.tls, true);
  });

  test('scheme-less host:port/path (curl accepts it); percent-encoded paths are decoded', () => {
    assert.equal(findBrokerUri('curl 198.51.100.7:8083/mqtt', defaults)?.url, '198.51.100.7:8083/mqtt');
    assert.equal(findBrokerUri('curl https://198.51.100.7/%6Dqtt', defaults)?.path, '/mqtt');
  });

  test('plain paths, file paths and near misses are not broker URIs', () => {
    for (const cmd of [
      'curl https://198.51.100.7:8083/index.html',
      'python3 /home/u/ws/client.py',           // a file path, not a URL
      'python3 /opt/app.d/mqtt/run.py',         // no scheme and no port
      'curl https://198.51.100.7/mqttx',        // /mqtt is not followed by a boundary
      'curl https://198.51.100.7/api?next=/mqtt', // the query is not the path
      'curl https://198.51.100.7',
    ]) assert.equal(findBrokerUri(cmd, defaults), null, cmd);
    assert.equal(findBrokerUri('curl https://198.51.100.7/mqtt', []), null, 'an empty uriPathRegex turns the rule off');
    assert.equal(findBrokerUri(undefined, defaults), null);
  });

  test('the path names the protocol', () => {
    assert.deepEqual(['/mqtt', '/stomp', '/http-bind', '/xmpp-websocket', '/ws'].map(protocolOfPath), ['MQTT', 'STOMP', 'XMPP', 'XMPP', 'WEBSOCKET']);
  });
});

describe('URI-PATH judgement', () => {
  test('a broker URI on a web port is a finding with the matched path; severity one below the protocol', () => {
    const j = judge(conn(8083, ['/usr/local/bin/widget', '--url', 'ws://198.51.100.7:8083/mqtt']), rules());
    assert.equal(j?.verdict.outcome, 'finding');
    assert.deepEqual(j?.finding?.rules, ['URI-PATH']);
    assert.equal(j?.finding?.protocol, 'MQTT');
    assert.equal(j?.finding?.severity, 'MEDIUM', 'severityByProtocol MQTT HIGH, one step lower');
    assert.equal(j?.finding?.tls, false);
    assert.deepEqual(j?.finding?.details, { uriPath: '/mqtt', uriPathRegex: '/mqtt(\\b|/|$)', url: 'ws://198.51.100.7:8083/mqtt', webBrokerPort: 8083 });
  });

  test('an unusual process raises it and adds the analytic of the OS (AN0004 on macOS)', () => {
    const curl = conn(443, ['curl', 'https://198.51.100.7/mqtt'], '/usr/bin/curl');
    const linux = judge(curl, rules());
    assert.deepEqual([linux?.finding?.rules, linux?.finding?.severity, linux?.finding?.tls], [['URI-PATH', 'AN0003'], 'HIGH', true]);
    const mac = judge(curl, rules({}, 'darwin'));
    assert.deepEqual(mac?.finding?.rules, ['URI-PATH', 'AN0004']);
  });

  test('a plain path, a non-web port, an unknown process: no judgement at all', () => {
    assert.equal(judge(conn(8083, ['curl', 'http://198.51.100.7:8083/index.html'], '/usr/bin/curl'), rules()), null);
    assert.equal(judge(conn(8080, ['curl', 'http://198.51.100.7:8080/mqtt'], '/usr/bin/curl'), rules()), null);
    assert.equal(judge(conn(8083, null), rules()), null);
  });

  test('brokerAllowList, appContextFilter and internal destinations apply as to every finding', () => {
    const c = conn(8084, ['/opt/iot/agent', 'wss://198.51.100.7:8084/mqtt'], '/opt/iot/agent');
    assert.equal(judge(c, rules({ brokerAllowList: ['198.51.100.7'] }))?.verdict.outcome, 'allowed');
    assert.equal(judge(c, rules({ brokerAllowList: [{ broker: '198.51.100.7', protocols: ['STOMP'] }] }))?.verdict.outcome, 'finding', 'limited to another protocol');
    const approved = judge(c, rules({ appContextFilter: [{ process: '^/opt/iot/agent$', protocols: ['MQTT'] }] }));
    assert.equal(approved?.verdict.outcome, 'allowed');
    assert.match(approved?.verdict.reasons[0] ?? '', /approved app/);
    assert.equal(judge(conn(8084, ['x', 'wss://10.1.2.3:8084/mqtt'], '/opt/iot/agent', '10.1.2.3'), rules())?.verdict.outcome, 'ignored');
  });

  test('a reputation-listed broker is CRITICAL even for an approved app', () => {
    const c = conn(443, ['/opt/iot/agent', 'https://198.51.100.66/stomp'], '/opt/iot/agent', '198.51.100.66');
    const j = judge(c, rules({ brokerReputationList: ['198.51.100.66'], appContextFilter: [{ process: '^/opt/iot/agent$' }] }));
    assert.deepEqual([j?.finding?.rules, j?.finding?.severity, j?.finding?.protocol], [['BROKER-REPUTATION', 'URI-PATH'], 'CRITICAL', 'STOMP']);
  });

  test('yaral-parity mode does not run it (the YARA-L rule has no such filter)', () => {
    assert.equal(judge(conn(8083, ['curl', 'http://198.51.100.7:8083/mqtt'], '/usr/bin/curl'), rules({ mode: 'yaral-parity' })), null);
  });

  test('analyzeSnapshot counts it as a judged finding', () => {
    const a = analyzeSnapshot([conn(15675, ['python3', 'x.py', 'ws://198.51.100.7:15675/ws'], '/usr/bin/python3')], rules(), 'host');
    assert.equal(a.findings.length, 1);
    assert.equal(a.findings[0]?.protocol, 'WEBSOCKET');
    assert.equal(a.counts.judged, 1);
  });
});

describe('isCandidate with web ports', () => {
  test('web ports are candidates only while uriPathRegex has entries, and only to external destinations', () => {
    const r = rules();
    assert.deepEqual([443, 8443, 8083, 8084, 15675, 15674].map((p) => isCandidate('198.51.100.7', p, r)), [true, true, true, true, true, true]);
    assert.equal(isCandidate('10.1.2.3', 443, r), false);
    assert.equal(isCandidate('198.51.100.7', 8080, r), false);
    assert.equal(isCandidate('198.51.100.7', 443, rules({ uriPathRegex: [] })), false, 'no patterns: no attribution cost');
    assert.equal(isCandidate('198.51.100.7', 443, rules({ webBrokerPorts: [8083] })), false);
    assert.equal(isCandidate('10.1.2.3', 8083, rules({ brokerReputationList: ['10.1.2.3'] })), true, 'a reputation-listed internal broker');
    assert.equal(isCandidate('198.51.100.7', 443, rules({ mode: 'yaral-parity' })), false);
  });
});
