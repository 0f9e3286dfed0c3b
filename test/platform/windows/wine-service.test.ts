/**
 * The Windows service life cycle under Wine: `brokerwatch install` registers the service with sc.exe
 * and starts it; services.exe launches `run --service`, whose koffi dispatcher reports RUNNING;
 * `status` answers over the control pipe, whose descriptor another process reads back; a connection
 * a Windows process makes is reported; `sc stop` makes the agent flush its sinks and report STOPPED;
 * `uninstall --purge` removes the service and its folder. (Wine does not enforce pipe DACLs: that an
 * ordinary user is refused is for a real Windows host to show.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { useLab } from '../../helpers/lab';
import { ROOT, runWineNode, spawnWineNode, toWinPath, type WineEnv } from '../../helpers/wine';
import { useWine, waitForJsonFile } from './use-wine';

const labs = useLab([]);
const wines = useWine('prefix-service');
const CLI = path.join(ROOT, 'bin', 'brokerwatch.js');

/** sc.exe under Wine: its stdout, stderr and exit status (written to a file: a pipe gives EBADF). */
async function sc(w: WineEnv, args: string[]): Promise<string> {
  const script = `const r = require('child_process').spawnSync('C:\\\\windows\\\\system32\\\\sc.exe', ${JSON.stringify(args)}, { encoding: 'utf8' }); require('fs').writeFileSync(process.argv[1], (r.stdout ?? '') + (r.stderr ?? '') + 'exit status ' + r.status)`;
  const r = await runWineNode(w, ['-e', script, path.join(w.prefix, 'sc.out')]);
  assert.equal(r.code, 0, r.stderr);
  return fs.readFileSync(path.join(w.prefix, 'sc.out'), 'utf8');
}

async function waitForState(w: WineEnv, state: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = await sc(w, ['query', 'brokerwatch']);
    if (new RegExp(`STATE\\s*:\\s*\\d+\\s+${state}`).test(last)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`service not ${state} within ${ms / 1000} s: ${last}`);
}

test('Windows service under Wine: install, RUNNING, status over the pipe (descriptor read back), a connection reported, sc stop flushes the sinks, uninstall', async (t) => {
  const lab = labs.get(t);
  const w = wines.get(t);
  if (!lab || !w) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);

  const dataDir = path.join(w.prefix, 'drive_c', 'ProgramData', 'brokerwatch');
  const logFile = path.join(dataDir, 'logs', 'brokerwatch.log');
  // A run that died half-way leaves its registration and folder in the cached prefix.
  await sc(w, ['delete', 'brokerwatch']);
  fs.rmSync(dataDir, { recursive: true, force: true });

  // The service's working folder is C:\windows\system32: a drive-less path would land on C:.
  const events = path.join(lab.tmpDir, 'service-events.jsonl');
  const config = lab.writeFile('service.yaml', `${JSON.stringify({ sinks: [{ type: 'file', path: toWinPath(events) }], stateDir: 'C:\\ProgramData\\brokerwatch\\state', logging: { level: 'info', file: 'C:\\ProgramData\\brokerwatch\\logs\\brokerwatch.log' } })}\n`);
  const install = await runWineNode(w, [CLI, 'install', '--config', config]);
  assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
  assert.match(install.stdout, /run: .*sc\.exe" create brokerwatch binPath= .*run --service --config .* start= auto obj= LocalSystem/);
  assert.match(install.stdout, /brokerwatch is installed and running/);
  t.after(async () => { await sc(w, ['stop', 'brokerwatch']); await sc(w, ['delete', 'brokerwatch']); });

  await waitForState(w, 'RUNNING');
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  const deadline = Date.now() + 60_000;
  while (!/control pipe listening/.test(log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.match(log(), /Windows service: logging to C:\\ProgramData\\brokerwatch\\logs\\brokerwatch\.log/);
  assert.match(log(), /ETW capture unavailable .*falling back to iphlpapi polling/);

  const status = await runWineNode(w, [CLI, 'status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { pid: number; controlSocket: string; capture: { source: string } };
  assert.equal(s.controlSocket, '\\\\.\\pipe\\brokerwatch');
  assert.equal(s.capture.source, 'iphlpapi');

  const dacl = path.join(lab.tmpDir, 'dacl.json');
  const reader = await runWineNode(w, [path.join(__dirname, 'pipe-dacl.js'), '\\\\.\\pipe\\brokerwatch', dacl]);
  assert.equal(reader.code, 0, reader.stderr);
  const { sddl } = JSON.parse(fs.readFileSync(dacl, 'utf8')) as { sddl: string };
  assert.match(sddl, /^D:P\(A;;[A-Z0-9x]+;;;SY\)\(A;;[A-Z0-9x]+;;;BA\)$/, 'protected DACL: SYSTEM and Administrators only');

  // A connection while the service runs: it must be in the file sink once the stop has flushed it.
  const out = path.join(lab.tmpDir, 'client.json');
  const client = spawnWineNode(w, [path.join(__dirname, 'wine-client.js'), out, `${lab.external.ipv4}:5222:xmpp`]);
  t.after(() => client.child.kill('SIGKILL'));
  const info = await waitForJsonFile<{ pid: number }>(out);
  const seen = Date.now() + 30_000;
  for (;;) {
    const st = JSON.parse((await runWineNode(w, [CLI, 'status', '--json'])).stdout) as { counters: { findings: number } };
    if (st.counters.findings >= 1) break;
    assert.ok(Date.now() < seen, 'the service judged the new connection within 30 s');
  }

  await sc(w, ['stop', 'brokerwatch']);
  await waitForState(w, 'STOPPED');
  assert.match(log(), /service stop requested by the Service Control Manager: stopping - flushing sinks/);
  assert.match(log(), /stopped: \d+ events seen, [1-9]\d* findings/);
  const records = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { principal?: { process?: { pid?: string } }; target?: { port?: number } });
  assert.ok(records.some((r) => r.principal?.process?.pid === String(info.pid) && r.target?.port === 5222), `the client's record was flushed to ${events}`);

  const uninstall = await runWineNode(w, [CLI, 'uninstall', '--purge']);
  assert.equal(uninstall.code, 0, `${uninstall.stdout}\n${uninstall.stderr}`);
  const gone = await sc(w, ['query', 'brokerwatch']);
  assert.doesNotMatch(gone, /SERVICE_NAME: brokerwatch/, `the service is gone: ${gone}`);
  assert.match(gone, /exit status [1-9]\d*$/, `sc query fails for a service that does not exist: ${gone}`);
  assert.equal(fs.existsSync(dataDir), false, '--purge removed %ProgramData%\\brokerwatch');
});
