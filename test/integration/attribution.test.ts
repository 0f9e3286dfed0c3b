/**
 * Who takes the blame, end to end with the real daemon and bpftrace: a program that connects and
 * at once execs something harmless is still reported as itself (identity taken at the connect),
 * and a command line longer than the old 192-byte capture still shows its MQTT topic.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli';
import { type Lab, type LabProcess, realPython3, useLab } from '../helpers/lab';
import { readJsonLines, until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 20000): Promise<T> => waitUntil(what, fn, timeoutMs, 100);

const labs = useLab(['bpftrace', 'python3', 'mosquitto']);
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');

interface UdmLine {
  principal?: { process?: { pid?: string; command_line?: string; file?: { full_path?: string } } };
  security_result?: { rule_id?: string; severity?: string; detection_fields?: { key: string; value: string }[] }[];
}

const ruleIds = (e: UdmLine) => (e.security_result ?? []).flatMap((s) => [s.rule_id, ...(s.detection_fields ?? []).filter((f) => f.key === 'rule_id').map((f) => f.value)]);

const readEvents = (file: string): UdmLine[] => readJsonLines<UdmLine>(file);

async function startDaemon(lab: Lab, name: string): Promise<{ d: LabProcess; events: string }> {
  const events = path.join(lab.tmpDir, `${name}-events.jsonl`);
  const config = lab.writeFile(`${name}.yaml`, [
    'adapter: ebpf',
    `control: { socket: ${JSON.stringify(path.join(lab.tmpDir, `${name}-ctl`, 'bw.sock'))} }`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
  ].join('\n'));
  const d = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
  await d.waitForOutput(/capturing with eBPF/, 60_000);
  return { d, events };
}

async function stopDaemon(d: LabProcess): Promise<void> {
  process.kill(d.pid, 'SIGTERM');
  const status = await d.exited;
  assert.equal(status.code, 0, `the daemon exits 0 on SIGTERM: ${d.describe()}`);
}

/**
 * A python program under another name, started BEFORE the daemon (so no exec of it was ever seen)
 * and waiting for "go" on stdin; then it starts a non-blocking connect and at once `then`s.
 */
async function armed(lab: Lab, exe: string, args: string[], host: string, port: number, then: string): Promise<LabProcess> {
  const script = [
    'import os,socket as S;print("ready",flush=1);input();s=S.socket();s.setblocking(0)',
    `try:s.connect((${JSON.stringify(host)},${port}))`,
    'except OSError:0',
    then,
  ].join('\n');
  const p = lab.spawnRoot(exe, ['-c', script, ...args]);
  await p.waitForOutput(/ready/);
  return p;
}

function pythonCopy(lab: Lab, python: string, name: string): string {
  const file = path.join(lab.tmpDir, name); // lab.tmpDir is a root-owned mkdtemp folder under /tmp
  fs.copyFileSync(python, file);
  fs.chmodSync(file, 0o755);
  return file;
}

test('a program that connects and at once execs /usr/bin/sleep is reported as itself: CRITICAL with AN0003', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);
  const evil = pythonCopy(lab, await realPython3(), 'evil-c2');
  const runs: LabProcess[] = [];
  for (let i = 0; i < 3; i++) runs.push(await armed(lab, evil, [], lab.external.ipv4, 5222, 'os.execv("/usr/bin/sleep", ["sleep", "1"])'));
  const { d, events } = await startDaemon(lab, 'exec-after-connect');
  for (const r of runs) r.child.stdin?.write('go\n');
  for (const r of runs) assert.equal((await r.exited).code, 0, `sleep ran: ${r.describe()}`);
  const findings = await until('a finding for each run', () => {
    const mine = readEvents(events).filter((e) => runs.some((r) => String(r.pid) === e.principal?.process?.pid) && (e.security_result?.length ?? 0) > 0);
    return mine.length >= runs.length && mine;
  });
  await stopDaemon(d);
  for (const f of findings) {
    assert.equal(f.principal?.process?.file?.full_path, evil, 'the program that connected, not sleep');
    assert.match(f.principal?.process?.command_line ?? '', /^\S*evil-c2 -c import os,socket/, 'its own command line, not "sleep 1"');
    assert.equal(f.security_result?.[0]?.severity, 'CRITICAL');
    assert.ok(ruleIds(f).includes('AN0003'), `AN0003 in ${JSON.stringify(ruleIds(f))}`);
  }
});

test('a command line longer than 192 bytes with c2/beacon late in it still triggers TOPIC-ANOMALY, also when the process is gone', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startMosquitto(lab.external, 1883);
  // Named mosquitto_pub (the topic reader takes its argv: -t c2/beacon), exits right after the connect.
  const pub = pythonCopy(lab, await realPython3(), 'mosquitto_pub');
  const args = ['-u', `telemetry-${'x'.repeat(120)}`, '-t', 'c2/beacon', '-m', 'hello'];
  const p = await armed(lab, pub, args, lab.external.ipv4, 1883, 'os._exit(0)');
  const { d, events } = await startDaemon(lab, 'long-cmdline');
  p.child.stdin?.write('go\n');
  await p.exited;
  const finding = await until('the finding', () => readEvents(events).find((e) => e.principal?.process?.pid === String(p.pid) && (e.security_result?.length ?? 0) > 0));
  await stopDaemon(d);
  const cmdline = finding.principal?.process?.command_line ?? '';
  assert.ok(Buffer.byteLength(cmdline) > 192, cmdline);
  assert.ok(cmdline.endsWith('-t c2/beacon -m hello'), cmdline);
  assert.ok(ruleIds(finding).includes('TOPIC-ANOMALY'), `TOPIC-ANOMALY in ${JSON.stringify(ruleIds(finding))}`);
});
