import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { compileRules } from '../../src/analyzer/rules';
import { parseDuration } from '../../src/core/duration';
import { DEFAULT_CONFIG_NAME, defaultConfigText, packageRoot } from '../../src/config/embedded';
import { ConfigError } from '../../src/config/errors';
import { loadConfig, mergeConfig, parseYaml } from '../../src/config/load';
import { addressKind, isCidr } from '../../src/config/address-kind';

const root = packageRoot();
const examplesDir = path.join(root, 'config', 'examples');

/** Every shipped config file, found at test time: a new example is tested without touching this file. */
function shippedConfigFiles(): string[] {
  const examples = fs.existsSync(examplesDir)
    ? fs.readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(examplesDir, f))
    : [];
  return [path.join(root, 'config', 'default.yaml'), ...examples];
}

/** The ConfigError problems for one YAML text given as file "bad.yaml" (loadConfig's readFile injection). */
function problemsOf(text: string, file = 'bad.yaml'): string[] {
  try {
    loadConfig([file], () => text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('shipped config files', () => {
  test('the embedded default is config/default.yaml and loads alone', () => {
    assert.equal(defaultConfigText(), fs.readFileSync(path.join(root, 'config', 'default.yaml'), 'utf8'));
    const { config, files } = loadConfig();
    assert.deepEqual(files, [DEFAULT_CONFIG_NAME]);
    assert.equal(config.mode, 'det0002');
    assert.equal(config.timeWindow, 3_600_000, 'durations become milliseconds');
    assert.equal(config.brokerAllowListRefresh, 300_000);
    assert.deepEqual(config.protocolPortList.MQTT, [1883, 8883]);
    assert.ok(config.internalNetworks.includes('10.0.0.0/8'));
    assert.ok(!config.internalNetworks.some((c) => c.startsWith('100.64.')), '100.64.0.0/10 is external by decision');
  });

  test('config/examples is found and holds YAML files', () => {
    assert.ok(shippedConfigFiles().length >= 1);
    for (const f of shippedConfigFiles()) assert.match(f, /\.ya?ml$/);
  });

  // One test per shipped file, enumerated when this file loads: a new example is tested without an edit here.
  const base = JSON.stringify(loadConfig().config);
  for (const file of shippedConfigFiles()) {
    const name = path.relative(root, file);
    test(`${name} loads, validates and compiles for linux, win32 and darwin`, () => {
      const loaded = loadConfig([file]);
      assert.deepEqual(loaded.files, [DEFAULT_CONFIG_NAME, file]);
      for (const platform of ['linux', 'win32', 'darwin'] as const) assert.ok(compileRules(loaded.config, { platform }).ports.size > 0, `${name} on ${platform}`);
      if (name !== path.join('config', 'default.yaml')) assert.notEqual(JSON.stringify(loaded.config), base, `${name} changes something`);
    });
  }
});

describe('bad config: ConfigError names the file and the key path', () => {
  test('unknown top-level key', () => {
    assert.deepEqual(problemsOf('modee: det0002\n'), ['bad.yaml: (top level): unknown key "modee" (see config/default.yaml for the valid keys)']);
  });

  test('unknown nested keys: appContextFilter[0].proccess, topicAnomalyScore.treshold, brokerAllowList[0].port', () => {
    const [p] = problemsOf('appContextFilter:\n  - process: x\n    proccess: y\n');
    assert.match(p as string, /^bad\.yaml: appContextFilter\[0\]: unknown key "proccess"/);
    assert.match(problemsOf('topicAnomalyScore:\n  treshold: 2\n')[0] as string, /^bad\.yaml: topicAnomalyScore: unknown key "treshold"/);
    assert.match(problemsOf('brokerAllowList:\n  - broker: 198.51.100.7\n    port: [1883]\n')[0] as string, /^bad\.yaml: brokerAllowList\[0\]: unknown key "port"/);
    assert.match(problemsOf('unusualProcessList:\n  windoze: []\n')[0] as string, /^bad\.yaml: unusualProcessList: unknown key "windoze"/);
  });

  test('wrong types', () => {
    assert.deepEqual(problemsOf('payloadLengthThreshold: big\n'), ['bad.yaml: payloadLengthThreshold: Invalid input: expected number, received string']);
    assert.match(problemsOf('protocolPortList:\n  MQTT: ["1883"]\n')[0] as string, /^bad\.yaml: protocolPortList\.MQTT\[0\]: .*expected number/);
    assert.match(problemsOf('tlsPorts: [70000]\n')[0] as string, /^bad\.yaml: tlsPorts\[0\]: .*65535/);
    assert.match(problemsOf('protocolPortList:\n  MQTT: []\n')[0] as string, /^bad\.yaml: protocolPortList\.MQTT: /);
    assert.match(problemsOf('mode: yaral\n')[0] as string, /^bad\.yaml: mode: .*"det0002"\|"yaral-parity"/);
    assert.match(problemsOf('severityByProtocol:\n  MQTT: SEVERE\n')[0] as string, /^bad\.yaml: severityByProtocol\.MQTT: /);
    assert.match(problemsOf('topicAnomalyScore:\n  enabled: "yes"\n')[0] as string, /^bad\.yaml: topicAnomalyScore\.enabled: .*expected boolean/);
    assert.match(problemsOf('brokerAllowList: 198.51.100.7\n')[0] as string, /^bad\.yaml: brokerAllowList: .*expected array/);
  });

  test('bad CIDR blocks', () => {
    assert.deepEqual(problemsOf('internalNetworks: [10.0.0.0/33]\n'), ['bad.yaml: internalNetworks[0]: not a CIDR block (address/prefix such as 10.0.0.0/8 or fc00::/7): "10.0.0.0/33"']);
    assert.match(problemsOf('internalNetworks: [nonsense/8]\n')[0] as string, /^bad\.yaml: internalNetworks\[0\]: not a CIDR block .*"nonsense\/8"/);
    assert.match(problemsOf('internalNetworks: [10.0.0.0/8, fc00::/129]\n')[0] as string, /^bad\.yaml: internalNetworks\[1\]: not a CIDR block/);
    assert.match(problemsOf('internalNetworks: [10.0.0.0]\n')[0] as string, /^bad\.yaml: internalNetworks\[0\]: not a CIDR block/);
    assert.match(problemsOf('brokerAllowList: [198.51.100.0/33]\n')[0] as string, /^bad\.yaml: brokerAllowList\[0\]: not an IP address, CIDR block or host name/);
  });

  test('IP-looking host names and other bad broker entries', () => {
    assert.deepEqual(problemsOf('brokerAllowList: [198.51.100.300]\n'), ['bad.yaml: brokerAllowList[0]: not an IP address, CIDR block or host name: "198.51.100.300"']);
    assert.deepEqual(problemsOf('brokerAllowList:\n  - broker: 198.51.100.300\n    ports: [1883]\n'), ['bad.yaml: brokerAllowList[0].broker: not an IP address, CIDR block or host name: "198.51.100.300"']);
    assert.match(problemsOf('brokerReputationList: [bad_host.example]\n')[0] as string, /^bad\.yaml: brokerReputationList\[0\]: /);
    assert.match(problemsOf('appContextFilter:\n  - process: x\n    brokers: [mqtt..example.com]\n')[0] as string, /^bad\.yaml: appContextFilter\[0\]\.brokers\[0\]: /);
  });

  test('bad regular expressions', () => {
    assert.match(problemsOf('unusualProcessList:\n  linux: ["(unclosed"]\n')[0] as string, /^bad\.yaml: unusualProcessList\.linux\[0\]: not a valid regular expression "\(unclosed"/);
    assert.match(problemsOf('appContextFilter:\n  - process: "[z-a]"\n')[0] as string, /^bad\.yaml: appContextFilter\[0\]\.process: not a valid regular expression/);
    assert.match(problemsOf('topicAnomalyScore:\n  topicPatterns: ["*c2"]\n')[0] as string, /^bad\.yaml: topicAnomalyScore\.topicPatterns\[0\]: /);
    assert.match(problemsOf('brokerSoftware: ["a(?<n>b"]\n')[0] as string, /^bad\.yaml: brokerSoftware\[0\]: /);
  });

  test('bad durations', () => {
    assert.deepEqual(problemsOf('timeWindow: 1 hour\n'), ['bad.yaml: timeWindow: expected a duration such as 30s, 5m or 1h, got "1 hour"']);
    assert.match(problemsOf('brokerAllowListRefresh: 0s\n')[0] as string, /^bad\.yaml: brokerAllowListRefresh: expected a duration/);
    assert.match(problemsOf('timeWindow: -5m\n')[0] as string, /^bad\.yaml: timeWindow: /);
    assert.match(problemsOf('timeWindow: 2w\n')[0] as string, /^bad\.yaml: timeWindow: /);
  });

  test('durations a Node timer cannot hold (24.8 days and more) are errors naming the key and file, not 1 ms timers', () => {
    assert.deepEqual(problemsOf('brokerAllowListRefresh: 30d\n', '/etc/brokerwatch/site.yaml'), [
      '/etc/brokerwatch/site.yaml: brokerAllowListRefresh: "30d" is too long: the longest duration is 24d (2147483647 ms, what a timer can hold; a longer one would fire every millisecond)',
    ]);
    assert.match(problemsOf('pollInterval: 24.9d\n')[0] as string, /^bad\.yaml: pollInterval: "24\.9d" is too long/);
    assert.match(problemsOf('watchdog:\n  interval: 2147484s\n')[0] as string, /^bad\.yaml: watchdog\.interval: "2147484s" is too long/);
    assert.match(problemsOf('timeWindow: 2147484\n')[0] as string, /^bad\.yaml: timeWindow: 2147484 is too long/, 'a bare number of seconds too');
    assert.match(problemsOf('sinks:\n  - type: forwarder\n    host: h\n    keepAlive: 25d\n')[0] as string, /^bad\.yaml: sinks\[0\]\.keepAlive: "25d" is too long/);
    assert.match(problemsOf('sinks:\n  - type: forwarder\n    host: h\n    reconnect:\n      maxDelay: 30d\n')[0] as string, /^bad\.yaml: sinks\[0\]\.reconnect\.maxDelay: "30d" is too long/);
    // The longest that fits is accepted as is.
    assert.equal(loadConfig(['ok.yaml'], () => 'brokerAllowListRefresh: 2147483647ms\n').config.brokerAllowListRefresh, 2 ** 31 - 1);
    assert.equal(loadConfig(['ok.yaml'], () => 'brokerAllowListRefresh: 24d\n').config.brokerAllowListRefresh, 24 * 86_400_000);
  });

  test('a forwarder tls block without "enabled" is an error, never plaintext by surprise', () => {
    assert.deepEqual(problemsOf('sinks:\n  - type: forwarder\n    host: h\n    tls:\n      caFile: /etc/ca.pem\n'), [
      'bad.yaml: sinks[0].tls: tls sets caFile but not "enabled": events would go out as plaintext. Add "enabled: true" for TLS, or "enabled: false" to send plaintext on purpose',
    ]);
    assert.match(problemsOf('sinks:\n  - type: forwarder\n    host: h\n    tls:\n      servername: f.example\n      minVersion: TLSv1.3\n')[0] as string, /sinks\[0\]\.tls: tls sets servername, minVersion but not "enabled"/);
    const sink = (text: string) => loadConfig(['ok.yaml'], () => text).config.sinks[0];
    const on = sink('sinks:\n  - type: forwarder\n    host: h\n    tls:\n      enabled: true\n      caFile: /etc/ca.pem\n');
    assert.ok(on?.type === 'forwarder' && on.tls.enabled && on.tls.caFile === '/etc/ca.pem');
    const off = sink('sinks:\n  - type: forwarder\n    host: h\n    tls:\n      enabled: false\n      caFile: /etc/ca.pem\n');
    assert.ok(off?.type === 'forwarder' && off.tls.enabled === false, 'plaintext when said so');
    const none = sink('sinks:\n  - type: forwarder\n    host: h\n');
    assert.ok(none?.type === 'forwarder' && none.tls.enabled === false && none.tls.minVersion === 'TLSv1.2', 'no tls block: plaintext, the documented default');
  });

  test('YAML syntax errors carry line:col', () => {
    const [p] = problemsOf('mode: det0002\nprotocolPortList:\n  MQTT: [1883\n');
    assert.match(p as string, /^bad\.yaml:\d+:\d+: YAML error: /);
    const [tab] = problemsOf('mode: det0002\n\tbad: indent\n');
    assert.match(tab as string, /^bad\.yaml:2:\d+: YAML error: /);
  });

  test('duplicate keys are an error at the second one', () => {
    assert.deepEqual(problemsOf('mode: det0002\npayloadLengthThreshold: 10\nmode: yaral-parity\n'), ['bad.yaml:3:1: YAML error: Map keys must be unique']);
    assert.match(problemsOf('topicAnomalyScore:\n  threshold: 1\n  threshold: 2\n')[0] as string, /^bad\.yaml:3:3: YAML error: Map keys must be unique/);
  });

  test('a list or a scalar at the top level', () => {
    assert.deepEqual(problemsOf('- mode: det0002\n'), ['bad.yaml: expected a map of settings at the top level, got a list']);
    assert.deepEqual(problemsOf('det0002\n'), ['bad.yaml: expected a map of settings at the top level, got string']);
  });

  test('several problems in one file are all reported', () => {
    const problems = problemsOf('modee: x\npayloadLengthThreshold: big\ninternalNetworks: [10.0.0.0/33]\n');
    assert.equal(problems.length, 3);
    assert.ok(problems.every((p) => p.startsWith('bad.yaml: ')));
  });

  test('an unreadable file is named, with the reason said once', () => {
    const missing = path.join(root, 'config', 'no-such-file.yaml');
    try {
      loadConfig([missing]);
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [`${missing}: cannot read config file: ENOENT: no such file or directory, open '${missing}'`]);
    }
  });

  test('empty and comment-only files are valid: nothing is overridden', () => {
    const base = JSON.stringify(loadConfig().config);
    assert.equal(JSON.stringify(loadConfig(['empty.yaml'], () => '').config), base);
    assert.equal(JSON.stringify(loadConfig(['c.yaml'], () => '# nothing here\n').config), base);
  });
});

describe('several files: later wins, errors name the file that has the key', () => {
  const files: Record<string, string> = {
    'a.yaml': 'mode: yaral-parity\npayloadLengthThreshold: 100\n',
    'b.yaml': 'payloadLengthThreshold: 200\nbrokerAllowList: [198.51.100.7]\n',
    'bad-value.yaml': 'tlsPorts: [0]\n',
    'bad-key.yaml': 'topicAnomalyScore:\n  treshold: 2\n',
  };
  const read = (f: string) => {
    const text = files[f];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${f}'`), { code: 'ENOENT' });
    return text;
  };

  test('merged in order', () => {
    const { config, files: used } = loadConfig(['a.yaml', 'b.yaml'], read);
    assert.equal(config.mode, 'yaral-parity');
    assert.equal(config.payloadLengthThreshold, 200);
    assert.deepEqual(config.brokerAllowList, ['198.51.100.7']);
    assert.deepEqual(used, [DEFAULT_CONFIG_NAME, 'a.yaml', 'b.yaml']);
  });

  test('the problem is blamed on the file that holds the key, not on the last one', () => {
    assert.deepEqual(problemsOfFiles(['bad-value.yaml', 'a.yaml']), ['bad-value.yaml: tlsPorts[0]: Too small: expected number to be >=1']);
    const negThenA = (f: string) => (f === 'neg.yaml' ? 'payloadLengthThreshold: -1\n' : read(f));
    assert.equal(loadConfig(['neg.yaml', 'a.yaml'], negThenA).config.payloadLengthThreshold, 100, 'only the merged result is validated');
    assert.match(problemsOfFiles(['a.yaml', 'bad-key.yaml', 'b.yaml'])[0] as string, /^bad-key\.yaml: topicAnomalyScore: unknown key "treshold"/);
  });

  function problemsOfFiles(list: string[]): string[] {
    try {
      loadConfig(list, read);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    assert.fail('expected a ConfigError');
  }
});

describe('config helpers', () => {
  test('mergeConfig: maps merge key by key, lists and scalars replace', () => {
    const base = { a: { x: 1, y: [1, 2] }, l: [1, 2, 3], s: 'base' };
    assert.deepEqual(mergeConfig(base, { a: { y: [9] }, l: [], s: 'over', n: 1 }), { a: { x: 1, y: [9] }, l: [], s: 'over', n: 1 });
    assert.deepEqual(mergeConfig(base, undefined), base);
    assert.deepEqual(mergeConfig(base, { a: null }), { ...base, a: null });
    assert.deepEqual(base, { a: { x: 1, y: [1, 2] }, l: [1, 2, 3], s: 'base' }, 'the base is not mutated');
  });

  test('parseYaml: an empty document is an empty map', () => {
    assert.deepEqual(parseYaml('', 'x.yaml'), {});
    assert.deepEqual(parseYaml('a: 1\n', 'x.yaml'), { a: 1 });
  });

  test('parseDuration', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration(' 1h '), 3_600_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration(90), 90_000, 'a bare number is seconds');
    for (const bad of ['0s', '-5m', '5', '5 minutes', '1w', '', 'h']) assert.equal(parseDuration(bad), null, bad);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseDuration(bad), null, String(bad));
  });

  test('addressKind and isCidr', () => {
    assert.equal(addressKind('198.51.100.7'), 'ip');
    assert.equal(addressKind('2001:db8::7'), 'ip');
    assert.equal(addressKind('198.51.100.0/24'), 'cidr');
    assert.equal(addressKind('2001:db8::/32'), 'cidr');
    assert.equal(addressKind('mqtt.example.com'), 'hostname');
    assert.equal(addressKind('localhost'), 'hostname');
    assert.equal(addressKind('mqtt.example.com.'), 'hostname');
    for (const bad of ['198.51.100.300', '1.2.3', '10.0.0.0/33', 'nonsense/8', 'a_b.example', '-x.example', 'mqtt..example.com', '', 'http://x']) assert.equal(addressKind(bad), null, bad);
    assert.equal(isCidr('10.0.0.0/8'), true);
    assert.equal(isCidr('10.0.0.0/08'), true);
    assert.equal(isCidr('10.0.0.0/+8'), false);
    assert.equal(isCidr('fe80::/10'), true);
    assert.equal(isCidr('fe80::/129'), false);
  });
});

describe('one setting chooses the capture: adapter (capture: is a deprecated alias)', () => {
  const load = (text: string) => loadConfig(['c.yaml'], () => text);

  test('the default has adapter: auto, no capture key and no notice', () => {
    const { config, notices } = loadConfig();
    assert.equal(config.adapter, 'auto');
    assert.equal('capture' in config, false);
    assert.deepEqual(notices, []);
  });

  test('capture: ebpf / procfs / auto become adapter values, each with one notice naming the file', () => {
    const cases: [string, string][] = [
      ['capture: ebpf\n', 'ebpf'],
      ['capture: procfs\n', 'procfs'],
      ['capture: auto\n', 'auto'],
      ['capture: procfs\nadapter: lsof\n', 'lsof'], // polling with lsof, as before
      ['capture: ebpf\nadapter: lsof\n', 'ebpf'],
    ];
    for (const [text, adapter] of cases) {
      const { config, notices } = load(text);
      assert.equal(config.adapter, adapter, text);
      assert.equal('capture' in config, false, text);
      assert.equal(notices.length, 1, text);
      assert.match(notices[0] as string, new RegExp(`^c\\.yaml: capture: is deprecated .*adapter: ${adapter}`), text);
      assert.doesNotMatch(notices[0] as string, /\n/);
    }
  });

  test('a bad capture value is still an error that names the key', () => {
    assert.match(problemsOf('capture: bpf\n')[0] as string, /^bad\.yaml: capture: /);
  });
});

describe('ebpfPerfBufferPages', () => {
  const load = (text: string) => loadConfig(['c.yaml'], () => text);
  test('defaults to 64 and takes a power of two', () => {
    assert.equal(load('{}\n').config.ebpfPerfBufferPages, 64);
    assert.equal(load('ebpfPerfBufferPages: 1024\n').config.ebpfPerfBufferPages, 1024);
  });

  test('anything else is an error that names the key', () => {
    for (const bad of ['100', '0', '-8', '1.5', '8192', 'lots']) {
      assert.match(problemsOf(`ebpfPerfBufferPages: ${bad}\n`)[0] as string, /^bad\.yaml: ebpfPerfBufferPages: /, bad);
    }
  });
});
