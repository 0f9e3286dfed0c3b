import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AddressList } from '../../src/analyzer/addresses';
import { isCandidate, judgeDet0002 } from '../../src/analyzer/judge';
import { NetworkClassifier } from '../../src/analyzer/networks';
import { resolveBrokerNames, type Rules } from '../../src/analyzer/rules';
import { loadConfig } from '../../src/config/load';
import { event, fixedResolver, rulesWith } from './_events';

const app = '/opt/vendor/bin/sync-agent';

function outcome(rules: Rules, ip: string, port = 1883, exe: string | undefined = app): string | undefined {
  return judgeDet0002(event(exe === undefined ? { ip, port } : { ip, port, exe }), rules)?.verdict.outcome;
}

describe('internalNetworks (shipped defaults)', () => {
  const classifier = new NetworkClassifier(loadConfig().config.internalNetworks);
  const table: [string, string][] = [
    ['10.1.2.3', 'internal'], ['172.16.0.1', 'internal'], ['172.31.255.254', 'internal'], ['192.168.1.10', 'internal'],
    ['169.254.10.20', 'internal'], ['0.1.2.3', 'internal'],
    ['127.0.0.1', 'loopback'], ['127.8.9.10', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback'],
    ['fd12:3456::1', 'internal'], ['fc00::1', 'internal'], ['fe80::1', 'internal'], ['fe80::1%eth0', 'internal'],
    ['::ffff:10.1.2.3', 'internal'], ['::ffff:192.168.0.1', 'internal'],
    ['100.64.0.1', 'external'], ['198.51.100.7', 'external'], ['::ffff:198.51.100.7', 'external'], ['172.32.0.1', 'external'],
    ['172.15.255.255', 'external'], ['2001:db8::7', 'external'], ['not-an-ip', 'external'],
  ];
  for (const [ip, cls] of table) {
    test(`${ip} is ${cls}`, () => assert.equal(classifier.classify(ip), cls));
  }

  test('internal and loopback destinations are ignored with the reason; external ones are judged', () => {
    const rules = rulesWith();
    const internal = judgeDet0002(event({ ip: '::ffff:10.1.2.3', port: 5672, exe: app }), rules);
    assert.equal(internal?.verdict.outcome, 'ignored');
    assert.equal(internal?.verdict.destinationClass, 'internal');
    assert.deepEqual(internal?.verdict.reasons, ['internal destination (internalNetworks)']);
    const loop = judgeDet0002(event({ ip: '127.0.0.1', port: 1883, exe: app }), rules);
    assert.equal(loop?.verdict.destinationClass, 'loopback');
    assert.match(loop?.verdict.reasons[0] as string, /--include-loopback/);
    assert.equal(outcome(rules, '100.64.0.1'), 'finding', 'CGNAT space is external by decision');
    assert.equal(outcome(rules, '198.51.100.7'), 'finding');
  });

  test('includeLoopback judges 127.0.0.1 and ::1 as external, other internal ranges stay internal', () => {
    const rules = rulesWith({}, { includeLoopback: true });
    const j = judgeDet0002(event({ ip: '127.0.0.1', port: 1883, exe: app }), rules);
    assert.equal(j?.verdict.outcome, 'finding');
    assert.equal(j?.verdict.destinationClass, 'external');
    assert.equal(outcome(rules, '::1'), 'finding');
    assert.equal(outcome(rules, '::ffff:127.0.0.1'), 'finding');
    assert.equal(outcome(rules, '10.1.2.3'), 'ignored');
    assert.equal(isCandidate('127.0.0.1', 1883, rules), true);
    assert.equal(isCandidate('127.0.0.1', 1883, rulesWith()), false);
  });

  test('a custom internalNetworks list replaces the default one', () => {
    const rules = rulesWith({ internalNetworks: ['198.51.100.0/24', '2001:db8::/32'] });
    assert.equal(outcome(rules, '198.51.100.7'), 'ignored');
    assert.equal(outcome(rules, '2001:db8::7'), 'ignored');
    assert.equal(outcome(rules, '10.1.2.3'), 'finding', 'no longer internal');
  });
});

describe('brokerAllowList entry forms', () => {
  test('IP address', () => {
    const rules = rulesWith({ brokerAllowList: ['198.51.100.7'] });
    const j = judgeDet0002(event({ ip: '198.51.100.7', port: 8883, exe: app }), rules);
    assert.equal(j?.verdict.outcome, 'allowed');
    assert.deepEqual(j?.verdict.reasons, ['broker 198.51.100.7:8883 is on brokerAllowList (198.51.100.7)']);
    assert.equal(j?.finding, null);
    assert.equal(outcome(rules, '198.51.100.8'), 'finding');
  });

  test('CIDR block, IPv4 and IPv6', () => {
    const rules = rulesWith({ brokerAllowList: ['198.51.100.0/28', '2001:db8:1::/48'] });
    assert.equal(outcome(rules, '198.51.100.7'), 'allowed');
    assert.equal(outcome(rules, '198.51.100.15'), 'allowed');
    assert.equal(outcome(rules, '198.51.100.16'), 'finding');
    assert.equal(outcome(rules, '2001:db8:1::7'), 'allowed');
    assert.equal(outcome(rules, '2001:db8:2::7'), 'finding');
  });

  test('IPv6 written long or short, and IPv4-mapped destinations against IPv4 entries (and back)', () => {
    const rules = rulesWith({ brokerAllowList: ['2001:0db8:0000:0000:0000:0000:0000:0007', '198.51.100.0/24', '::ffff:10.9.8.7'] });
    assert.equal(outcome(rules, '2001:db8::7'), 'allowed');
    assert.equal(outcome(rules, '::ffff:198.51.100.7'), 'allowed');
    const reputation = rulesWith({ brokerReputationList: ['::ffff:10.9.8.7'] });
    assert.equal(judgeDet0002(event({ ip: '10.9.8.7', port: 1883, exe: app }), reputation)?.finding?.severity, 'CRITICAL');
  });

  test('an IPv4-mapped CIDR block stands for its IPv4 block (allowlist and internalNetworks)', () => {
    const rules = rulesWith({ brokerAllowList: ['::ffff:198.51.100.0/120'] });
    assert.equal(outcome(rules, '198.51.100.7'), 'allowed');
    assert.equal(outcome(rules, '::ffff:198.51.100.7'), 'allowed');
    assert.equal(outcome(rules, '198.51.101.7'), 'finding');
    const classifier = new NetworkClassifier(['::ffff:198.51.100.0/120', '::ffff:0:0/96']);
    assert.equal(classifier.classify('198.51.100.7'), 'internal');
    assert.equal(classifier.classify('100.64.0.1'), 'internal', '::ffff:0:0/96 is all of IPv4');
    assert.equal(classifier.classify('2001:db8::7'), 'external');
  });

  test('host name: matches nothing until resolved, then every address it resolved to', async () => {
    const rules = rulesWith({ brokerAllowList: ['mqtt.example.com', 'gone.example.com'] });
    assert.equal(outcome(rules, '198.51.100.20'), 'finding', 'not resolved yet');
    const resolver = fixedResolver({ 'mqtt.example.com': ['198.51.100.20', '2001:db8::20'] });
    const failures = await resolveBrokerNames(rules, resolver);
    assert.deepEqual(resolver.calls.sort(), ['gone.example.com', 'mqtt.example.com']);
    assert.deepEqual(failures, ['cannot resolve broker host name gone.example.com: ENOTFOUND; it matches nothing until it resolves']);
    assert.equal(outcome(rules, '198.51.100.20'), 'allowed');
    assert.equal(outcome(rules, '2001:db8::20'), 'allowed');
    assert.equal(outcome(rules, '198.51.100.21'), 'finding');
  });

  test('a failed refresh keeps the previous addresses; resolving to nothing is reported', async () => {
    const list = new AddressList(['mqtt.example.com', 'empty.example.com']);
    assert.deepEqual(await list.resolve(fixedResolver({ 'mqtt.example.com': ['198.51.100.20'], 'empty.example.com': [] })), ['empty.example.com: resolved to no addresses']);
    assert.deepEqual(list.match('198.51.100.20', 1883, 'MQTT'), { entry: 'mqtt.example.com' });
    const failures = await list.resolve(fixedResolver({}));
    assert.equal(failures.length, 2);
    assert.deepEqual(list.match('198.51.100.20', 1883, 'MQTT'), { entry: 'mqtt.example.com' }, 'DNS hiccup does not flip the verdict');
    assert.deepEqual(list.hostnames, ['mqtt.example.com', 'empty.example.com']);
  });

  test('limited to ports', () => {
    const rules = rulesWith({ brokerAllowList: [{ broker: '198.51.100.7', ports: [8883], comment: 'TLS only' }] });
    const j = judgeDet0002(event({ ip: '198.51.100.7', port: 8883, exe: app }), rules);
    assert.equal(j?.verdict.outcome, 'allowed');
    assert.match(j?.verdict.reasons[0] as string, /\(198\.51\.100\.7: TLS only\)$/);
    assert.equal(outcome(rules, '198.51.100.7', 1883), 'finding');
  });

  test('limited to protocols (case-insensitive names)', () => {
    const rules = rulesWith({ brokerAllowList: [{ broker: '198.51.100.0/24', protocols: ['amqp'] }] });
    assert.equal(outcome(rules, '198.51.100.7', 5672), 'allowed');
    assert.equal(outcome(rules, '198.51.100.7', 5671), 'allowed');
    assert.equal(outcome(rules, '198.51.100.7', 1883), 'finding');
    assert.equal(outcome(rules, '198.51.100.7', 5222), 'finding');
  });

  test('allowlisting does not reach internal destinations (already ignored) nor non-pub/sub ports', () => {
    const rules = rulesWith({ brokerAllowList: ['198.51.100.7'] });
    assert.equal(judgeDet0002(event({ ip: '198.51.100.7', port: 22, exe: app }), rules), null);
    assert.equal(outcome(rules, '10.1.2.3'), 'ignored');
  });
});

describe('appContextFilter', () => {
  test('approved by full executable path, limited to protocols', () => {
    const rules = rulesWith({ appContextFilter: [{ process: '(^|/)greengrass-agent$', protocols: ['MQTT'], comment: 'AWS IoT Greengrass' }] });
    const j = judgeDet0002(event({ ip: '198.51.100.7', port: 8883, exe: '/greengrass/v2/bin/greengrass-agent' }), rules);
    assert.equal(j?.verdict.outcome, 'allowed');
    assert.match(j?.verdict.reasons[0] as string, /is an approved app \(appContextFilter \(\^\|\/\)greengrass-agent\$ \(AWS IoT Greengrass\)\)/);
    assert.equal(outcome(rules, '198.51.100.7', 5672, '/greengrass/v2/bin/greengrass-agent'), 'finding', 'AMQP is not approved for it');
  });

  test('cmdline narrows an interpreter to one script', () => {
    const rules = rulesWith({ appContextFilter: [{ process: '^/usr/bin/python3(\\.[0-9]+)?$', cmdline: '^/usr/bin/python3\\S* /opt/telemetry/send\\.py( |$)' }] });
    const ok = judgeDet0002(event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/python3.11', argv: ['/usr/bin/python3', '/opt/telemetry/send.py', '--once'] }), rules);
    assert.equal(ok?.verdict.outcome, 'allowed');
    const other = judgeDet0002(event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/python3.11', argv: ['/usr/bin/python3', '/tmp/x.py', '/opt/telemetry/send.py'] }), rules);
    assert.equal(other?.verdict.outcome, 'finding');
    assert.ok(other?.finding?.rules.includes('AN0003'));
    const noArgv = judgeDet0002(event({ ip: '198.51.100.7', port: 1883, exe: '/usr/bin/python3.11' }), rules);
    assert.equal(noArgv?.verdict.outcome, 'finding', 'an unknown command line does not match');
  });

  test('brokers narrows the approval to these destinations (IP, CIDR, host name)', async () => {
    const rules = rulesWith({ appContextFilter: [{ process: '^/opt/billing/bin/worker$', brokers: ['198.51.100.0/25', 'amqp.example.com'] }] });
    assert.equal(outcome(rules, '198.51.100.7', 5672, '/opt/billing/bin/worker'), 'allowed');
    assert.equal(outcome(rules, '198.51.100.200', 5672, '/opt/billing/bin/worker'), 'finding');
    assert.equal(outcome(rules, '2001:db8::5', 5672, '/opt/billing/bin/worker'), 'finding', 'not resolved yet');
    assert.deepEqual(await resolveBrokerNames(rules, fixedResolver({ 'amqp.example.com': ['2001:db8::5'] })), []);
    assert.equal(outcome(rules, '2001:db8::5', 5672, '/opt/billing/bin/worker'), 'allowed');
  });

  test('never on the process name alone: no exe, no approval', () => {
    const rules = rulesWith({ appContextFilter: [{ process: 'greengrass-agent' }] });
    const j = judgeDet0002(event({ ip: '198.51.100.7', port: 8883, name: 'greengrass-agent' }), rules);
    assert.equal(j?.verdict.outcome, 'finding');
    assert.equal(j?.finding?.process?.exe, undefined);
    assert.equal(outcome(rules, '198.51.100.7', 8883, '/tmp/x'), 'finding', 'name matches nothing once the exe is known');
    assert.equal(outcome(rules, '198.51.100.7', 8883, '/opt/greengrass-agent'), 'allowed');
  });

  test('case-insensitive on Windows, case-sensitive on Linux', () => {
    const over = { appContextFilter: [{ process: '^c:\\\\program files\\\\vendor\\\\agent\\.exe$' }] };
    const win = rulesWith(over, { platform: 'win32' });
    assert.equal(outcome(win, '198.51.100.7', 5672, 'C:\\Program Files\\Vendor\\Agent.EXE'), 'allowed');
    const lin = rulesWith({ appContextFilter: [{ process: '^/opt/vendor/agent$' }] });
    assert.equal(outcome(lin, '198.51.100.7', 5672, '/opt/vendor/agent'), 'allowed');
    assert.equal(outcome(lin, '198.51.100.7', 5672, '/opt/Vendor/agent'), 'finding');
  });
});
