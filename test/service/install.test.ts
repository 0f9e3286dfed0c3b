/**
 * install / uninstall with the real CLI into temp roots (--root): the unit passes
 * `systemd-analyze verify` without a word, the plist parses, dry runs write nothing, upgrades keep
 * the config, uninstall removes what install wrote. Never touches the live system.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { installCommand, reportFailedCommands } from '../../src/cli/install';
import { applyPlan } from '../../src/service/install';
import { LINUX_LAYOUT } from '../../src/service/install/linux';
import { plistProgram } from '../../src/service/install/macos';
import { fillTemplate, systemdArg, systemdExecutable, xmlText } from '../../src/service/install/render';
import { REPO_ROOT } from '../helpers/cli';
import { findExecutable } from '../helpers/lab';
import { needs } from '../control/needs';

/** plist 5 is ESM-only (no "require" export): loaded with a dynamic import from this CommonJS test. */
const loadPlist = async () => import('plist');

let tmp = '';
/** A package built from this tree's sources (what `install` copies is dist/, which must not be stale). */
let pkg = '';
before(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'bw-inst-')));
  pkg = path.join(tmp, 'package');
  fs.mkdirSync(pkg);
  for (const f of ['package.json', 'package-lock.json', 'bin', 'config', 'installers', 'platform']) fs.cpSync(path.join(REPO_ROOT, f), path.join(pkg, f), { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  const tsc = await run(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', path.join(pkg, 'dist')]);
  // Exit 2 is "type errors, output written": the typecheck reports those; what matters here is the build.
  const built = fs.existsSync(path.join(pkg, 'dist', 'src', 'cli', 'main.js'));
  assert.ok(tsc.code === 0 || (tsc.code === 2 && built), `building the test package failed:\n${tsc.stdout}${tsc.stderr}`);
});

/** The built package's CLI (bin/brokerwatch.js, as an installed agent runs it). */
const cli = (args: string[], node = process.execPath) => run(node, [path.join(pkg, 'bin', 'brokerwatch.js'), ...args]);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const newRoot = () => path.join(tmp, `root${n++}`);

const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => fs.existsSync(path.join(d, 'multi-user.target')));

function run(file: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** `systemd-analyze verify --root=DIR` needs the systemd unit tree (targets the unit pulls in) under DIR. */
function addSystemdTree(root: string): void {
  const to = path.join(root, 'usr', 'lib', 'systemd', 'system');
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(SYSTEM_UNITS as string, to, { recursive: true, verbatimSymlinks: true });
}

function verifyPrereqs(t: TestContext): string | null {
  const analyze = findExecutable('systemd-analyze');
  if (!needs(t, [process.platform === 'linux' ? null : 'Linux only', analyze ? null : 'systemd-analyze not found', SYSTEM_UNITS ? null : 'no systemd unit tree (multi-user.target)'])) return null;
  return analyze;
}

const unitText = (root: string) => fs.readFileSync(path.join(root, 'etc/systemd/system/brokerwatch.service'), 'utf8');
const mode = (p: string) => fs.statSync(p).mode & 0o7777;

describe('install --root on Linux', () => {
  it('stages the runtime package, config, state and a unit that systemd-analyze verify accepts without a warning', async (t) => {
    const analyze = verifyPrereqs(t);
    if (!analyze) return;
    const root = newRoot();
    const r = await cli(['install', '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /not run \(--root\): \/(usr\/)?bin\/systemctl enable --now brokerwatch.service/);

    const unit = unitText(root);
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    assert.equal(exec, `"${process.execPath}" "/opt/brokerwatch/bin/brokerwatch.js" run --config "/etc/brokerwatch/config.yaml"`);
    assert.ok(fs.existsSync(path.join(root, 'opt/brokerwatch/bin/brokerwatch.js')), 'ExecStart names the staged CLI');
    // The service's node is the host's; put it in the tree where ExecStart points.
    fs.mkdirSync(path.join(root, path.dirname(process.execPath)), { recursive: true });
    fs.copyFileSync(process.execPath, path.join(root, process.execPath));
    fs.chmodSync(path.join(root, process.execPath), 0o755);
    addSystemdTree(root);
    const v = await run(analyze, ['verify', `--root=${root}`, path.join(root, 'etc/systemd/system/brokerwatch.service')]);
    assert.deepEqual({ code: v.code, stderr: v.stderr, stdout: v.stdout }, { code: 0, stderr: '', stdout: '' });

    assert.equal(mode(path.join(root, 'var/lib/brokerwatch')), 0o700);
    assert.equal(mode(path.join(root, 'var/log/brokerwatch')), 0o750);
    assert.equal(mode(path.join(root, 'etc/brokerwatch/config.yaml')), 0o640);
    assert.equal(mode(path.join(root, 'etc/systemd/system/brokerwatch.service')), 0o644);
    assert.equal(mode(path.join(root, 'var/lib')), 0o755, 'parents stay ordinary');
    const modules = fs.readdirSync(path.join(root, 'opt/brokerwatch/node_modules'));
    for (const prod of ['winston', 'zod', 'yaml', 'ipaddr.js']) assert.ok(modules.includes(prod), `${prod} installed`);
    for (const dev of ['typescript', 'tsx', 'plist', 'esbuild']) assert.ok(!modules.includes(dev), `dev package ${dev} left out`);
    assert.ok(!fs.existsSync(path.join(root, 'opt/brokerwatch/src')) && !fs.existsSync(path.join(root, 'opt/brokerwatch/test')), 'no sources or tests');

    // The staged package runs on its own production modules, and the starter config is valid.
    const staged = await run(process.execPath, [path.join(root, 'opt/brokerwatch/bin/brokerwatch.js'), 'validate-config', '--config', path.join(root, 'etc/brokerwatch/config.yaml')]);
    assert.equal(staged.code, 0, staged.stderr);
    assert.match(fs.readFileSync(path.join(root, 'etc/brokerwatch/config.yaml'), 'utf8'), /type: file\n\s+path: '\/var\/log\/brokerwatch\/events.jsonl'/);
  });

  it('copies node into the package when it lives where the sandbox hides it (here: a temp folder)', async (t) => {
    const analyze = verifyPrereqs(t);
    if (!analyze) return;
    const nodeDir = path.join(tmp, `node bin ${n++}`);
    fs.mkdirSync(nodeDir);
    const node = path.join(nodeDir, 'node');
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o755);
    const root = newRoot();
    const r = await cli(['install', '--root', root], node);
    assert.equal(r.code, 0, r.stderr);
    assert.match(unitText(root), /^ExecStart="\/opt\/brokerwatch\/node\/bin\/node" "\/opt\/brokerwatch\/bin\/brokerwatch.js" run/m);
    assert.equal(mode(path.join(root, 'opt/brokerwatch/node/bin/node')), 0o755);
    assert.match(fs.readFileSync(path.join(root, 'usr/local/bin/brokerwatch'), 'utf8'), /^exec '\/opt\/brokerwatch\/node\/bin\/node' '\/opt\/brokerwatch\/bin\/brokerwatch.js' "\$@"$/m);
    addSystemdTree(root);
    const v = await run(analyze, ['verify', `--root=${root}`, path.join(root, 'etc/systemd/system/brokerwatch.service')]);
    assert.deepEqual({ code: v.code, stderr: v.stderr, stdout: v.stdout }, { code: 0, stderr: '', stdout: '' });
  });

  it('quotes paths so systemd finds an executable with spaces, % and $ in its path', async (t) => {
    const analyze = verifyPrereqs(t);
    if (!analyze) return;
    const root = newRoot();
    const exe = '/opt/odd dir/50% $HOME/bin';
    fs.mkdirSync(path.join(root, path.dirname(exe)), { recursive: true });
    fs.copyFileSync('/bin/sh', path.join(root, exe));
    fs.chmodSync(path.join(root, exe), 0o755);
    const unit = fillTemplate('[Service]\nExecStart=@EXE@ @ARG@\n', { EXE: systemdExecutable(exe), ARG: systemdArg('a "quoted" 100% $HOME \\ arg') });
    assert.equal(unit, '[Service]\nExecStart="/opt/odd dir/50%% $HOME/bin" "a \\"quoted\\" 100%% $$HOME \\\\ arg"\n');
    fs.mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/systemd/system/odd.service'), unit);
    addSystemdTree(root);
    const v = await run(analyze, ['verify', `--root=${root}`, path.join(root, 'etc/systemd/system/odd.service')]);
    assert.deepEqual({ code: v.code, stderr: v.stderr }, { code: 0, stderr: '' });
    assert.throws(() => systemdExecutable("/opt/o'brien/node"), /quote or a backslash/);
    assert.throws(() => systemdArg('line\nInjected=yes'), /control character/);
  });

  it('--dry-run prints every file and command and writes nothing', async () => {
    const root = newRoot();
    const r = await cli(['install', '--root', root, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(root), false);
    assert.match(r.stdout, new RegExp(`write ${root}/etc/systemd/system/brokerwatch.service \\(0644\\)\\n  \\| # brokerwatch - systemd unit`));
    assert.match(r.stdout, /  \| CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n/);
    assert.match(r.stdout, /write .*\/etc\/brokerwatch\/config.yaml \(0640, only if missing: kept on upgrade\) - starter config\n  \| # brokerwatch - this host's configuration/);
    assert.match(r.stdout, /mkdir .*\/var\/lib\/brokerwatch \(0700\)/);
    assert.match(r.stdout, /copy the runtime package .* node_modules\/ \(\d+ production packages/);
    assert.match(r.stdout, /would run: \S*systemctl daemon-reload/);
    assert.match(r.stdout, /would run: \S*systemctl enable --now brokerwatch.service/);
  });

  it('installing twice upgrades in place: the package is replaced, a changed config is kept; uninstall keeps config unless --purge', async () => {
    const root = newRoot();
    assert.equal((await cli(['install', '--root', root])).code, 0);
    const configFile = path.join(root, 'etc/brokerwatch/config.yaml');
    fs.writeFileSync(configFile, 'brokerAllowList: [198.51.100.8]\n');
    fs.writeFileSync(path.join(root, 'opt/brokerwatch/stale-from-old-version.js'), '');
    fs.writeFileSync(path.join(root, 'var/lib/brokerwatch/watchdog-exits.json'), '{"exits":[]}');
    const again = await cli(['install', '--root', root]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /config.yaml .*: kept \(already there\)/);
    assert.match(again.stdout, /not run \(--root\): \S*systemctl restart brokerwatch.service/);
    assert.equal(fs.readFileSync(configFile, 'utf8'), 'brokerAllowList: [198.51.100.8]\n');
    assert.equal(fs.existsSync(path.join(root, 'opt/brokerwatch/stale-from-old-version.js')), false, 'the old package was replaced whole');
    assert.deepEqual(fs.readdirSync(path.join(root, 'opt')), ['brokerwatch'], 'no staging folders left');

    const dry = await cli(['uninstall', '--root', root, '--purge', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would run: \S*systemctl disable --now brokerwatch.service/);
    assert.ok(fs.existsSync(path.join(root, 'opt/brokerwatch')) && fs.existsSync(configFile), 'dry run removed nothing');

    const un = await cli(['uninstall', '--root', root]);
    assert.equal(un.code, 0, un.stderr);
    for (const gone of ['opt/brokerwatch', 'etc/systemd/system/brokerwatch.service', 'usr/local/bin/brokerwatch']) assert.equal(fs.existsSync(path.join(root, gone)), false, gone);
    for (const kept of ['etc/brokerwatch/config.yaml', 'var/lib/brokerwatch/watchdog-exits.json', 'var/log/brokerwatch']) assert.ok(fs.existsSync(path.join(root, kept)), kept);
    assert.match(un.stdout, /kept: \/etc\/brokerwatch \(config\)/);

    const purge = await cli(['uninstall', '--root', root, '--purge']);
    assert.equal(purge.code, 0, purge.stderr);
    for (const gone of ['etc/brokerwatch', 'var/lib/brokerwatch', 'var/log/brokerwatch']) assert.equal(fs.existsSync(path.join(root, gone)), false, gone);
  });

  it('leaves a /usr/local/bin/brokerwatch that is not its own alone', async () => {
    const root = newRoot();
    const wrapper = path.join(root, 'usr/local/bin/brokerwatch');
    fs.mkdirSync(path.dirname(wrapper), { recursive: true });
    fs.writeFileSync(wrapper, '#!/bin/sh\necho mine\n');
    assert.equal((await cli(['install', '--root', root])).code, 0);
    assert.equal(fs.readFileSync(wrapper, 'utf8'), '#!/bin/sh\necho mine\n');
    assert.equal((await cli(['uninstall', '--root', root])).code, 0);
    assert.equal(fs.readFileSync(wrapper, 'utf8'), '#!/bin/sh\necho mine\n');
  });

  it('checks --config before writing anything, and installs a valid one', async () => {
    const bad = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(bad, 'mode: sometimes\n');
    const root = newRoot();
    const r = await cli(['install', '--root', root, '--config', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid configuration:\n  .*bad.yaml: mode: /);
    assert.equal(fs.existsSync(root), false);
    const good = path.join(tmp, 'good.yaml');
    fs.writeFileSync(good, '# fleet config\nbrokerAllowList: [198.51.100.9]\n');
    assert.equal((await cli(['install', '--root', root, '--config', good])).code, 0);
    assert.equal(fs.readFileSync(path.join(root, 'etc/brokerwatch/config.yaml'), 'utf8'), '# fleet config\nbrokerAllowList: [198.51.100.9]\n');
  });
});

describe('when the service manager is missing', () => {
  it('says what was installed and exactly what to run (a plan with only commands, so nothing is written)', async () => {
    const missing = path.join(tmp, 'no-such-dir', 'systemctl');
    const out: string[] = [];
    const { failed } = await applyPlan({
      action: 'install', layout: LINUX_LAYOUT, before: [], steps: [], notes: [],
      after: [{ file: missing, args: ['daemon-reload'], why: 'reload' }, { file: missing, args: ['enable', '--now', 'brokerwatch.service'], why: 'start' }],
    }, { root: '/', dryRun: false, out: (s) => out.push(s) });
    assert.deepEqual(failed.map((f) => f.why), [`${missing} not found`, 'not run: an earlier command failed']);
    let stderr = '';
    const code = reportFailedCommands({ stdout: () => undefined, stderr: (s) => { stderr += s; } }, 'the files are installed (/opt/brokerwatch)', failed);
    assert.equal(code, 2);
    assert.equal(stderr, [
      'brokerwatch: the files are installed (/opt/brokerwatch), but the service manager step failed:',
      `  ${missing} daemon-reload: ${missing} not found`,
      `  ${missing} enable --now brokerwatch.service: not run: an earlier command failed`,
      'Run these yourself, as root:',
      `  ${missing} daemon-reload`,
      `  ${missing} enable --now brokerwatch.service`,
      '',
    ].join('\n'));
  });
});

describe('install on macOS and Windows (rendered here)', () => {
  it('renders a launchd plist that parses as a property list with the expected keys', async () => {
    const root = newRoot();
    const out: string[] = [];
    const code = await installCommand(['--root', root], { io: { stdout: (s) => out.push(s), stderr: (s) => out.push(s) }, platform: 'darwin', nodePath: process.execPath, packageDir: pkg });
    assert.equal(code, 0, out.join(''));
    const text = fs.readFileSync(path.join(root, 'Library/LaunchDaemons/com.brokerwatch.agent.plist'), 'utf8');
    const plist = await loadPlist();
    const p = plist.parse(text) as Record<string, unknown>;
    assert.equal(p.Label, 'com.brokerwatch.agent');
    assert.deepEqual(p.ProgramArguments, [process.execPath, '/usr/local/lib/brokerwatch/bin/brokerwatch.js', 'run', '--config', '/etc/brokerwatch/config.yaml']);
    assert.equal(p.RunAtLoad, true);
    assert.deepEqual(p.KeepAlive, { SuccessfulExit: false });
    assert.equal(p.ThrottleInterval, 10);
    assert.equal(p.StandardOutPath, '/Library/Logs/brokerwatch/stdout.log');
    assert.equal(p.StandardErrorPath, '/Library/Logs/brokerwatch/stderr.log');
    assert.deepEqual(p.EnvironmentVariables, { BROKERWATCH_SERVICE: 'launchd' });
    assert.equal(p.Umask, 63);
    assert.ok(fs.existsSync(path.join(root, 'usr/local/lib/brokerwatch/bin/brokerwatch.js')));
    assert.equal(mode(path.join(root, 'Library/Logs/brokerwatch')), 0o750);
    assert.match(out.join(''), /not run \(--root\): \/bin\/launchctl bootstrap system \/Library\/LaunchDaemons\/com.brokerwatch.agent.plist/);
  });

  it('escapes XML in plist values', async () => {
    const plist = await loadPlist();
    const template = fs.readFileSync(path.join(REPO_ROOT, 'installers/macos/com.brokerwatch.agent.plist'), 'utf8');
    const odd = `/opt/a&b <c> "d" 'e'/node`;
    const text = fillTemplate(template, { PROGRAM: plistProgram([odd, '/m']), CONFIG_FILE: xmlText('/c'), LOG_DIR: xmlText('/l') });
    assert.deepEqual((plist.parse(text) as Record<string, unknown>).ProgramArguments, [odd, '/m', 'run', '--config', '/c']);
    assert.throws(() => xmlText('a\u0001b'), /control character/);
  });

  it('Windows: a dry run shows the config under %ProgramData% and the sc.exe commands (automatic start, LocalSystem, restart on failure, run --service)', async () => {
    let out = '';
    const code = await installCommand(['--dry-run'], { io: { stdout: (t) => { out += t; }, stderr: () => undefined }, platform: 'win32', packageDir: pkg, nodePath: 'C:\\Program Files\\brokerwatch\\node.exe' });
    assert.equal(code, 0);
    assert.match(out, /write C:\\ProgramData\\brokerwatch\\config\.yaml \(0640, only if missing: kept on upgrade\) - starter config/);
    assert.match(out, /\| stateDir: 'C:\\ProgramData\\brokerwatch\\state'/);
    const sc = JSON.stringify('C:\\Windows\\System32\\sc.exe');
    const binPath = JSON.stringify(`"C:\\Program Files\\brokerwatch\\node.exe" "${path.win32.join(pkg, 'bin', 'brokerwatch.js')}" run --service --config "C:\\ProgramData\\brokerwatch\\config.yaml"`);
    for (const line of [
      `would run: ${sc} create brokerwatch binPath= ${binPath} start= auto obj= LocalSystem`,
      `would run: ${sc} failure brokerwatch reset= 86400 actions= restart/5000/restart/30000/restart/60000`,
      `would run: ${sc} start brokerwatch`,
    ]) assert.ok(out.includes(line), `${line}\nin:\n${out}`);
  });

  it('a platform without an installer: one line naming the three there are', async () => {
    await assert.rejects(installCommand(['--dry-run'], { io: { stdout: () => undefined, stderr: () => undefined }, platform: 'freebsd', packageDir: pkg }), /install is not supported on freebsd: there is an installer for Linux \(systemd\), macOS \(launchd\) and Windows \(Service Control Manager\)/);
  });
});
