/**
 * `brokerwatch run` under Wine: ETW is stubbed there (StartTraceW "succeeds", OpenTraceW fails), so
 * the daemon must say so in one line and poll iphlpapi instead - and still report a connection a
 * Windows process opens after the start. status and stop travel over the control named pipe.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { useLab } from '../../helpers/lab';
import { ROOT, runWineNode, spawnWineNode } from '../../helpers/wine';
import { useWine, waitForJsonFile } from './use-wine';

const labs = useLab([]);
const wines = useWine('prefix-daemon');
const CLI = path.join(ROOT, 'bin', 'brokerwatch.js');

async function waitFor<T>(what: string, probe: () => T | undefined, ms: number, context: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s; ${context()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const readLines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

test('daemon under Wine: one line says ETW is unavailable and polling takes over; a new connection from a Windows process is reported; status, reload and stop over the pipe', async (t) => {
  const lab = labs.get(t);
  const w = wines.get(t);
  if (!lab || !w) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);

  const pipe = `\\\\.\\pipe\\bw-test-${crypto.randomBytes(4).toString('hex')}`;
  const events = path.join(lab.tmpDir, 'events.jsonl');
  fs.mkdirSync(path.join(lab.tmpDir, 'state'));
  const config = lab.writeFile('daemon.yaml', `${JSON.stringify({ control: { socket: pipe }, stateDir: path.join(lab.tmpDir, 'state'), sinks: [{ type: 'file', path: events }] })}\n`);
  const daemon = spawnWineNode(w, [CLI, 'run', '--config', config]);
  t.after(() => daemon.child.kill('SIGKILL'));
  const log = () => fs.readFileSync(daemon.stderrFile, 'utf8');

  await waitFor('the control pipe', () => (/control pipe listening/.test(log()) ? true : undefined), 90_000, log);
  const etwLines = log().split('\n').filter((l) => /ETW/.test(l));
  assert.equal(etwLines.length, 1, `one line about ETW:\n${log()}`);
  assert.match(etwLines[0] as string, /warn ETW capture unavailable \((?:etw adapter unavailable: )?OpenTraceW\(brokerwatch-kernel-network\) failed with error \d+.*\); falling back to iphlpapi polling every 1s/);
  assert.match(log(), /control pipe listening on \\\\\.\\pipe\\bw-test-[0-9a-f]+ \(DACL D:P\(A;;[A-Z]+;;;SY\)\(A;;[A-Z]+;;;BA\)\)/, 'the descriptor read back from the OS');

  // A connection opened after the daemon started.
  const out = path.join(lab.tmpDir, 'client.json');
  const client = spawnWineNode(w, [path.join(__dirname, 'wine-client.js'), out, `${lab.external.ipv4}:5222:xmpp`]);
  t.after(() => client.child.kill('SIGKILL'));
  const info = await waitForJsonFile<{ pid: number; execPath: string }>(out);
  const record = await waitFor('the client\'s finding in the file sink', () => readLines(events).map((l) => JSON.parse(l) as Record<string, any>)
    .find((r) => r.principal?.process?.pid === String(info.pid) && r.target?.port === 5222), 30_000, () => `events:\n${readLines(events).join('\n')}\nlog:\n${log()}`);
  assert.equal(record.target.ip[0], lab.external.ipv4);
  assert.equal(record.principal.process.file.full_path.toLowerCase(), info.execPath.toLowerCase());

  const status = await runWineNode(w, [CLI, 'status', '--json', '--socket', pipe]);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { capture: { source: string; fallbacks: string[] }; counters: { findings: number }; controlSocket: string };
  assert.equal(s.capture.source, 'iphlpapi');
  assert.match(s.capture.fallbacks.join(' '), /^etw: (?:etw adapter unavailable: )?OpenTraceW/);
  assert.ok(s.counters.findings >= 1);
  assert.equal(s.controlSocket, pipe);

  const reload = await runWineNode(w, [CLI, 'reload', '--socket', pipe]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^reloaded: configuration reloaded from /);
  await waitFor('the reload in the log', () => (/info configuration reloaded from /.test(log()) ? true : undefined), 10_000, log);

  const stop = await runWineNode(w, [CLI, 'stop', '--socket', pipe]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /stopped brokerwatch \(pid \d+\): sinks flushed/);
  assert.equal(await daemon.exited, 0, log());
  assert.match(log(), /stop requested on the control socket: stopping - flushing sinks/);
});
