/**
 * The real `brokerwatch run` daemon driven through its control socket by the real CLI: status,
 * reload (good: a newly allowlisted broker stops producing findings; bad: refused, daemon keeps
 * running), stop (flush, exit 0), and the watchdog (a tiny RSS limit: exit 3 with a clear line,
 * then a restart that backs off). A live external connection comes from the namespace lab.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../helpers/cli';
import { type LabProcess, sleep, useLab, waitForEstablished } from '../helpers/lab';
import { needs, nobody } from '../control/needs';

const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');
const agentArgs = (config: string) => ['--import', 'tsx', ENTRY, 'run', '--config', config];

interface UdmRecord {
  metadata?: { product_event_type?: string };
  principal?: { process?: { pid?: string } };
}

/** The complete JSON lines of the events file so far (a line being written is left for later). */
function records(file: string): UdmRecord[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').slice(0, -1).map((l) => JSON.parse(l) as UdmRecord);
}

const kindOf = (r: UdmRecord) => (r.metadata?.product_event_type ?? '').split(':')[0];
const ofPid = (file: string, pid: number) => records(file).filter((r) => r.principal?.process?.pid === String(pid));

async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, detail: () => string = () => ''): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail() ? `\n${detail()}` : ''}`);
    await sleep(100);
  }
}

function agentConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    adapter: 'procfs',
    pollInterval: '200ms',
    sinks: [{ type: 'file', path: path.join(dir, 'events.jsonl') }],
    control: { socket: path.join(dir, 'ctl', 'bw.sock') },
    stateDir: path.join(dir, 'state'),
    // Generous limits: this test is about control, not about a busy CI machine's CPU.
    watchdog: { enabled: true, interval: '1s', maxCpuPercent: 400, cpuWindow: '1m', maxRssMb: 4000 },
    ...extra,
  };
}

const labs = useLab(['mosquitto', 'mosquitto_sub']);

describe('brokerwatch run with its control socket', () => {
  it('status, reload (good and bad) and stop through the CLI, against a live external broker connection', async (t) => {
    const lab = labs.get(t);
    if (!lab) return;
    t.after(() => lab.stopAll());
    const dir = lab.tmpDir;
    const events = path.join(dir, 'events.jsonl');
    const sock = path.join(dir, 'ctl', 'bw.sock');
    const configFile = lab.writeFile('agent.yaml', JSON.stringify(agentConfig(dir)));
    const broker = lab.external.ipv4;
    await lab.startMosquitto(lab.external, 1883);

    const agent: LabProcess = lab.spawnRoot(process.execPath, agentArgs(configFile), { cwd: REPO_ROOT });
    await agent.waitForOutput(/control socket listening on /, 30_000);

    // status --json: the daemon's own numbers.
    const st = await runCli(['status', '--json', '--socket', sock]);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout) as Record<string, unknown>;
    assert.equal(status.pid, agent.pid);
    assert.equal(status.version, JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version);
    assert.equal(typeof status.uptimeSeconds, 'number');
    assert.deepEqual(Object.keys(status.counters as object).sort(), ['beacons', 'correlations', 'eventsDropped', 'eventsIgnored', 'eventsJudged', 'eventsSeen', 'findings', 'queued', 'recordsSent', 'recordsSpooled', 'sinkErrors']);
    const capture = status.capture as Record<string, unknown>;
    assert.deepEqual(Object.keys(capture).sort(), ['eventsLost', 'fallbacks', 'lastError', 'pollErrors', 'source', 'warnings']);
    assert.deepEqual([capture.source, capture.fallbacks, capture.eventsLost, capture.pollErrors, capture.lastError], ['procfs', [], 0, 0, null]);
    assert.ok(Array.isArray(capture.warnings), 'warnings by code (a busy host has some: processes that exit mid-poll)');
    assert.equal(status.lastReload, null);
    assert.equal(fs.lstatSync(sock).mode & 0o777, 0o600);
    const human = await runCli(['status', '--socket', sock]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^brokerwatch \\S+ running \\(pid ${agent.pid}\\), up \\d+s\\ncapture:     procfs\\n  problems:  0 failed polls, 0 events lost\\n  warnings:  .+\\n`));
    assert.match(human.stdout, /\nlast reload: none since start\n/);

    // A live connection to an external broker by an unusual process: a finding.
    const sub1 = lab.spawnRoot('mosquitto_sub', ['-h', broker, '-p', '1883', '-t', 'c2/#']);
    await waitForEstablished(sub1, broker, 1883);
    await waitFor('a finding for the first mosquitto_sub', () => ofPid(events, sub1.pid).find((r) => kindOf(r) === 'pubsub_finding'), 20_000, () => agent.describe());

    // reload with a good config that allowlists the broker: the next connection is no finding. Its
    // sink change is applied: the new file sink opens, then the old one is flushed and closed.
    fs.writeFileSync(configFile, JSON.stringify(agentConfig(dir, { brokerAllowList: [broker], sinks: [{ type: 'file', path: events, fsync: true }] })));
    const good = await runCli(['reload', '--socket', sock]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^reloaded: configuration reloaded from .*; sinks applied: opened file:\S+events\.jsonl; flushed and closed file:\S+events\.jsonl\n$/);
    const sub2 = lab.spawnRoot('mosquitto_sub', ['-h', broker, '-p', '1883', '-t', 'c2/#']);
    await waitForEstablished(sub2, broker, 1883);
    const toBroker = () => records(events).filter((r) => JSON.stringify(r).includes(broker)).map((r) => `${kindOf(r)} pid=${r.principal?.process?.pid}`).join(', ');
    const seen = await waitFor('a record for the second mosquitto_sub', () => ofPid(events, sub2.pid)[0], 20_000, () => `records to ${broker}: ${toBroker()}; sub1 ${sub1.pid}, sub2 ${sub2.pid}\n${agent.describe()}`);
    assert.equal(kindOf(seen), 'pubsub_connection');
    assert.deepEqual(ofPid(events, sub2.pid).filter((r) => kindOf(r) === 'pubsub_finding'), [], 'an allowlisted broker raises no finding');

    // reload with a capture that cannot start: refused, the running capture goes on, status says why.
    fs.writeFileSync(configFile, JSON.stringify(agentConfig(dir, { brokerAllowList: [broker], procRoot: path.join(dir, 'no-proc') })));
    const blind = await runCli(['reload', '--socket', sock]);
    assert.equal(blind.code, 2);
    assert.match(blind.stderr, /the new capture could not start \(procfs adapter unavailable: no procfs at .*no-proc .*\); the previous capture \(procfs\) keeps running/);
    const sub3 = lab.spawnRoot('mosquitto_sub', ['-h', broker, '-p', '1883', '-t', 'c2/#']);
    await waitForEstablished(sub3, broker, 1883);
    await waitFor('the third mosquitto_sub still captured', () => ofPid(events, sub3.pid)[0], 20_000, () => agent.describe());
    const refused = JSON.parse((await runCli(['status', '--json', '--socket', sock])).stdout) as { capture: { source: string }; lastError: string; lastReload: { ok: boolean; message: string } };
    assert.equal(refused.capture.source, 'procfs');
    assert.match(refused.lastError, /^reload: the new capture could not start: procfs adapter unavailable: no procfs at /);
    assert.equal(refused.lastReload.ok, false);
    assert.match(refused.lastReload.message, /^reload refused, the previous configuration stays in force: the new capture could not start/);

    // reload with a bad config: refused, exit 2, the daemon keeps running with the old one.
    fs.writeFileSync(configFile, 'mode: sometimes\n');
    const bad = await runCli(['reload', '--socket', sock]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /reload refused, the daemon keeps its previous configuration:\n  .*agent\.yaml: mode: /);
    assert.equal(agent.running, true);
    const after = JSON.parse((await runCli(['status', '--json', '--socket', sock])).stdout) as { pid: number; counters: { eventsSeen: number; findings: number; recordsSent: number } };
    assert.equal(after.pid, agent.pid);
    assert.ok(after.counters.eventsSeen >= 2 && after.counters.findings >= 1 && after.counters.recordsSent >= 2, JSON.stringify(after.counters));

    // Someone who is not root cannot ask.
    const who = nobody();
    if (who) {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'status', '--socket', sock], { uid: who.uid, gid: who.gid, cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/' }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => { stderr += d; });
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.deepEqual(r, { code: 2, stderr: `brokerwatch: permission denied on ${sock} (run as root)\n` });
    }

    // stop: flushes, exits 0, removes its socket; the client waits for that.
    const before = records(events).length;
    const stop = await runCli(['stop', '--socket', sock]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `stopped brokerwatch (pid ${agent.pid}): sinks flushed\n`);
    assert.deepEqual(await agent.exited, { code: 0, signal: null });
    assert.match(agent.output(), /stopped: \d+ events seen, \d+ findings, \d+ records sent, 0 dropped/);
    assert.equal(fs.existsSync(sock), false);
    assert.ok(fs.readFileSync(events, 'utf8').endsWith('\n') && records(events).length >= before, 'the events file ends with a whole line');
    const gone = await runCli(['status', '--socket', sock]);
    assert.deepEqual({ code: gone.code, stderr: gone.stderr }, { code: 2, stderr: `brokerwatch: no daemon listening on ${sock}\n` });
  });
});

describe('the watchdog in the real daemon', () => {
  it('exits 3 with one clear line over a tiny RSS limit; the next start backs off (and SIGTERM ends the wait)', async (t) => {
    if (!needs(t, [process.platform === 'linux' ? null : 'procfs capture needs Linux'])) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-wdog-'));
    const children: number[] = [];
    t.after(() => {
      for (const pid of children) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const start = (config: Record<string, unknown>) => {
      const file = path.join(dir, `c${children.length}.yaml`);
      fs.writeFileSync(file, JSON.stringify(config));
      const child = spawn(process.execPath, agentArgs(file), { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child.pid as number);
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      return { child, exited, stderr: () => stderr };
    };

    const tiny = start(agentConfig(dir, { watchdog: { enabled: true, interval: '200ms', maxCpuPercent: 400, cpuWindow: '1m', maxRssMb: 1 } }));
    const status = await Promise.race([tiny.exited, sleep(30_000).then(() => null)]);
    assert.deepEqual(status, { code: 3, signal: null }, tiny.stderr());
    assert.match(tiny.stderr(), /error watchdog: resident memory \d+\.\d MB is over watchdog.maxRssMb 1 MB; exiting with code 3 so the service manager restarts brokerwatch\n/);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state', 'watchdog-exits.json'), 'utf8')) as { exits: number[]; last: { reason: string } };
    assert.equal(state.exits.length, 1);
    assert.equal(state.last.reason, 'rss');

    const again = start(agentConfig(dir));
    await waitFor('the backoff line', () => /watchdog: 1 watchdog exit in the last 60 min \(.*\); waiting 5 s before starting \(restart backoff\)/.test(again.stderr()), 30_000, () => again.stderr());
    const signalled = Date.now();
    process.kill(again.child.pid as number, 'SIGTERM');
    assert.deepEqual(await again.exited, { code: 0, signal: null });
    assert.ok(Date.now() - signalled < 3000, 'SIGTERM ends the wait at once');
  });
});
