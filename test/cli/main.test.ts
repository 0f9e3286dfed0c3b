import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CliIO } from '../../src/cli/common';
import { MAIN_HELP, main } from '../../src/cli/main';
import { SCAN_HELP } from '../../src/cli/scan';
import { VALIDATE_HELP } from '../../src/cli/validate-config';
import { DEFAULT_CONFIG_NAME, packageRoot } from '../../src/config/embedded';

interface Captured extends CliIO {
  out: string;
  err: string;
}

function captureIO(): Captured {
  const io: Captured = { out: '', err: '', stdout: (t) => { io.out += t; }, stderr: (t) => { io.err += t; } };
  return io;
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO();
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

/** The options a help text lists, with whether each takes a value ("--output FILE"). */
function listedOptions(help: string): { name: string; value: boolean }[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)( [A-Z]+)?/gm)].map((m) => ({ name: m[1] as string, value: m[2] !== undefined }));
}

let dir: string;
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-cli-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('brokerwatch validate-config', () => {
  test('a bad file: exit 2, the file and key path on stderr, nothing on stdout', async () => {
    const bad = file('bad.yaml', 'appContextFilter:\n  - process: x\n    proccess: y\ntimeWindow: soon\n');
    const r = await run('validate-config', '--config', bad);
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /^brokerwatch: invalid configuration:\n/);
    assert.ok(r.err.includes(`  ${bad}: appContextFilter[0]: unknown key "proccess"`), r.err);
    assert.ok(r.err.includes(`  ${bad}: timeWindow: expected a duration`), r.err);
  });

  test('--json: exit 2 and one JSON document on stdout', async () => {
    const bad = file('bad-json.yaml', 'internalNetworks: [10.0.0.0/33]\n');
    const r = await run('validate-config', '--config', bad, '--json');
    assert.equal(r.code, 2);
    assert.equal(r.err, '');
    assert.ok(r.out.endsWith('}\n'));
    assert.deepEqual(JSON.parse(r.out), {
      valid: false,
      problems: [`${bad}: internalNetworks[0]: not a CIDR block (address/prefix such as 10.0.0.0/8 or fc00::/7): "10.0.0.0/33"`],
      files: [bad],
    });
  });

  test('a YAML syntax error keeps its line:col through the CLI', async () => {
    const bad = file('syntax.yaml', 'mode: det0002\nmode: det0002\n');
    const r = await run('validate-config', '--config', bad);
    assert.equal(r.code, 2);
    assert.ok(r.err.includes(`${bad}:2:1: YAML error: Map keys must be unique`), r.err);
  });

  test('a missing file: exit 2, named', async () => {
    const missing = path.join(dir, 'missing.yaml');
    const r = await run('validate-config', '--config', missing);
    assert.equal(r.code, 2);
    assert.ok(r.err.includes(`${missing}: cannot read config file: ENOENT`), r.err);
  });

  test('a good file: exit 0; --json says valid with every file merged', async () => {
    const good = file('good.yaml', 'brokerAllowList: [198.51.100.7, { broker: 2001:db8::/32, protocols: [AMQP] }]\n');
    const r = await run('validate-config', '--config', good);
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    assert.equal(r.out, `config OK: ${DEFAULT_CONFIG_NAME} + ${good}\n`);
    const j = await run('validate-config', '--json', '--config', good);
    assert.equal(j.code, 0);
    assert.deepEqual(JSON.parse(j.out), { valid: true, problems: [], notices: [], files: [DEFAULT_CONFIG_NAME, good] });
  });

  test('--print shows the effective configuration after the merge, in the units the agent uses', async () => {
    const good = file('print.yaml', 'brokerAllowList: [198.51.100.7]\ntimeWindow: 2m\n');
    const j = await run('validate-config', '--json', '--print', '--config', good);
    assert.equal(j.code, 0, j.err);
    const doc = JSON.parse(j.out) as { valid: boolean; config: { brokerAllowList: unknown[]; timeWindow: number; mode: string } };
    assert.equal(doc.valid, true);
    assert.deepEqual(doc.config.brokerAllowList, ['198.51.100.7']);
    assert.equal(doc.config.timeWindow, 120_000);
    assert.equal(doc.config.mode, 'det0002', 'what the file leaves out comes from the default');
    const text = await run('validate-config', '--print', '--config', good);
    assert.equal(text.code, 0);
    assert.deepEqual(JSON.parse(text.out.slice(text.out.indexOf('\n') + 1)), doc.config);
  });

  test('the deprecated capture: still validates, with a one-line note saying what to write instead', async () => {
    const old = file('old.yaml', 'capture: procfs\n');
    const r = await run('validate-config', '--config', old);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^config OK: .*\\n  note: ${old.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: capture: is deprecated .*Replace \`capture: procfs\` with \`adapter: procfs\`\\n$`));
  });

  test('every shipped example validates through the CLI', async () => {
    const examples = path.join(packageRoot(), 'config', 'examples');
    const files = fs.readdirSync(examples).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(files.length > 0);
    for (const f of files) {
      const r = await run('validate-config', '--config', path.join(examples, f));
      assert.equal(r.code, 0, `${f}: ${r.err}`);
    }
  });

  test('--help lists its options, exit 0', async () => {
    const r = await run('validate-config', '--help');
    assert.equal(r.code, 0);
    assert.equal(r.out, VALIDATE_HELP);
    assert.deepEqual(listedOptions(r.out).map((o) => o.name).sort(), ['--config', '--help', '--json', '--print']);
  });
});

describe('brokerwatch scan --help and option errors', () => {
  test('scan --help: exit 0 and every option is mentioned', async () => {
    const r = await run('scan', '--help');
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
    assert.equal(r.out, SCAN_HELP);
    for (const opt of ['--json', '--output', '--config', '--include-loopback', '--adapter', '--help', '-h']) assert.ok(r.out.includes(opt), opt);
    assert.match(r.out, /--adapter NAME .*auto \(default\), .*procfs/);
    assert.match(r.out, /Exit codes: 0 no findings, 1 findings, 2 error/);
  });

  test('every option the help lists is one the parser accepts', async () => {
    const listed = listedOptions(SCAN_HELP);
    assert.ok(listed.length >= 6);
    for (const { name, value } of listed) {
      const argv = value ? ['scan', name, 'x', '--help'] : ['scan', name, '--help'];
      const r = await run(...argv);
      assert.equal(r.code, 0, `${name}: ${r.err}`);
    }
  });

  test('an unknown option: exit 2, the option named, a pointer to --help', async () => {
    const r = await run('scan', '--bogus');
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.equal(r.err, "brokerwatch: Unknown option '--bogus'\nRun brokerwatch scan --help for usage.\n");
    const v = await run('validate-config', '--conifg', 'x.yaml');
    assert.equal(v.code, 2);
    assert.match(v.err, /Unknown option '--conifg'/);
  });

  test('an option missing its value, and a stray positional: exit 2', async () => {
    const r = await run('scan', '--config');
    assert.equal(r.code, 2);
    assert.match(r.err, /--config/);
    const p = await run('scan', 'now');
    assert.equal(p.code, 2);
    assert.match(p.err, /now/);
  });

  test('an unknown adapter: exit 2 with the choices', async () => {
    const r = await run('scan', '--adapter', 'winpcap');
    assert.equal(r.code, 2);
    assert.match(r.err, /^brokerwatch: winpcap adapter unavailable: unknown adapter; choose one of: auto, .*procfs/);
  });

  test('scan with a bad config: exit 2 before anything is read', async () => {
    const bad = file('scan-bad.yaml', 'mode: paranoid\n');
    const r = await run('scan', '--config', bad);
    assert.equal(r.code, 2);
    assert.ok(r.err.includes(`${bad}: mode: `), r.err);
  });

  test('procRoot without a procfs: exit 2, one clear line', async () => {
    const cfg = file('noproc.yaml', `procRoot: ${JSON.stringify(dir)}\n`);
    const r = await run('scan', '--config', cfg, '--adapter', 'procfs');
    assert.equal(r.code, 2);
    assert.equal(r.err, `brokerwatch: procfs adapter unavailable: no procfs at ${dir} (set procRoot in the config)\n`);
  });
});

describe('brokerwatch top level', () => {
  test('no arguments: the help on stdout and exit 2', async () => {
    const r = await run();
    assert.equal(r.code, 2);
    assert.equal(r.out, MAIN_HELP);
    assert.equal(r.err, '');
  });

  test('--help, -h and help: exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['help', '--help'], ['help', '-h'], ['help', 'help'], ['help', 'version']]) {
      const r = await run(...argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.equal(r.out, MAIN_HELP);
    }
    const h = await run('help', 'scan');
    assert.equal(h.code, 0);
    assert.equal(h.out, SCAN_HELP);
    const bad = await run('help', 'nonsense');
    assert.equal(bad.code, 2);
    assert.equal(bad.out, MAIN_HELP);
    assert.equal(bad.err, 'brokerwatch: no help for "nonsense": not a command (the list is above)\n');
  });

  test('the main help names every command it dispatches', async () => {
    for (const cmd of ['scan', 'validate-config', 'help', 'version']) assert.match(MAIN_HELP, new RegExp(`^ {2}${cmd}\\b`, 'm'), cmd);
  });

  test('an unknown command: exit 2', async () => {
    const r = await run('scna');
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.equal(r.err, 'brokerwatch: unknown command "scna"; run brokerwatch --help for the list\n');
  });

  test('version prints package.json\'s version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    for (const argv of [['version'], ['--version'], ['-V']]) {
      const r = await run(...argv);
      assert.equal(r.code, 0);
      assert.equal(r.out, `${pkg.version}\n`);
    }
  });
});
