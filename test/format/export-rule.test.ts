/**
 * export-rule: golden files for YARA-L and Sigma (test/fixtures/export-rule/, UPDATE_GOLDEN=1
 * rewrites them; read the diff), and the YARA-L of the default config in yaral-parity mode against
 * the published rule t1071_005_pubsub_protocol_external_c2, section by section and byte for byte.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config/load';
import { generateSigma } from '../../src/format/sigma';
import { generateYaral, re2Problem, regexLiteral } from '../../src/format/yaral';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'export-rule');
const SEED = fs.readFileSync(path.join(FIXTURES, 'seed-t1071_005_pubsub_protocol_external_c2.yaral'), 'utf8');
const defaults = loadConfig([]).config;
const custom = loadConfig([path.join(FIXTURES, 'custom.yaml')]).config;

function golden(name: string, actual: string): void {
  const file = path.join(FIXTURES, name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `golden ${name} differs (UPDATE_GOLDEN=1 rewrites it; read the diff)`);
}

/** The text of each YARA-L section (meta, events, match, outcome, condition), without the header line. */
function sections(rule: string): Record<string, string> {
  const out: Record<string, string> = {};
  let current = 'header';
  for (const line of rule.split('\n')) {
    const m = /^ {2}(meta|events|match|outcome|condition):$/.exec(line);
    if (m) current = m[1] as string;
    else out[current] = `${out[current] ?? ''}${line}\n`;
  }
  return out;
}

describe('export-rule YARA-L', () => {
  test('yaral-parity with the default config is the published rule, section by section', () => {
    const { text, warnings } = generateYaral(defaults, 'yaral-parity');
    assert.deepEqual(warnings, []);
    const want = sections(SEED);
    const got = sections(text);
    assert.deepEqual(Object.keys(got), ['header', 'meta', 'events', 'match', 'outcome', 'condition']);
    for (const name of ['header', 'meta', 'events', 'match', 'outcome', 'condition']) assert.equal(got[name], want[name], `section ${name}`);
    assert.equal(text, SEED);
  });

  test('yaral-parity keeps the published ports (as the agent\'s parity judge does) and follows timeWindow', () => {
    const { text } = generateYaral(custom, 'yaral-parity');
    assert.match(text, /\$net\.target\.port in \(1883, 8883\) and/);
    assert.ok(!text.includes('11883'), 'a custom port is not in the parity rule');
    assert.match(text, /\$host over 30m/);
  });

  test('det0002 with the default config (golden)', () => {
    const { text, warnings } = generateYaral(defaults, 'det0002');
    assert.deepEqual(warnings, []);
    for (const cidr of defaults.internalNetworks) assert.ok(text.includes(`not net.ip_in_range_cidr($net.target.ip, "${cidr}")`), cidr);
    golden('default.det0002.yaral', text);
  });

  test('det0002 carries allowlist, reputation, approved apps, unusual processes and the window (golden)', () => {
    const { text, warnings } = generateYaral(custom, 'det0002');
    assert.match(text, /not net\.ip_in_range_cidr\(\$net\.target\.ip, "fd00::\/8"\)/);
    assert.match(text, /not net\.ip_in_range_cidr\(\$net\.target\.ip, "::1\/128"\)/, 'loopback is never judged unless includeLoopback');
    assert.match(text, /not net\.ip_in_range_cidr\(\$net\.target\.ip, "198\.51\.100\.8\/32"\)/);
    assert.match(text, /not \(\$net\.target\.hostname = "mqtt\.example\.com" nocase and \(\$net\.target\.port = 1883 or \$net\.target\.port = 8883 or \$net\.target\.port = 11883\)\) and\n/);
    assert.match(text, /\/\/ fleet telemetry\n +not \(\$net\.target\.hostname/);
    assert.match(text, /net\.ip_in_range_cidr\(\$net\.target\.ip, "198\.51\.100\.66\/32"\) or/);
    assert.match(text, /re\.regex\(\$net\.principal\.process\.command_line, `telemetry\\\.py`\)/);
    assert.match(text, /\$host over 30m/);
    assert.deepEqual(warnings, ['unusualProcessList.linux "^(?!ok)x$" uses look-around, which RE2 (YARA-L) does not support: fix the rule by hand']);
    golden('custom.det0002.yaral', text);
  });

  test('regex literals survive backticks; RE2 problems are named', () => {
    assert.equal(regexLiteral('a\\.b'), '`a\\.b`');
    assert.equal(regexLiteral('a`b\\d"'), '"a`b\\\\d\\""');
    assert.equal(re2Problem('(?<=x)y'), 'look-around');
    assert.equal(re2Problem('(a)\\1'), 'a back-reference');
    assert.equal(re2Problem('^nc$'), null);
  });
});

describe('export-rule Sigma', () => {
  test('det0002 rules use Sysmon Event ID 3 fields (golden)', () => {
    const { text, warnings } = generateSigma(defaults, 'det0002');
    assert.deepEqual(warnings, []);
    const docs = YAML.parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);
    assert.equal(docs.length, 2);
    for (const d of docs) {
      assert.deepEqual(d.logsource, { category: 'network_connection' });
      assert.equal(d.detection.selection.Initiated, 'true');
      assert.deepEqual(d.detection.selection.DestinationPort, [1883, 8883, 5222, 5223, 5269, 5672, 5671, 61613, 61614]);
      assert.ok(d.detection.filter_main_internal['DestinationIp|cidr'].includes('fc00::/7'));
    }
    assert.equal(docs[0]?.level, 'high');
    assert.equal(docs[1]?.level, 'critical');
    assert.match(docs[1]?.detection.condition, /and 1 of unusual_\*$/);
    assert.ok(docs[1]?.detection.unusual_windows['Image|re|i'].includes('(^|[/\\\\])rundll32\\.exe$'));
    golden('default.det0002.sigma.yml', text);
  });

  test('custom config: allowlist, reputation, approved apps (golden)', () => {
    const { text, warnings } = generateSigma(custom, 'det0002');
    const [first] = YAML.parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);
    const det = first?.detection;
    assert.deepEqual(det.filter_main_allowlist_2, { DestinationHostname: 'mqtt.example.com', DestinationPort: [1883, 8883, 11883] });
    assert.deepEqual(det.reputation_0, { 'DestinationIp|cidr': '198.51.100.66/32' });
    assert.deepEqual(det.filter_main_app_0_1, { 'Image|re': '^/opt/fleet/bin/agent$', DestinationPort: [1883, 8883, 11883], DestinationHostname: 'broker.example.com' });
    assert.equal(det.condition, 'selection and (1 of reputation_* or not 1 of filter_main_*)');
    assert.ok(warnings.some((w) => w.includes('Sysmon Event ID 3 has no command line')));
    golden('custom.det0002.sigma.yml', text);
  });

  test('yaral-parity: the published event filter (golden)', () => {
    const { text } = generateSigma(defaults, 'yaral-parity');
    const d = YAML.parse(text) as Record<string, any>;
    assert.deepEqual(d.detection.filter_main_mosquitto.DestinationPort, [1883, 8883]);
    golden('default.parity.sigma.yml', text);
  });
});

describe('brokerwatch export-rule (CLI)', () => {
  const io = () => {
    const c = { out: '', err: '', stdout: (t: string) => { c.out += t; }, stderr: (t: string) => { c.err += t; } };
    return c;
  };

  test('--mode yaral-parity prints the published rule; --output writes it', async () => {
    const a = io();
    assert.equal(await main(['export-rule', '--format', 'yaral', '--mode', 'yaral-parity'], a), 0);
    assert.equal(a.out, SEED);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-export-'));
    try {
      const b = io();
      const out = path.join(dir, 'rule.yml');
      assert.equal(await main(['export-rule', '--format', 'sigma', '--config', path.join(FIXTURES, 'custom.yaml'), '--output', out], b), 0);
      assert.equal(fs.readFileSync(out, 'utf8'), fs.readFileSync(path.join(FIXTURES, 'custom.det0002.sigma.yml'), 'utf8'));
      assert.match(b.err, /warning: appContextFilter\[1\] cmdline/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing or unknown --format or --mode is a usage error (exit 2)', async () => {
    for (const argv of [['export-rule'], ['export-rule', '--format', 'kql'], ['export-rule', '--format', 'yaral', '--mode', 'strict']]) {
      const c = io();
      assert.equal(await main(argv, c), 2, argv.join(' '));
      assert.match(c.err, /--format|--mode/);
    }
  });
});
